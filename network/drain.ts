/**
 * Waiting for libp2p streams to drain: the shared wait every writer uses (DrainWaits), and the
 * watch that ends a session whose peer stops taking what it is sent (SendProgressWatch).
 */
import type { Stream } from '@libp2p/interface';

/** The part of a libp2p stream a drain wait reads: its flag and its events. */
export type DrainableStream = Pick<Stream, 'writableNeedsDrain' | 'addEventListener' | 'removeEventListener'>;

/**
 * Waits for streams to drain, one shared wait per stream however many writers are behind it.
 * Not stream.onDrain(): in @libp2p/utils 7 that keeps the promise of its first wait, so every
 * later wait returned at once and a slow peer's unsent frames piled up without limit. Shared,
 * because a thousand writers each listening on the stream would cost a thousand listeners added
 * and removed per drain.
 *
 * A 'drain' is only a cue to look. The muxer wakes every stream of a connection when its socket
 * drains, including one still waiting for its peer's window credit; the stream then clears its
 * flag and, a microtask later, tries to send and sets it again. So the wait looks once the
 * stream has had that turn, and goes on waiting while the flag is still set: resolving on the
 * event let every writer behind a peer that does not read go on as soon as the socket (busy with
 * other streams' bytes) drained.
 */
export class DrainWaits {
  readonly #waits = new WeakMap<DrainableStream, Promise<void>>();

  /** Resolves when `stream` no longer needs to drain; rejects when it closes first or `signal` fires. */
  wait(stream: DrainableStream, signal: AbortSignal): Promise<void> {
    if (!stream.writableNeedsDrain) return Promise.resolve();
    if (signal.aborted) return Promise.reject(new Error('stream did not drain in time'));
    let shared = this.#waits.get(stream);
    if (shared === undefined) {
      shared = new Promise<void>((resolve, reject) => {
        let settled = false;
        const done = (err?: Error) => {
          if (settled) return;
          settled = true;
          stream.removeEventListener('drain', onDrain);
          stream.removeEventListener('close', onClose);
          this.#waits.delete(stream);
          if (err) reject(err);
          else resolve();
        };
        // Queued after the stream's own retry of its queue: in @libp2p/utils 7 its listener is
        // added in the constructor, so it ran first and queued the retry one microtask deep. A
        // release that retried later would release writers early (the old behaviour), not hang them.
        const onDrain = () => queueMicrotask(() => {
          if (!stream.writableNeedsDrain) done();
        });
        const onClose = () => done(new Error('stream closed before it drained'));
        stream.addEventListener('drain', onDrain);
        stream.addEventListener('close', onClose);
      });
      // Nobody may be left to hear a rejection: their signals fired first.
      shared.catch(() => undefined);
      this.#waits.set(stream, shared);
    }
    return untilAborted(shared, signal, 'stream did not drain in time');
  }
}

/** `promise`, or a rejection (`why`) as soon as `signal` fires; the promise itself goes on. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, why = 'deadline passed'): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error(why));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(why));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** The part of a libp2p stream a send-progress watch reads: its drain flag and its unsent bytes. */
export type WatchedStream = Pick<Stream, 'writableNeedsDrain' | 'writeBufferLength'>;

/**
 * Calls `onStall` when a stream stays backed up for `timeoutMs` without any of the bytes handed
 * to it leaving. Armed by a send that backs up; from then on it looks once per `timeoutMs`: a
 * stream that no longer needs to drain disarms it, one whose bytes moved gets another
 * `timeoutMs`, and one whose bytes did not is stalled. So a stall is called between one and two
 * timeouts after the last byte left, and the watch holds one timer, whatever the traffic.
 *
 * Progress is the bytes handed to the stream minus the bytes it still holds, so it counts what
 * left even while newer replies queue behind it (the unsent length alone can stay level or grow
 * on a reader that is keeping up). A 'drain' is no proof of progress: the muxer wakes every
 * stream of a connection when its socket drains, so the watch does not listen for them.
 */
export class SendProgressWatch {
  #handed = 0;
  #timer: NodeJS.Timeout | undefined;
  #leftAtLastLook = 0;
  #stopped = false;

  constructor(
    private readonly stream: WatchedStream,
    private readonly timeoutMs: number,
    private readonly onStall: () => void,
  ) {}

  /** Counts `bytes` handed to the stream; `accepted` is what its send() returned. */
  sent(bytes: number, accepted: boolean): void {
    this.#handed += bytes;
    if (accepted || this.#timer !== undefined || this.#stopped) return;
    this.#leftAtLastLook = this.#left();
    this.#arm();
  }

  /** No more calls to onStall (the session ended). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Bytes handed over that have left the stream. */
  #left(): number {
    return this.#handed - this.stream.writeBufferLength;
  }

  #arm(): void {
    this.#timer = setTimeout(() => this.#look(), this.timeoutMs);
    // A session's stream keeps the process alive if anything should; its watch need not.
    this.#timer.unref();
  }

  #look(): void {
    this.#timer = undefined;
    if (this.#stopped || !this.stream.writableNeedsDrain) return;
    const left = this.#left();
    if (left > this.#leftAtLastLook) {
      this.#leftAtLastLook = left;
      this.#arm();
      return;
    }
    this.onStall();
  }
}
