import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/** The fields of a yamux stream the receive-window rule reads (private in the typings). */
interface ReceiveWindow {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
}

/** When a yamux stream grants receive credit back to its sender. */
export type YamuxWindowUpdates = 'half-window' | 'every-frame';

const INSTALLED = Symbol.for('vsmr.yamux.windowUpdates');
/** Process-wide, as the class it changes: vsmr never runs hosts with different rules side by side. */
let rule: YamuxWindowUpdates = 'every-frame';

function isReceiveWindow(s: unknown): s is ReceiveWindow {
  const w = s as Partial<ReceiveWindow>;
  return typeof w.state === 'number' && typeof w.recvWindow === 'number' && typeof w.recvWindowCapacity === 'number';
}

/**
 * Makes yamux streams grant receive credit once half of their window is used up, instead of
 * after every data frame.
 *
 * @chainsafe/libp2p-yamux 8 answers each data frame it receives with a WindowUpdate frame: its
 * `sendWindowUpdate` returns early only when nothing at all was consumed. Every update is a yamux
 * frame, a noise message and a socket write on the receiving side, and a read, a decryption and
 * a dispatch on the sending side. For the small frames that votes, relayed requests and client
 * replies are, that doubled the messages on the wire: two hosts exchanging 250-byte frames spent
 * 122 us of CPU per frame with the stock rule and 58-81 us with this one
 * (`node dist/bench/yamux-window.js`). The yamux spec leaves the timing of updates to the
 * receiver; go-yamux and rust-yamux send one once half of the window has been consumed, which is
 * what this does. A sender never runs dry: it always holds at least half a window of credit, and
 * the update that restores the full window leaves as soon as it drops below that.
 *
 * Scope and safety: only established streams are affected; opening (SYN/ACK flags), paused and
 * closing streams take the library's own path, and so does any stream that lacks the fields this
 * rule reads (a future release that renames them gets the stock behaviour, not a broken one).
 * The rule is process-wide, like the class: createNetworkHost sets it (`half-window` unless its
 * options say `every-frame`, the library's own rule, which the benchmark of this compares with).
 * Remove this when the library adopts the half-window rule.
 */
export function setYamuxWindowUpdates(next: YamuxWindowUpdates): void {
  rule = next;
  const proto = YamuxStream.prototype as YamuxStream & { [INSTALLED]?: true };
  if (proto[INSTALLED]) return;
  const stock = proto.sendWindowUpdate;
  proto.sendWindowUpdate = function sendWindowUpdate(this: unknown): void {
    if (rule === 'half-window' && isReceiveWindow(this) && this.state === StreamState.Established && this.recvWindowCapacity * 2 > this.recvWindow) return;
    stock.call(this as YamuxStream);
  };
  proto[INSTALLED] = true;
}
