/**
 * Client requests reach the other validators (so whoever leads the round can propose them) in
 * batches (protocol/request-batch.ts): a validator collects the requests it admitted from its own
 * clients for a few milliseconds and sends them as ONE frame to each other validator on the
 * `requests` channel, so per-message costs (framing, noise, one validation-pool call) are paid
 * per batch, not per request. On a quiet chain (no batch sent within the last window) a request
 * leaves at the end of its tick instead of waiting for company.
 *
 * Sent directly rather than gossiped: validators are fully connected, and gossipsub's forwarding
 * delivered each batch to each validator up to n-1 times (once from the origin, then from every
 * mesh peer that forwarded it before the IDONTWANT arrived), for the largest per-command bytes
 * of the protocol. A validator cut off from the origin still gets the requests in the proposal
 * of a leader that has them, and the origin proposes them itself when it leads.
 */
import type { NetworkHost, ValidationResult } from '../../network/host.js';
import { BATCH_ENTRY_OVERHEAD, BATCH_HEADER_BYTES, decodeRequestBatch, encodeRequestBatch, MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, RequestBatchDecodeError } from '../../protocol/request-batch.js';
import type { Verdict } from '../../validation/verdict.js';

export interface RequestBatcherOptions {
  /** Sends one encoded batch; a failure is reported to onError and the batch dropped (clients retry). */
  readonly publish: (batch: Uint8Array) => Promise<unknown>;
  /**
   * Longest a request waits for company before its batch goes out. Default 3 ms. A request that
   * finds no batch sent within the last window goes out at the end of its tick instead.
   */
  readonly windowMs?: number;
  /** A batch goes out at once when it holds this many requests. Default 512. */
  readonly maxRequests?: number;
  /** ... or when its frame would exceed this many bytes. Default 256 KiB. */
  readonly maxBytes?: number;
  readonly onError?: (err: unknown) => void;
  /**
   * Whether anyone would receive a batch now (another validator connected). A batch is held
   * while this is false, up to `holdMs`: a validator that just restarted has clients before it
   * has its peers back, and a batch sent to nobody is lost for every other leader.
   */
  readonly ready?: () => boolean;
  /** Longest a batch is held for `ready`. Default 5 s. */
  readonly holdMs?: number;
}

/**
 * Accumulates requests and publishes them in batches: whichever of the window, the count or
 * the byte limit comes first, or the end of the tick after a quiet window (add()). The buffer
 * is bounded by the limits (it is flushed before it would pass them), so it can never grow
 * without bound.
 */
export class RequestBatcher {
  readonly #publish: (batch: Uint8Array) => Promise<unknown>;
  readonly #windowMs: number;
  readonly #maxRequests: number;
  readonly #maxBytes: number;
  readonly #onError: (err: unknown) => void;
  readonly #ready: () => boolean;
  readonly #holdMs: number;
  /** When the oldest pending request was first held back for want of peers. */
  #heldSince: number | undefined;
  #pending: Uint8Array[] = [];
  #bytes = BATCH_HEADER_BYTES;
  #timer: NodeJS.Timeout | undefined;
  /** A flush is queued for the end of this tick (the leading edge, see add()). */
  #flushQueued = false;
  /** When the last batch went out (performance.now()). */
  #lastPublishedAt = Number.NEGATIVE_INFINITY;
  #stopped = false;
  /** Batches published so far (tests and metrics). */
  batches = 0;

