/**
 * A deadline on frames that have begun to arrive. A long-lived stream (a channel, a session) may
 * sit idle between frames for as long as its peer likes, but a frame whose first bytes arrived
 * pins a buffer that grows towards the frame's announced length: a peer that starts frames and
 * never finishes them (slow loris) would hold that memory for the stream's life. The clock cuts
 * such a stream once the reader has waited `timeoutMs` in all for the rest of one frame.
 *
 * Only the reader's waiting counts: time this side spends handling a frame, or paused because
 * its own replies are not drained, is not the peer's doing. Every whole frame starts the budget
 * again, so a peer sending whole frames slowly is merely slow.
 */
import { encodingLength } from 'uint8-varint';

/** The clock and timer a FrameClock runs on: the process's own unless a test brings a fake. */
export interface FrameTimers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
  /** Runs `fn` once input already waiting has been delivered (I/O polled, then one more timer turn). */
  afterPendingInput(fn: () => void): void;
}

const PROCESS_TIMERS: FrameTimers = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
  // setImmediate runs after the poll phase has read the sockets; libp2p hands what it read to the
  // stream from a zero-delay timer, which the next timer turn runs before this one.
  afterPendingInput: (fn) => {
    setImmediate(() => setTimeout(fn, 0));
  },
};

export class FrameClock {
  private received = 0;
  private consumed = 0;
  private waitedMs = 0;

  /** `onLate` runs once when a frame overruns its budget; it should abort the stream. */
  constructor(
    private readonly timeoutMs: number,
    private readonly onLate: () => void,
    private readonly timers: FrameTimers = PROCESS_TIMERS,
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`frame timeout must be positive, got ${timeoutMs}`);
  }

  /**
   * `source` with the clock running while a frame is partly read. Frames must be decoded from
   * this (length-prefixed, unsigned varint lengths) and each one passed to `frameDone` before
   * the decoder is asked for the next.
   */
  async *watch<T extends { readonly byteLength: number }>(source: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
    const timers = this.timers;
    let timer: unknown;
    let waitStart = 0;
    /** The wait now running, if any: an overdue check acts only if its wait is still this one. */
    let wait: object | undefined;
    const stopWaiting = () => {
      wait = undefined;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
    };
    try {
      for await (const chunk of source) {
        if (wait !== undefined) {
          stopWaiting();
          this.waitedMs += timers.now() - waitStart;
        }
        this.received += chunk.byteLength;
        yield chunk;
        // The decoder asks for more only once it has handed out every whole frame it holds, so
        // what is left over is the start of a frame still on its way.
        if (this.received > this.consumed) {
          const thisWait = {};
          wait = thisWait;
          waitStart = timers.now();
          // A timer overdue because this side's event loop was busy fires before the socket is
          // read, though the rest of the frame may be waiting there: look again after that read,
          // so this side's own stall is not blamed on the peer.
          const expire = () => timers.afterPendingInput(() => wait === thisWait && this.onLate());
          timer = timers.set(expire, Math.max(0, this.timeoutMs - this.waitedMs));
        }
      }
    } finally {
      stopWaiting();
    }
  }

  /** A whole frame of `dataLength` bytes (its length prefix not included) was read. */
  frameDone(dataLength: number): void {
    this.consumed += encodingLength(dataLength) + dataLength;
    this.waitedMs = 0;
  }

  /** Bytes read that belong to no whole frame yet. */
  get partialBytes(): number {
    return this.received - this.consumed;
  }
}
