/**
 * The validation pool: stateless request checks and consensus BLS verification in worker
 * threads (piscina), modelled on Lodestar's chain/bls/multithread.
 *
 * Why piscina plus a queue of our own: piscina replaces dead workers, aborts (and so kills) a
 * worker running an aborted task, and transfers buffers; but it has a single FIFO and sees
 * tasks, not requests. Keeping the queue here lets us (1) coalesce requests from many callers
 * into one task per round trip, (2) serve a priority lane for consensus-critical jobs ahead of
 * ingress traffic, (3) requeue a dead worker's requests at the front, and (4) expose an honest
 * back-pressure signal. Piscina only ever holds `capacity` tasks, so nothing waits out of sight.
 *
 * Exactly-once answers: each request or BLS job is settled through a guard, a task's promise
 * settles once, and a task is requeued only from its rejection path, so a retried task cannot
 * also have answered.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { BlsBackend, BlsBackendName } from '../crypto/bls/index.js';
import { DigestMemo, digestOfKey } from '../crypto/digest-memo.js';
import { blsBackend } from '../crypto/bls/index.js';
import type { Ed25519BackendName } from '../crypto/ed25519/backends.js';
import { type BlsSetBytes, packBlsSets, verifyBlsSets } from './bls-job.js';
import { Deque } from './deque.js';
import { MAX_REQUEST_BYTES, requestHeader } from '../protocol/request.js';
import { decodeVerdicts, packRequests, validateRequest } from './stateless.js';
import { accept, ignore, reject, type Verdict } from './verdict.js';
import { VerifiedIdCache } from './verified-cache.js';
import type { FaultHook, WorkerTask } from './worker.js';

/** The pool was closed before the job could be answered. Not retriable on this pool. */
export class PoolClosedError extends Error {
  readonly code = 'POOL_CLOSED';
  constructor() {
    super('validation pool is closed');
    this.name = 'PoolClosedError';
  }
}

/** A task failed (worker crash, hang past the timeout) on every allowed attempt. */
export class ValidationTaskError extends Error {
  readonly code = 'VALIDATION_TASK';
  constructor(
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`validation task failed after ${attempts} attempts`, options);
    this.name = 'ValidationTaskError';
  }
}

/** A task ran past `taskTimeoutMs`; its worker is terminated and the task retried. */
export class TaskTimeoutError extends Error {
  readonly code = 'TASK_TIMEOUT';
  constructor(ms: number) {
    super(`validation task exceeded ${ms} ms`);
    this.name = 'TaskTimeoutError';
  }
}

export interface ValidationPoolOptions {
  readonly chainId: string;
  /** Worker threads; 0 runs everything on the calling thread. Default os.availableParallelism(). */
  readonly workers?: number;
  readonly ed25519?: Ed25519BackendName;
  /**
   * UNSAFE, benchmarks only: see StatelessOptions.unsafeSkipSignatures. Such a pool checks every
   * request on the calling thread (a decode, no signature); its workers only verify BLS.
   */
  readonly unsafeSkipSignatures?: boolean;
  readonly bls?: BlsBackendName;
  /** Most requests per task. Default 128. */
  readonly maxBatchRequests?: number;
  /** Tasks queued at each worker, so it never idles for a round trip. Default 2. */
  readonly tasksPerWorker?: number;
  /** canAcceptWork() turns false once this many requests wait. Default 16384. */
  readonly maxQueuedRequests?: number;
  /** Priority jobs run on the calling thread once this many priority units wait. Default 2 x workers. */
  readonly mainThreadFallbackAt?: number;
  /**
   * A call that leaves at most this many requests to check (after the cache) checks them on the
   * calling thread while the pool is idle (no task queued or in flight). `npm run bench:validation`
   * measures calls of 1 to 3 requests both ways: through a worker, a lone request costs the
   * calling thread 30-85 us (the hand-off and the answer) and the process 117-220, against
   * 56-61 checked in place (2026-11-27; an earlier, slower run: 200, 470 and 130). A quiet chain's client submits and relayed requests come one at a
   * time, so this is their whole path; under load they queue and join worker tasks as before.
   * Default 2; 0 sends every check to the workers. An unsafe pool (unsafeSkipSignatures)
   * checks every request in place whatever this says.
   */
  readonly inlineUpTo?: number;
  /** A task running longer is aborted (its worker terminated) and retried. Default 30000. */
  readonly taskTimeoutMs?: number;
  /** Attempts per task before its jobs fail with ValidationTaskError. Default 3. */
  readonly maxAttempts?: number;
  /**
   * Verified-id cache entries; 0 disables the cache (requests are still hashed through
   * `requestIds`, which the consensus core and execution share). Default 65536.
   */
  readonly cacheSize?: number;
  /** Test only: see FaultHook in worker.ts. */
  readonly faultInjection?: FaultHook;
  /** Told of each unit of work as it starts: a task handed to a worker, or a call checked on the calling thread (metrics). */
  readonly onWork?: (where: 'worker' | 'main') => void;
}