  constructor(opts: RequestBatcherOptions) {
    this.#publish = opts.publish;
    this.#windowMs = opts.windowMs ?? 3;
    this.#maxRequests = Math.min(MAX_BATCH_REQUESTS, opts.maxRequests ?? 512);
    this.#maxBytes = Math.min(MAX_BATCH_BYTES, opts.maxBytes ?? 256 * 1024);
    this.#onError = opts.onError ?? (() => undefined);
    this.#ready = opts.ready ?? (() => true);
    this.#holdMs = opts.holdMs ?? 5_000;
    if (!(this.#windowMs >= 0) || !Number.isSafeInteger(this.#maxRequests) || this.#maxRequests < 1 || !Number.isSafeInteger(this.#maxBytes)) {
      throw new RangeError('batcher window must be >= 0 ms and its limits positive integers');
    }
  }

  /** Number of requests waiting for the next batch. */
  get pending(): number {
    return this.#pending.length;
  }

  add(request: Uint8Array): void {
    if (this.#stopped) return;
    const size = BATCH_ENTRY_OVERHEAD + request.length;
    if (this.#pending.length > 0 && this.#bytes + size > this.#maxBytes) this.flush(true);
    this.#pending.push(request);
    this.#bytes += size;
    if (this.#pending.length >= this.#maxRequests || this.#bytes >= this.#maxBytes) {
      this.flush(true);
      return;
    }
    if (this.#timer !== undefined || this.#flushQueued) return;
    if (performance.now() - this.#lastPublishedAt >= this.#windowMs) {
      // Nothing went out for a whole window, so waiting one would only delay this request (under
      // load batches leave every window and requests do wait for company). It leaves at the end
      // of this tick, with whatever else this tick adds: one client batch stays one frame.
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.flush();
      });
      return;
    }
    this.#timer = setTimeout(() => this.flush(), this.#windowMs);
  }

  /** Publishes what waits; unless `force`, holds it while nobody would receive it (see `ready`). */
  flush(force = false): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    if (!force && !this.#ready()) {
      const now = performance.now();
      this.#heldSince ??= now;
      if (now - this.#heldSince < this.#holdMs) {
        this.#timer = setTimeout(() => this.flush(), Math.max(this.#windowMs, 100));
        return;
      }
    }
    this.#heldSince = undefined;
    const requests = this.#pending;
    this.#pending = [];
    this.#bytes = BATCH_HEADER_BYTES;
    let batch: Uint8Array;
    try {
      batch = encodeRequestBatch(requests);
    } catch (err) {
      this.#onError(err);
      return;
    }
    this.batches++;
    this.#lastPublishedAt = performance.now();
    this.#publish(batch).catch(this.#onError);
  }

  /** Drops what waits (its clients time out and retry elsewhere) and refuses further requests. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = [];
  }
}

/**
 * The verdict on a batch from a peer. `admit` validates all its requests in one pool call and
 * queues the accepted ones only if none was rejected (ValidatorNode.admit). REJECT (the peer is
 * penalised) for a malformed frame or any request a sender could not honestly have relayed (bad
 * signature, wrong chain, bad command); IGNORE when nothing in it is new or admissible
 * (duplicates, expired, busy); ACCEPT otherwise.
 */
export async function requestBatchVerdict(bytes: Uint8Array, admit: (requests: readonly Uint8Array[]) => Promise<readonly Verdict[]>): Promise<ValidationResult> {
  let requests: Uint8Array[];
  try {
    requests = decodeRequestBatch(bytes);
  } catch (err) {
    if (err instanceof RequestBatchDecodeError) return 'reject';
    throw err;
  }
  return decodedBatchVerdict(requests, admit);
}

async function decodedBatchVerdict(requests: readonly Uint8Array[], admit: (requests: readonly Uint8Array[]) => Promise<readonly Verdict[]>): Promise<ValidationResult> {
  const verdicts = await admit(requests);
  if (verdicts.some((v) => v.kind === 'reject')) return 'reject';
  return verdicts.some((v) => v.kind === 'accept') ? 'accept' : 'ignore';
}

/**
 * Serves the `requests` channel: each batch from another validator is admitted through
 * requestBatchVerdict, and a sender of a rejected batch is penalised. While the validation pool
 * is full a batch is dropped unpenalised (`canAcceptWork`): its requests reach us again in a
 * proposal. `onReceived` sees every well-formed batch's requests first, admitted or not (the
 * stash compact proposals are rebuilt from). Returns a counter of the verdicts, for tests and
 * metrics.
 */
export function serveRequestBatches(
  host: Pick<NetworkHost, 'handle' | 'penalise'>,
  opts: {
    readonly admit: (requests: readonly Uint8Array[]) => Promise<readonly Verdict[]>;
    readonly canAcceptWork?: () => boolean;
    readonly onReceived?: (requests: readonly Uint8Array[], from: string) => void;
    readonly onVerdict?: (verdict: ValidationResult, from: string) => void;
  },
): void {
  host.handle('requests', async (from, bytes) => {
    let verdict: ValidationResult = 'ignore';
    let requests: Uint8Array[] | undefined;
    try {
      requests = decodeRequestBatch(bytes);
    } catch (err) {
      if (!(err instanceof RequestBatchDecodeError)) throw err;
      verdict = 'reject';
    }
    if (requests !== undefined) {
      opts.onReceived?.(requests, from);
      if (opts.canAcceptWork?.() ?? true) verdict = await decodedBatchVerdict(requests, opts.admit);
    }
    if (verdict === 'reject') host.penalise(from);
    opts.onVerdict?.(verdict, from);
    return undefined;
  });
}
