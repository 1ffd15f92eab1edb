/**
 * The mempool: validated requests waiting to be proposed, and the stateful checks that need
 * the main thread's view (replay window, duplicates, capacity).
 *
 * Replay window, per client (the IPsec anti-replay scheme): `high` is the highest committed
 * sequence and `committed` the committed sequences in (high - window, high]. A sequence at or
 * below high - window, or already committed, is a replay; one above high + window is too far
 * ahead. Gaps are allowed inside the window, so a client with several requests in flight is
 * not stalled by one that got lost, and a lost sequence simply ages out of the window.
 *
 * Fairness: nextBatch takes one request per client per round (lowest sequence first), and the
 * clients it served move to the back of the order, so a chatty client cannot starve the rest.
 */
import type { StatelessValidator } from './stateless.js';
import { type DecodedRequest, decodeRequest } from '../protocol/request.js';
import { accept, ignore, type Verdict } from './verdict.js';

/** The mempool is full: nothing is wrong with the request, the client should retry later. */
export class MempoolBusyError extends Error {
  readonly code = 'MEMPOOL_BUSY';
  readonly retryable = true;
  constructor(detail: string) {
    super(`mempool busy: ${detail}`);
    this.name = 'MempoolBusyError';
  }
}

export interface MempoolOptions {
  readonly maxCount: number;
  readonly maxBytes: number;
  /** Sequences a client may run ahead of (or behind) its highest committed one. Default 1024. */
  readonly sequenceWindow?: number;
  /** Runs the stateless checks for submit() and reload(): the pool, or a main-thread validator. */
  readonly validator: StatelessValidator;
  readonly height?: number;
}

interface ClientState {
  readonly key: string;
  high: bigint;
  readonly committed: Set<bigint>;
  readonly pending: Map<bigint, DecodedRequest>;
  /** Pending sequences in ascending order. */
  order: bigint[];
}

const idKey = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');

function insertSorted(order: bigint[], seq: bigint): void {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (order[mid]! < seq) lo = mid + 1;
    else hi = mid;
  }
  order.splice(lo, 0, seq);
}

export class Mempool {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  readonly #window: bigint;
  readonly #validator: StatelessValidator;
  #height: number;
  #bytes = 0;
  readonly #byId = new Map<string, DecodedRequest>();
  readonly #clients = new Map<string, ClientState>();
  /** Clients with pending requests, in round-robin order. */
  readonly #ready = new Map<string, ClientState>();

