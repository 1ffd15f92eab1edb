/**
 * A client's session with one validator (`submit-session`, protocol/submit-session.ts): one
 * stream, any number of requests in flight on it, each answered as soon as it settles. Requests
 * go one per frame, so every call has its own tag and its own reply. A session the validator
 * ended (or that failed) is opened again by the next call; the calls waiting on it fail at once
 * rather than wait out their timeout.
 */
import type { NetworkHost, Session } from '../network/host.js';
import { encodeRequestBatch } from '../protocol/request-batch.js';
import { decodeSessionReplies, encodeSessionRequests } from '../protocol/submit-session.js';
import type { SubmitReply } from '../protocol/submit-reply.js';

/** The session ended, or no reply came in time: the request may still commit. */
export class SubmitSessionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubmitSessionError';
  }
}

interface Waiter {
  readonly resolve: (reply: SubmitReply) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class SubmitSession {
  readonly #host: NetworkHost;
  readonly #peerId: string;
  #session: Promise<Session> | undefined;
  #nextTag = 0;
  readonly #waiting = new Map<number, Waiter>();
  #closed = false;

  constructor(host: NetworkHost, peerId: string) {
    this.#host = host;
    this.#peerId = peerId;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#waiting.size;
  }

  /**
   * Sends one signed request and resolves with the validator's reply to it. `timeoutMs` counts
   * from the moment the request leaves; opening a session first waits up to the host's stream
   * timeout.
   */
  async submit(request: Uint8Array, timeoutMs: number): Promise<SubmitReply> {
    if (this.#closed) throw new SubmitSessionError('session client closed');
    const session = await this.#open();
    const tag = this.#nextTag;
    this.#nextTag = (this.#nextTag + 1) >>> 0;
    return new Promise<SubmitReply>((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(tag, new SubmitSessionError(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.set(tag, { resolve, reject, timer });
      if (!session.send(encodeSessionRequests(tag, encodeRequestBatch([request])))) this.#settle(tag, new SubmitSessionError('session closed before the request left'));
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    this.#failAll('session client closed');
    await (await session?.catch(() => undefined))?.close();
  }

  /** Opening waits the host's stream timeout, not a call's (which may have little time left). */
  #open(): Promise<Session> {
    if (this.#session !== undefined) return this.#session;
    // Frames are read only for the session they came on: a stale one cannot touch its successor.
    const opening: Promise<Session> = this.#host.openSession(this.#peerId, 'submit-session', (bytes) => {
      if (this.#session === opening) this.#onFrame(bytes, opening);
    }).then(
      (session) => {
        session.onClose(() => {
          if (this.#session === opening) this.#session = undefined;
          this.#failAll('the session ended');
        });
        return session;
      },
      (err: unknown) => {
        throw new SubmitSessionError(`could not open a session: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.#session = opening;
    opening.catch(() => {
      if (this.#session === opening) this.#session = undefined;
    });
    return opening;
  }

  #onFrame(bytes: Uint8Array, from: Promise<Session>): void {
    let r: ReturnType<typeof decodeSessionReplies>;
    try {
      r = decodeSessionReplies(bytes);
    } catch {
      this.#drop(from, 'the validator sent a reply that does not decode');
      return;
    }
    // Each tag carries one request, at index 0: a reply about any other is not about it.
    if (r.indices.length > 1 || (r.indices.length === 1 && r.indices[0] !== 0)) {
      this.#drop(from, `the validator answered indices ${r.indices.join(',')} of a one-request frame`);
      return;
    }
    const reply: SubmitReply = r.indices.length === 0 ? { status: 'rejected', reason: 'refused' } : r.replies[0]!;
    this.#settle(r.tag, reply);
  }

  /** A reply this client cannot place: nothing more on this session can be trusted. */
  #drop(from: Promise<Session>, why: string): void {
    this.#session = undefined;
    this.#failAll(why);
    void from.then((s) => s.close()).catch(() => undefined);
  }

  #settle(tag: number, outcome: SubmitReply | Error): void {
    const w = this.#waiting.get(tag);
    if (w === undefined) return;
    this.#waiting.delete(tag);
    clearTimeout(w.timer);
    if (outcome instanceof Error) w.reject(outcome);
    else w.resolve(outcome);
  }

  #failAll(why: string): void {
    for (const tag of [...this.#waiting.keys()]) this.#settle(tag, new SubmitSessionError(why));
  }
}
