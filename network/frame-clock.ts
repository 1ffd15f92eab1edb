/**
 * A deadline on frames that have begun to arrive. A long-lived stream (a channel, a session) may
 * sit idle between frames for as long as its peer likes, but a frame whose length has arrived
 * pins a buffer that grows towards that length: a peer that starts frames and never finishes
 * them (slow loris) would hold that memory for the stream's life. The clock cuts such a stream
 * once one frame has taken longer than `timeoutMs` from its length to its last byte.
 *
 * It rides on the length-prefixed decoder's own callbacks (`decodeOptions`): the decoder reads
 * a frame's length only when its reader asks for the next frame, and hands the frame out only
 * once it is whole, so between the two the reader is waiting for the peer's bytes. Time this
 * side spends handling a frame, or paused because its own replies are not drained, falls
 * between frames and is not counted. No wrapper around the stream and no timer per frame: one
 * timer per stream, armed when a frame begins while none is, re-armed while frames keep coming.
 */

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
  /** When the frame being read began (its length arrived); undefined between frames. */
  private startedAt: number | undefined;
  /** Frames begun so far: a late check acts only on the frame it was armed for. */
  private begun = 0;
  private timer: unknown;
  private stopped = false;

  /** For the length-prefixed decoder (it-length-prefixed `decode` options). */
  readonly decodeOptions: { readonly onLength: () => void; readonly onData: () => void } = {
    onLength: () => this.begin(),
    onData: () => {
      this.startedAt = undefined;
    },
  };

  /** `onLate` runs once when a frame overruns its budget; it should abort the stream. */
  constructor(
    private readonly timeoutMs: number,
    private readonly onLate: () => void,
    private readonly timers: FrameTimers = PROCESS_TIMERS,
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`frame timeout must be positive, got ${timeoutMs}`);
  }

  /** Whether a frame has begun and not yet arrived whole. */
  get inFrame(): boolean {
    return this.startedAt !== undefined;
  }

  /** Ends the clock with its stream: no timer is left behind. */
  stop(): void {
    this.stopped = true;
    this.startedAt = undefined;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }

  private begin(): void {
    if (this.stopped) return;
    this.startedAt = this.timers.now();
    this.begun++;
    if (this.timer === undefined) this.arm(this.timeoutMs);
  }

  private arm(ms: number): void {
    this.timer = this.timers.set(() => this.check(), ms);
  }

  private check(): void {
    this.timer = undefined;
    const started = this.startedAt;
    // Between frames: nothing to watch until the next one begins.
    if (started === undefined || this.stopped) return;
    const left = started + this.timeoutMs - this.timers.now();
    if (left > 0) {
      this.arm(left);
      return;
    }
    // A timer overdue because this side's event loop was busy fires before the socket is read,
    // though the rest of the frame may be waiting there: look again after that read, so that
    // this side's own stall is not blamed on the peer.
    const frame = this.begun;
    // A frame that began meanwhile armed the timer for itself (begin(): none was armed).
    this.timers.afterPendingInput(() => {
      if (!this.stopped && this.startedAt !== undefined && this.begun === frame) this.onLate();
    });
  }
}
