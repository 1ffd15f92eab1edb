import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/** The fields of a yamux stream the receive-window rule reads (private in the typings). */
interface ReceiveWindow {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
}

/** When a yamux stream grants receive credit back to its sender. */
export type YamuxWindowUpdates = 'half-window' | 'every-frame';

/**
 * The rule lives on the class it changes, under a process-wide symbol: a second copy of this
 * module (two installs of vsmr in one process) then shares one switch instead of being ignored.
 */
const RULE = Symbol.for('vsmr.yamux.windowUpdates');
type Patched = YamuxStream & { [RULE]?: YamuxWindowUpdates };

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
 * replies are, that doubled the frames on the wire: two hosts exchanging 250-byte frames spent
 * 92-135 us of CPU per frame with the library's rule and 54-87 us with this one
 * (`npm run bench:yamux-window`). The yamux spec leaves the timing of updates to the receiver;
 * go-yamux and rust-yamux send one once half of the window has been consumed, which is what this
 * does.
 *
 * No sender waits for credit that is not already on its way: the library calls this after every
 * data frame it receives, so once the data in flight has landed and left half the window or less,
 * the update goes out. The window's growth (doubling when data arrives within four round trips)
 * happens only when an update is sent, as in go-yamux, so a long transfer over a slow link grows
 * its window in fewer, larger steps; only loopback has been measured.
 *
 * Scope: streams in the Established state (open, or half-closed) follow this rule. Opening
 * streams (SYN/ACK flags), paused and finished ones take the library's own path, and so does any
 * stream that lacks the fields this rule reads: a release that renames them gets the library's
 * behaviour, not a broken one. The rule is process-wide, like the class: createNetworkHost sets
 * it (`half-window` unless its options say `every-frame`, the library's own rule, which the
 * benchmark compares with). Remove this when the library adopts the half-window rule.
 */
export function setYamuxWindowUpdates(next: YamuxWindowUpdates): void {
  const proto = YamuxStream.prototype as Patched;
  const installed = proto[RULE] !== undefined;
  proto[RULE] = next;
  if (installed) return;
  const stock = proto.sendWindowUpdate;
  proto.sendWindowUpdate = function sendWindowUpdate(this: unknown): void {
    if (
      (this as Patched)[RULE] === 'half-window' &&
      isReceiveWindow(this) &&
      this.state === StreamState.Established &&
      this.recvWindowCapacity * 2 > this.recvWindow
    ) {
      return;
    }
    stock.call(this as YamuxStream);
  };
}