export interface ValidateOptions {
  /** Consensus-critical (e.g. a proposal's unknown requests): served first, main-thread fallback. */
  readonly priority?: boolean;
}

export interface ValidationPoolStats {
  readonly tasksDispatched: number;
  readonly tasksRetried: number;
  readonly tasksFailed: number;
  readonly mainThreadJobs: number;
  readonly cacheHits: number;
  /** Request checks run (on a worker or this thread; a retried one counts again). */
  readonly requestsChecked: number;
  /** Requests answered with the verdict of an identical one in check at the same time (no check of their own). */
  readonly copiesMerged: number;
  readonly blsBatchFallbacks: number;
}

/** One validate() call: its requests are answered into `out`, the call settles when all are. */
interface RequestCall {
  readonly out: Verdict[];
  remaining: number;
  failed: boolean;
  readonly resolve: (v: Verdict[]) => void;
  readonly reject: (e: Error) => void;
}

interface RequestUnit {
  readonly kind: 'request';
  readonly bytes: Uint8Array;
  /** Verified-cache key (the id as a latin1 string); undefined when the cache is off. */
  readonly key: string | undefined;
  readonly height: number;
  readonly priority: boolean;
  readonly call: RequestCall;
  readonly index: number;
  /** Identical requests (same id, same height) answered with this one's verdict, in any call. */
  readonly copies: { readonly call: RequestCall; readonly index: number }[];
  attempts: number;
  settled: boolean;
}

interface BlsUnit {
  readonly kind: 'bls';
  readonly sets: readonly BlsSetBytes[];
  readonly priority: boolean;
  attempts: number;
  settled: boolean;
  readonly resolve: (v: boolean[]) => void;
  readonly reject: (e: Error) => void;
}

type Unit = RequestUnit | BlsUnit;

type MutableStats = {
  -readonly [K in keyof ValidationPoolStats]: ValidationPoolStats[K];
};