  constructor(opts: MempoolOptions) {
    for (const [name, v] of [['maxCount', opts.maxCount], ['maxBytes', opts.maxBytes]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
    }
    const window = opts.sequenceWindow ?? 1024;
    if (!Number.isSafeInteger(window) || window < 1) throw new RangeError('sequenceWindow must be a positive integer');
    this.#maxCount = opts.maxCount;
    this.#maxBytes = opts.maxBytes;
    this.#window = BigInt(window);
    this.#validator = opts.validator;
    this.#height = opts.height ?? 0;
  }

  get height(): number {
    return this.#height;
  }

  get size(): number {
    return this.#byId.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  has(id: Uint8Array): boolean {
    return this.#byId.has(idKey(id));
  }

  get(id: Uint8Array): DecodedRequest | undefined {
    return this.#byId.get(idKey(id));
  }

  /** Stateless checks (in the validator) then stateful admission; one verdict per input, in order. */
  async submit(requests: readonly Uint8Array[]): Promise<Verdict[]> {
    const verdicts = await this.#validator.validate(requests, this.#height);
    return verdicts.map((v, i) => {
      if (v.kind !== 'accept') return v;
      try {
        return this.add(decodeRequest(requests[i]!));
      } catch (e) {
        if (e instanceof MempoolBusyError) return ignore('busy');
        throw e;
      }
    });
  }

  /**
   * After a restart: whatever was persisted goes through the same stateless path as fresh
   * traffic (the chain may have moved, keys or limits may differ), then stateful admission.
   */
  reload(requests: readonly Uint8Array[]): Promise<Verdict[]> {
    return this.submit(requests);
  }

  /**
   * Stateful admission of a request that already passed the stateless check. Returns accept or
   * an IGNORE verdict; throws MempoolBusyError when full.
   */
  add(request: DecodedRequest): Verdict {
    const key = idKey(request.id);
    if (this.#byId.has(key)) return ignore('duplicate');
    if (request.expiry < BigInt(this.#height)) return ignore('expired');
    const ck = idKey(request.clientKey);
    const client = this.#clients.get(ck);
    const high = client?.high ?? -1n;
    if (request.sequence <= high - this.#window || client?.committed.has(request.sequence)) return ignore('replayed');
    if (request.sequence > high + this.#window) return ignore('sequence-too-far');
    if (client?.pending.has(request.sequence)) return ignore('sequence-conflict');
    if (this.#byId.size >= this.#maxCount) throw new MempoolBusyError(`${this.#byId.size} requests`);
    if (this.#bytes + request.bytes.length > this.#maxBytes) throw new MempoolBusyError(`${this.#bytes} bytes`);
    const state = client ?? this.#newClient(ck);
    state.pending.set(request.sequence, request);
    insertSorted(state.order, request.sequence);
    this.#byId.set(key, request);
    this.#bytes += request.bytes.length;
    if (!this.#ready.has(ck)) this.#ready.set(ck, state);
    return accept(request.id);
  }

  /**
   * Up to `maxCommands` requests totalling at most `maxBytes`, one per client per round, each
   * client's in sequence order. Nothing is removed (a proposal may fail): pass `exclude` to
   * skip requests already in an uncommitted proposal.
   */
  nextBatch(maxCommands: number, maxBytes: number, exclude?: (id: Uint8Array) => boolean): DecodedRequest[] {
    const out: DecodedRequest[] = [];
    let bytes = 0;
    const cursor = new Map<ClientState, number>();
    const done = new Set<ClientState>();
    const served = new Set<ClientState>();
    while (out.length < maxCommands && done.size < this.#ready.size) {
      for (const c of this.#ready.values()) {
        if (out.length >= maxCommands) break;
        if (done.has(c)) continue;
        let at = cursor.get(c) ?? 0;
        let picked: DecodedRequest | undefined;
        while (at < c.order.length) {
          const r = c.pending.get(c.order[at]!)!;
          at++;
          if (exclude?.(r.id)) continue;
          picked = r;
          break;
        }
        cursor.set(c, at);
        // A request that does not fit ends this client's turn: taking a later sequence instead
        // would reorder the client's requests.
        if (picked === undefined || bytes + picked.bytes.length > maxBytes) {
          done.add(c);
          continue;
        }
        served.add(c);
        out.push(picked);
        bytes += picked.bytes.length;
      }
    }
    for (const c of served) {
      this.#ready.delete(c.key);
      this.#ready.set(c.key, c);
    }
    return out;
  }

  /**
   * Committed requests leave the pool and close their sequence for replay. An id the pool does
   * not hold cannot update the window, so pass the decoded request for those (e.g. requests
   * that arrived only inside someone else's proposal).
   */
  markCommitted(committed: readonly (Uint8Array | DecodedRequest)[]): void {
    for (const item of committed) {
      const request = item instanceof Uint8Array ? this.#byId.get(idKey(item)) : item;
      if (request === undefined) continue;
      this.#remove(request);
      const ck = idKey(request.clientKey);
      const c = this.#clients.get(ck) ?? this.#newClient(ck);
      c.committed.add(request.sequence);
      if (request.sequence > c.high) c.high = request.sequence;
      const floor = c.high - this.#window;
      for (const s of c.committed) if (s <= floor) c.committed.delete(s);
      // Pending requests that can no longer commit: at or below the floor, or the same sequence.
      for (const s of [...c.order]) {
        if (s <= floor || c.committed.has(s)) this.#remove(c.pending.get(s)!);
      }
    }
  }

  /** Moves to height `h` and evicts requests that expired before it; returns how many. */
  advanceHeight(h: number): number {
    if (!Number.isSafeInteger(h) || h < this.#height) throw new RangeError('height must not go backwards');
    this.#height = h;
    const bh = BigInt(h);
    let evicted = 0;
    for (const r of [...this.#byId.values()]) {
      if (r.expiry < bh) {
        this.#remove(r);
        evicted++;
      }
    }
    return evicted;
  }

  #newClient(key: string): ClientState {
    const c: ClientState = { key, high: -1n, committed: new Set(), pending: new Map(), order: [] };
    this.#clients.set(key, c);
    return c;
  }

  #remove(request: DecodedRequest): void {
    const key = idKey(request.id);
    if (!this.#byId.delete(key)) return;
    this.#bytes -= request.bytes.length;
    const c = this.#clients.get(idKey(request.clientKey))!;
    c.pending.delete(request.sequence);
    const i = c.order.indexOf(request.sequence);
    if (i >= 0) c.order.splice(i, 1);
    if (c.order.length === 0) this.#ready.delete(c.key);
  }
}