function positiveInt(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer`);
  return v;
}

export class ValidationPool {
  readonly chainId: string;
  readonly workers: number;
  /** Request ids (the verified cache's keys), shared with the consensus core by the runtime. */
  readonly requestIds = new DigestMemo();
  readonly #ed25519: Ed25519BackendName;
  readonly #skipSignatures: boolean;
  readonly #blsName: BlsBackendName;
  #blsMain: BlsBackend | undefined;
  readonly #piscina: Piscina<WorkerTask, Uint8Array> | undefined;
  readonly #capacity: number;
  readonly #maxBatch: number;
  readonly #maxQueued: number;
  readonly #fallbackAt: number;
  readonly #inlineUpTo: number;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #cache: VerifiedIdCache;
  readonly #fault: FaultHook | undefined;
  readonly #onWork: ((where: 'worker' | 'main') => void) | undefined;
  readonly #high = new Deque<Unit>();
  readonly #normal = new Deque<Unit>();
  #queuedRequests = 0;
  #inflight = 0;
  #pumpScheduled = false;
  #closed = false;
  #hardClosed = false;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  readonly #stats: MutableStats = {
    tasksDispatched: 0,
    tasksRetried: 0,
    tasksFailed: 0,
    mainThreadJobs: 0,
    cacheHits: 0,
    requestsChecked: 0,
    copiesMerged: 0,
    blsBatchFallbacks: 0,
  };
  /**
   * Queued or running request checks by id and height: an identical request arriving meanwhile
   * waits for that check instead of paying its own. Without this, copies of one validly signed
   * request sent at once (each costs its sender nothing) each cost a full signature check.
   * A copy shares the check's remaining attempts, and its failure: its bytes are the same.
   * Keyed by the cache's key, so with the cache off (cacheSize 0, tests) nothing merges.
   */
  readonly #inCheck = new Map<string, RequestUnit>();

  constructor(opts: ValidationPoolOptions) {
    if (typeof opts.chainId !== 'string' || opts.chainId.length === 0) throw new TypeError('chainId must be a non-empty string');
    this.chainId = opts.chainId;
    this.workers = opts.workers ?? availableParallelism();
    if (!Number.isSafeInteger(this.workers) || this.workers < 0) throw new RangeError('workers must be a non-negative integer');
    this.#ed25519 = opts.ed25519 ?? 'sodium';
    this.#skipSignatures = opts.unsafeSkipSignatures === true;
    this.#blsName = opts.bls ?? 'blst';
    this.#maxBatch = positiveInt(opts.maxBatchRequests ?? 128, 'maxBatchRequests');
    const perWorker = positiveInt(opts.tasksPerWorker ?? 2, 'tasksPerWorker');
    this.#capacity = this.workers * perWorker;
    this.#maxQueued = positiveInt(opts.maxQueuedRequests ?? 16384, 'maxQueuedRequests');
    this.#fallbackAt = positiveInt(opts.mainThreadFallbackAt ?? Math.max(1, 2 * this.workers), 'mainThreadFallbackAt');
    this.#inlineUpTo = opts.inlineUpTo ?? 2;
    if (!Number.isSafeInteger(this.#inlineUpTo) || this.#inlineUpTo < 0) throw new RangeError('inlineUpTo must be a non-negative integer');
    this.#timeoutMs = positiveInt(opts.taskTimeoutMs ?? 30_000, 'taskTimeoutMs');
    this.#maxAttempts = positiveInt(opts.maxAttempts ?? 3, 'maxAttempts');
    this.#cache = new VerifiedIdCache(opts.cacheSize ?? 65536);
    this.#fault = opts.faultInjection;
    this.#onWork = opts.onWork;
    this.#piscina =
      this.workers === 0
        ? undefined
        : new Piscina<WorkerTask, Uint8Array>({
            filename: new URL('./worker.js', import.meta.url).href,
            minThreads: this.workers,
            maxThreads: this.workers,
            concurrentTasksPerWorker: perWorker,
            idleTimeout: Number.POSITIVE_INFINITY,
            // Per-task run and wait histograms nobody reads: a record on both ends of every task.
            recordTiming: false,
          });
  }

  /** Back-pressure for ingress and gossip: false while the request queue is full or the pool closed. */
  canAcceptWork(): boolean {
    return !this.#closed && this.#queuedRequests < this.#maxQueued;
  }

  /** Requests waiting for a worker (the validation queue depth metric). */
  get queuedRequests(): number {
    return this.#queuedRequests;
  }

  /** True if the id passed the stateless check here (recently enough to still be cached). */
  isVerified(id: Uint8Array): boolean {
    return this.#cache.has(id);
  }

  stats(): ValidationPoolStats {
    return { ...this.#stats };
  }

  /** The verdict of a request whose id passed here and is still cached; undefined otherwise. */
  #cached(key: string, height: number): Verdict | undefined {
    const expiry = this.#cache.getKey(key);
    if (expiry === undefined) return undefined;
    return expiry >= BigInt(height) ? accept(digestOfKey(key)) : ignore('expired');
  }

  /**
   * StatelessValidator.validateKnown: all from the verified cache, or undefined; with
   * `checkUncachedUpTo: k`, at most k uncached requests are checked on this thread instead.
   */
  validateKnown(requests: readonly Uint8Array[], height: number, opts: { readonly checkUncachedUpTo?: number } = {}): Verdict[] | undefined {
    if (this.#closed || this.#cache.limit === 0 || !Number.isSafeInteger(height) || height < 0) return undefined;
    const budget = opts.checkUncachedUpTo ?? 0;
    const out = new Array<Verdict>(requests.length);
    const uncached: { index: number; key: string }[] = [];
    for (let i = 0; i < requests.length; i++) {
      const bytes = requests[i]!;
      if (!(bytes instanceof Uint8Array) || bytes.length > MAX_REQUEST_BYTES) return undefined;
      const key = this.requestIds.key(bytes);
      const known = this.#cached(key, height);
      if (known !== undefined) out[i] = known;
      else if (uncached.push({ index: i, key }) > budget) return undefined;
    }
    this.#stats.cacheHits += requests.length - uncached.length;
    if (uncached.length > 0) {
      this.#countMain();
      for (const { index, key } of uncached) out[index] = this.#checkHere(requests[index]!, key, height);
    }
    return out;
  }

  /** Stateless verdicts for `requests` at `height`, in input order. */
  validate(requests: readonly Uint8Array[], height: number, opts: ValidateOptions = {}): Promise<Verdict[]> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    if (!Number.isSafeInteger(height) || height < 0) return Promise.reject(new RangeError('height must be a non-negative safe integer'));
    const priority = opts.priority === true;
    const viaMain = this.#piscina === undefined || (priority && this.#high.length >= this.#fallbackAt);
    const out = new Array<Verdict>(requests.length);
    const unchecked: { bytes: Uint8Array; key: string | undefined; index: number; copies: number[] }[] = [];
    // The first of this call's requests with each id: the others take its verdict.
    const firstOf = new Map<string, number>();
    for (let i = 0; i < requests.length; i++) {
      const bytes = requests[i]!;
      // Never ship an oversized blob to a worker just to hear that it is oversized.
      if (!(bytes instanceof Uint8Array)) {
        out[i] = reject('malformed');
        continue;
      }
      if (bytes.length > MAX_REQUEST_BYTES) {
        out[i] = reject('oversized');
        continue;
      }
      let key: string | undefined;
      if (this.#cache.limit > 0) {
        key = this.requestIds.key(bytes);
        const known = this.#cached(key, height);
        if (known !== undefined) {
          this.#stats.cacheHits++;
          out[i] = known;
          continue;
        }
        const first = firstOf.get(key);
        if (first !== undefined) {
          this.#stats.copiesMerged++;
          if (viaMain) out[i] = out[first]!;
          else unchecked[first]!.copies.push(i);
          continue;
        }
      }
      if (viaMain) {
        if (key !== undefined) firstOf.set(key, i);
        out[i] = this.#checkHere(bytes, key, height);
        continue;
      }
      if (key !== undefined) firstOf.set(key, unchecked.length);
      unchecked.push({ bytes, key, index: i, copies: [] });
    }
    if (viaMain) this.#countMain();
    if (unchecked.length === 0) return Promise.resolve(out);
    // A few requests on an idle pool: cheaper here than the hand-off (see inlineUpTo). A busy
    // pool queues them, so that under load they join worker tasks and count towards back-pressure
    // (an unsafe pool never queues requests: its back-pressure is the mempool's bound alone).
    // With signatures skipped (the unsafe ordering-only benchmark mode) a check is a decode of a
    // few microseconds, cheaper in place at any count than a worker's hand-off and answer.
    if (this.#skipSignatures || (unchecked.length <= this.#inlineUpTo && this.#idle())) {
      this.#countMain();
      for (const u of unchecked) {
        const v = this.#checkHere(u.bytes, u.key, height);
        out[u.index] = v;
        for (const c of u.copies) out[c] = v;
      }
      return Promise.resolve(out);
    }
    // One promise per call, not per request: the main thread's cost per request is what the
    // pool's speed-up is bounded by.
    return new Promise<Verdict[]>((resolve, rejectP) => {
      const call: RequestCall = { out, remaining: 0, failed: false, resolve, reject: rejectP };
      const lane = priority ? this.#high : this.#normal;
      let queued = 0;
      for (const u of unchecked) {
        call.remaining += 1 + u.copies.length;
        const copies = u.copies.map((index) => ({ call, index }));
        // The same request in check already (another call's), at this height and in this lane.
        const inCheckKey = u.key === undefined ? undefined : inCheckKeyOf(u.key, priority, height);
        const running = inCheckKey === undefined ? undefined : this.#inCheck.get(inCheckKey);
        if (running !== undefined) {
          this.#stats.copiesMerged++;
          running.copies.push({ call, index: u.index }, ...copies);
          continue;
        }
        const unit: RequestUnit = { kind: 'request', bytes: u.bytes, key: u.key, height, priority, call, index: u.index, copies, attempts: 0, settled: false };
        if (inCheckKey !== undefined) this.#inCheck.set(inCheckKey, unit);
        lane.push(unit);
        queued++;
      }
      this.#queuedRequests += queued;
      this.#schedulePump();
    });
  }

  #countMain(): void {
    this.#stats.mainThreadJobs++;
    this.#tell('main');
  }

  /** A hook that throws (a bug in the caller's metrics) must not leave work unsettled here. */
  #tell(where: 'worker' | 'main'): void {
    try {
      this.#onWork?.(where);
    } catch {
      // Counted nowhere: the hook is the caller's, and so is its failure.
    }
  }

  /** No task in flight and none queued. */
  #idle(): boolean {
    return this.#inflight === 0 && this.#high.length === 0 && this.#normal.length === 0;
  }

  /** Verifies BLS signature sets (votes, timeouts, QCs reduced to one set); results in input order. */
  verifyBls(sets: readonly BlsSetBytes[], opts: ValidateOptions = {}): Promise<boolean[]> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    if (sets.length === 0) return Promise.resolve([]);
    const priority = opts.priority === true;
    if (this.#piscina === undefined || (priority && this.#high.length >= this.#fallbackAt)) {
      this.#countMain();
      const { valid, fellBack } = verifyBlsSets(sets, this.#mainBls());
      if (fellBack) this.#stats.blsBatchFallbacks++;
      return Promise.resolve(Array.from(valid, (b) => b === 1));
    }
    return new Promise<boolean[]>((resolve, rejectP) => {
      (priority ? this.#high : this.#normal).push({ kind: 'bls', sets, priority, attempts: 0, settled: false, resolve, reject: rejectP });
      this.#schedulePump();
    });
  }

  /**
   * Stops accepting work. `drain: true` (default) answers everything already submitted first;
   * `drain: false` fails queued and in-flight jobs with PoolClosedError. Either way the workers
   * are gone when the promise resolves, so nothing keeps the process alive.
   */
  close(opts: { drain?: boolean } = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    const drain = opts.drain !== false;
    if (!drain) {
      this.#hardClosed = true;
      for (const lane of [this.#high, this.#normal]) for (const u of lane.drain()) this.#fail(u, new PoolClosedError());
      this.#queuedRequests = 0;
    }
    this.#closing = (async () => {
      if (drain && (this.#inflight > 0 || this.#high.length > 0 || this.#normal.length > 0)) {
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
        });
      }
      await this.#piscina?.destroy();
    })();
    return this.#closing;
  }

  #mainBls(): BlsBackend {
    this.#blsMain ??= blsBackend(this.#blsName);
    return this.#blsMain;
  }

  /** The stateless check on the calling thread, its verdict remembered like a worker's. */
  #checkHere(bytes: Uint8Array, key: string | undefined, height: number): Verdict {
    this.#stats.requestsChecked++;
    // The memo's digest (the cache key) is the id: the check need not hash the bytes again.
    const requestId = key === undefined ? undefined : () => digestOfKey(key);
    return this.#remember(
      bytes,
      key,
      validateRequest(bytes, { chainId: this.chainId, height, ed25519: this.#ed25519, unsafeSkipSignatures: this.#skipSignatures, ...(requestId === undefined ? {} : { requestId }) }),
    );
  }

  #remember(bytes: Uint8Array, key: string | undefined, v: Verdict): Verdict {
    // An accepted request decoded, so its header is there to read.
    if (v.kind === 'accept' && key !== undefined) this.#cache.addKey(key, requestHeader(bytes)!.expiry);
    return v;
  }

  // Deferred to a microtask so that requests submitted in the same tick share a task.
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (!this.#hardClosed && this.#inflight < this.#capacity) {
      const lane = this.#high.length > 0 ? this.#high : this.#normal.length > 0 ? this.#normal : undefined;
      if (lane === undefined) break;
      const head = lane.shift()!;
      if (head.kind === 'bls') {
        this.#dispatchBls(head);
        continue;
      }
      // A task has one height, so a batch stops where the height changes.
      const batch: RequestUnit[] = [head];
      for (let next = lane.peek(); batch.length < this.#maxBatch && next?.kind === 'request' && next.height === head.height; next = lane.peek()) {
        batch.push(lane.shift() as RequestUnit);
      }
      this.#queuedRequests -= batch.length;
      this.#dispatchRequests(batch);
    }
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained !== undefined && this.#inflight === 0 && this.#high.length === 0 && this.#normal.length === 0) {
      const done = this.#drained;
      this.#drained = undefined;
      done();
    }
  }

  #run(task: WorkerTask, onResult: (r: Uint8Array) => void, onFailure: (e: unknown) => void): void {
    const piscina = this.#piscina!;
    this.#inflight++;
    this.#stats.tasksDispatched++;
    this.#tell('worker');
    const abort = new AbortController();
    // Aborting a running piscina task terminates its worker: that is how a hang is cured.
    const timer = setTimeout(() => abort.abort(new TaskTimeoutError(this.#timeoutMs)), this.#timeoutMs);
    const transferList = [task.packed.buffer as ArrayBuffer];
    piscina.run(task, { transferList, signal: abort.signal }).then(
      (r) => {
        clearTimeout(timer);
        this.#inflight--;
        onResult(r);
        this.#pump();
      },
      (e: unknown) => {
        clearTimeout(timer);
        this.#inflight--;
        onFailure(e);
        this.#pump();
      },
    );
  }

  #dispatchRequests(batch: RequestUnit[]): void {
    this.#stats.requestsChecked += batch.length;
    // Packed afresh for every attempt: the previous packed buffer was transferred away.
    const packed = packRequests(batch.map((u) => u.bytes));
    const task: WorkerTask = {
      kind: 'requests',
      packed,
      chainId: this.chainId,
      height: batch[0]!.height,
      ed25519: this.#ed25519,
      ...(this.#fault === undefined ? {} : { fault: this.#fault }),
    };
    this.#run(
      task,
      (r) => {
        const verdicts = decodeVerdicts(r, batch.length);
        for (let i = 0; i < batch.length; i++) {
          const u = batch[i]!;
          this.#settle(u, this.#remember(u.bytes, u.key, verdicts[i]!));
        }
      },
      (e) => this.#retryOrFail(batch, e),
    );
  }

  #dispatchBls(unit: BlsUnit): void {
    const task: WorkerTask = {
      kind: 'bls',
      packed: packBlsSets(unit.sets),
      bls: this.#blsName,
      ...(this.#fault === undefined ? {} : { fault: this.#fault }),
    };
    this.#run(
      task,
      (r) => {
        if (r[unit.sets.length] === 1) this.#stats.blsBatchFallbacks++;
        this.#settle(
          unit,
          Array.from(r.subarray(0, unit.sets.length), (b) => b === 1),
        );
      },
      (e) => this.#retryOrFail([unit], e),
    );
  }

  #retryOrFail(units: Unit[], cause: unknown): void {
    if (this.#hardClosed) {
      for (const u of units) this.#fail(u, new PoolClosedError());
      return;
    }
    const again: Unit[] = [];
    for (const u of units) {
      u.attempts++;
      if (u.attempts >= this.#maxAttempts) this.#fail(u, new ValidationTaskError(u.attempts, { cause }));
      else again.push(u);
    }
    if (again.length === 0) {
      this.#stats.tasksFailed++;
      return;
    }
    this.#stats.tasksRetried++;
    // Back at the front of their own lanes, in order: a retry must not lose its place.
    const high = again.filter((u) => u.priority);
    const normal = again.filter((u) => !u.priority);
    if (high.length > 0) this.#high.unshiftAll(high);
    if (normal.length > 0) this.#normal.unshiftAll(normal);
    this.#queuedRequests += again.filter((u) => u.kind === 'request').length;
  }

  #settle(u: Unit, value: Verdict | boolean[]): void {
    if (u.settled) return;
    u.settled = true;
    if (u.kind === 'bls') {
      u.resolve(value as boolean[]);
      return;
    }
    this.#forget(u);
    const verdict = value as Verdict;
    settleSlot(u.call, u.index, verdict);
    for (const c of u.copies) settleSlot(c.call, c.index, verdict);
  }

  /** A settled or failed check no longer takes copies. */
  #forget(u: RequestUnit): void {
    if (u.key === undefined) return;
    const inCheckKey = inCheckKeyOf(u.key, u.priority, u.height);
    if (this.#inCheck.get(inCheckKey) === u) this.#inCheck.delete(inCheckKey);
  }

  #fail(u: Unit, e: Error): void {
    if (u.settled) return;
    u.settled = true;
    if (u.kind === 'bls') {
      u.reject(e);
      return;
    }
    this.#forget(u);
    // The whole call fails with the first error; its other requests are dropped quietly. So do
    // the calls of its copies: their requests were never checked.
    failCall(u.call, e);
    for (const c of u.copies) failCall(c.call, e);
  }
}

/** An id is a fixed 32 characters, so the height that follows it cannot run into it. */
function inCheckKeyOf(key: string, priority: boolean, height: number): string {
  return `${key}${priority ? 'h' : 'n'}${height}`;
}

function settleSlot(call: RequestCall, index: number, verdict: Verdict): void {
  call.out[index] = verdict;
  if (--call.remaining === 0 && !call.failed) call.resolve(call.out);
}

function failCall(call: RequestCall, e: Error): void {
  if (call.failed) return;
  call.failed = true;
  call.reject(e);
}
