/**
 * Compact proposals: a proposal travels with request ids instead of request bytes where its
 * receivers hold the requests already. Every request reaches every validator by relay
 * (request-relay.ts) before a leader can propose it, so a full block of 400 signed 128-byte
 * commands, ~100 KB as bytes, is ~13 KB as ids, and the leader sends it n - 1 times a round.
 *
 * A receiver rebuilds the block from its own copies, which are the very arrays its validation
 * pool hashed and checked (request ids and verdicts are remembered per array, DigestMemo), so
 * a rebuilt proposal costs no decode and no hash per request either. What it lacks it fetches
 * from the proposal's sender, which proposed from its own copies and so holds every one; a
 * sender that does not answer gets no vote from this replica, as if its proposal had not
 * arrived (the round times out like any other a faulty leader stalls).
 *
 * Only the wire form changes. The rebuilt block carries the id the leader sent, and the core
 * checks that id against the block's contents as for any proposal, so a rebuilt block that is
 * not the leader's block is refused there. Request ids are SHA-256 of the request's bytes:
 * whatever bytes a stash holds under an id are those bytes, whoever sent them.
 */
import type { CompactProposal, PayloadRef, RequestFetch, RequestFetchReply } from '../../network/codec.js';
import { Buffer } from 'node:buffer';
import type { Block, ConsensusMessage } from '../../protocol/types.js';

export type ProposalMessage = Extract<ConsensusMessage, { type: 'proposal' }>;

/** A request id as the digest memo keys it (32 latin1 characters) and as the wire carries it (32 bytes). */
export function keyToId(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}
export function idToKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
}

export interface StashEntry {
  readonly bytes: Uint8Array;
  /** `client`: submitted to this node by a client; `peer`: relayed by another validator. */
  readonly origin: 'client' | 'peer';
  /** When this node first saw it (clock ms). */
  readonly at: number;
}

export interface StashLimits {
  readonly maxRequests: number;
  readonly maxBytes: number;
}

function checkStashLimits(limits: StashLimits): void {
  if (!Number.isSafeInteger(limits.maxRequests) || limits.maxRequests < 1 || !Number.isSafeInteger(limits.maxBytes) || limits.maxBytes < 1) {
    throw new RangeError('request stash limits must be positive integers');
  }
}

/**
 * The requests this node has seen lately, by id: what compact proposals are rebuilt from. Filled
 * when a request arrives (a peer's relayed copies before they are validated, since a proposal can
 * overtake their validation and any bytes under an id are the right ones), bounded by count and
 * bytes, oldest out first. It holds references to arrays the mempool mostly holds too; the ones
 * only it holds are requests a full mempool refused, which a leader that had room may propose.
 */
export class RequestStash {
  readonly #entries = new Map<string, StashEntry>();
  /** Keys in arrival order from #head on: eviction takes the oldest in O(1). */
  #ring: string[] = [];
  #head = 0;
  #bytes = 0;

  constructor(readonly limits: StashLimits) {
    checkStashLimits(limits);
  }

  /** Remembers a request under its id; one already held keeps its first sighting. */
  add(key: string, bytes: Uint8Array, origin: StashEntry['origin'], now: number): void {
    if (this.#entries.has(key) || bytes.length > this.limits.maxBytes) return;
    this.#entries.set(key, { bytes, origin, at: now });
    this.#ring.push(key);
    this.#bytes += bytes.length;
    while (this.#entries.size > this.limits.maxRequests || this.#bytes > this.limits.maxBytes) this.#evictOldest();
  }

  get(key: string): StashEntry | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  #evictOldest(): void {
    const key = this.#ring[this.#head++]!;
    const entry = this.#entries.get(key)!;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes.length;
    // Drop the consumed front now and then, so the ring's array stays about the stash's size.
    if (this.#head >= 1024 && this.#head * 2 >= this.#ring.length) {
      this.#ring = this.#ring.slice(this.#head);
      this.#head = 0;
    }
  }
}

/**
 * One stash per origin (each relaying validator, and this node's own clients), so that a
 * validator relaying junk (well-formed frames of requests that fail validation, or that nobody
 * proposes) evicts only its own share: honest validators' requests stay where proposals find
 * them. A lookup asks each stash in turn; there are n of them.
 */
export class RequestStashes {
  readonly #byOrigin = new Map<string, RequestStash>();

  constructor(readonly limitsPerOrigin: StashLimits) {
    checkStashLimits(limitsPerOrigin);
  }

  /** `origin` names who handed it over: a peer id, or `client` for this node's own clients. */
  add(origin: string, key: string, bytes: Uint8Array, now: number): void {
    let stash = this.#byOrigin.get(origin);
    if (stash === undefined) {
      stash = new RequestStash(this.limitsPerOrigin);
      this.#byOrigin.set(origin, stash);
    }
    stash.add(key, bytes, origin === 'client' ? 'client' : 'peer', now);
  }

  get(key: string): StashEntry | undefined {
    for (const stash of this.#byOrigin.values()) {
      const entry = stash.get(key);
      if (entry !== undefined) return entry;
    }
    return undefined;
  }
}

/** What the compactor needs of a stash: the entry for a request id key. */
export interface StashView {
  get(key: string): StashEntry | undefined;
}

export interface CompactorOptions {
  /** Request ids, from the digest memo the validation pool and the core share. */
  readonly keyOf: (request: Uint8Array) => string;
  readonly stash: StashView;
  readonly now: () => number;
  /**
   * A request this node's own client submitted less than this long ago travels inline: its
   * relayed copies may still be on their way (the relay batches for a few ms, and a leader
   * proposes at once). Default 50 ms.
   */
  readonly inlineFreshMs?: number;
  /** How many of its latest proposals a leader keeps requests of, to answer fetches. Default 16. */
  readonly rememberProposals?: number;
}

export const DEFAULT_INLINE_FRESH_MS = 50;
const DEFAULT_REMEMBER_PROPOSALS = 16;

/**
 * The leader's side: writes a proposal's requests as ids where the other validators should hold
 * them, and answers their fetches for the rest from the proposals it sent.
 */
export class ProposalCompactor {
  readonly #opts: CompactorOptions;
  readonly #inlineFreshMs: number;
  readonly #remember: number;
  /** Requests of the latest proposals sent, by block id key, then by request id key; oldest first. */
  readonly #sent = new Map<string, ReadonlyMap<string, Uint8Array>>();

  constructor(opts: CompactorOptions) {
    this.#opts = opts;
    this.#inlineFreshMs = opts.inlineFreshMs ?? DEFAULT_INLINE_FRESH_MS;
    this.#remember = opts.rememberProposals ?? DEFAULT_REMEMBER_PROPOSALS;
    if (!(this.#inlineFreshMs >= 0) || !Number.isSafeInteger(this.#remember) || this.#remember < 1) {
      throw new RangeError('inlineFreshMs must be >= 0 and rememberProposals a positive integer');
    }
  }

  /**
   * The wire form of `message`: a compact proposal when at least one request goes as an id, the
   * proposal itself otherwise (an empty block, or one of only fresh local requests).
   */
  compact(message: ProposalMessage): ProposalMessage | CompactProposal {
    const { payload } = message.block;
    if (payload.length === 0) return message;
    const now = this.#opts.now();
    const keys: string[] = [];
    const refs: PayloadRef[] = [];
    let byId = 0;
    for (const bytes of payload) {
      const key = this.#opts.keyOf(bytes);
      keys.push(key);
      const seen = this.#opts.stash.get(key);
      if (seen === undefined || (seen.origin === 'client' && now - seen.at < this.#inlineFreshMs)) {
        refs.push({ bytes });
      } else {
        refs.push({ id: keyToId(key) });
        byId++;
      }
    }
    if (byId === 0) return message;
    this.#recordSent(idToKey(message.block.id), payload, keys);
    const block = { ...message.block, payload: refs };
    return message.tc === undefined ? { type: 'compact-proposal', block } : { type: 'compact-proposal', block, tc: message.tc };
  }

  /**
   * Answers a fetch: each asked request's bytes, or an empty array where this node holds none
   * (an honest request is never empty). Only for this node's own recent proposals, which is all
   * an honest replica asks a sender about: for any other block every answer is empty, so an ask
   * cannot turn this node's stash into replies. Undefined for an ask no honest replica makes (an
   * id twice), which the caller penalises. The answer stays within `maxReplyBytes` (its framing
   * included): past it, requests are answered empty.
   */
  serve(fetch: RequestFetch, maxReplyBytes: number): RequestFetchReply | undefined {
    const sent = this.#sent.get(idToKey(fetch.blockId));
    const asked = new Set<string>();
    const none = new Uint8Array(0);
    // The reply's framing: version and kind, the count, and a length per request.
    let budget = maxReplyBytes - 2 - 4 - 4 * fetch.ids.length;
    const requests: Uint8Array[] = [];
    for (const id of fetch.ids) {
      const key = idToKey(id);
      if (asked.has(key)) return undefined;
      asked.add(key);
      const bytes = sent?.get(key);
      if (bytes === undefined || bytes.length > budget) {
        requests.push(none);
        continue;
      }
      budget -= bytes.length;
      requests.push(bytes);
    }
    return { type: 'request-fetch-reply', requests };
  }

  #recordSent(blockKey: string, payload: readonly Uint8Array[], keys: readonly string[]): void {
    const byKey = new Map<string, Uint8Array>();
    for (let i = 0; i < keys.length; i++) byKey.set(keys[i]!, payload[i]!);
    this.#sent.delete(blockKey);
    this.#sent.set(blockKey, byKey);
    while (this.#sent.size > this.#remember) this.#sent.delete(this.#sent.keys().next().value!);
  }
}

/** Where the requests of a rebuilt proposal came from. */
export interface AssemblyCounts {
  readonly inline: number;
  readonly local: number;
  readonly fetched: number;
}

export type Assembly =
  | ({ readonly kind: 'complete'; readonly message: ProposalMessage } & AssemblyCounts)
  /** The sender did not supply requests its proposal named (no answer, or not those requests). */
  | { readonly kind: 'unavailable'; readonly missing: number; readonly detail: string }
  /** The sender answered with bytes that are not the requests asked for: it is faulty. */
  | { readonly kind: 'forged'; readonly detail: string };

export interface AssemblerOptions {
  readonly keyOf: (request: Uint8Array) => string;
  /** This node's copy of a request, by id key. */
  readonly lookup: (key: string) => Uint8Array | undefined;
  /** Asks the proposal's sender; undefined when it did not answer in time. */
  readonly fetch: (request: RequestFetch) => Promise<RequestFetchReply | undefined>;
}

/**
 * The replica's side: rebuilds the full proposal from a compact one, with this node's own
 * request arrays where it holds them and one fetch from the sender for the rest.
 */
export async function assembleProposal(message: CompactProposal, opts: AssemblerOptions): Promise<Assembly> {
  const refs = message.block.payload;
  const payload: (Uint8Array | undefined)[] = new Array(refs.length);
  // Missing requests by id key, each asked for once even if the proposal names it twice (the
  // core then refuses the block for its duplicate; the fetch is not where that is decided).
  const missing = new Map<string, { readonly id: Uint8Array; readonly at: number[] }>();
  let inline = 0;
  let absent = 0;
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    if ('bytes' in ref) {
      payload[i] = ref.bytes;
      inline++;
      continue;
    }
    const key = idToKey(ref.id);
    const held = opts.lookup(key);
    if (held !== undefined) {
      payload[i] = held;
      continue;
    }
    absent++;
    const entry = missing.get(key);
    if (entry) entry.at.push(i);
    else missing.set(key, { id: ref.id, at: [i] });
  }
  if (missing.size > 0) {
    const wanted = [...missing.values()];
    const ids = wanted.map((w) => w.id);
    const reply = await opts.fetch({ type: 'request-fetch', blockId: message.block.id, ids });
    if (reply === undefined) return { kind: 'unavailable', missing: ids.length, detail: 'no answer to the fetch' };
    if (reply.requests.length !== ids.length) return { kind: 'forged', detail: `asked for ${ids.length} requests, answered ${reply.requests.length}` };
    let unanswered = 0;
    for (let j = 0; j < ids.length; j++) {
      const bytes = reply.requests[j]!;
      if (bytes.length === 0) {
        unanswered++;
        continue;
      }
      if (opts.keyOf(bytes) !== idToKey(ids[j]!)) return { kind: 'forged', detail: `answer ${j} is not the request asked for` };
      for (const i of wanted[j]!.at) payload[i] = bytes;
    }
    if (unanswered > 0) return { kind: 'unavailable', missing: unanswered, detail: `the sender lacks ${unanswered} of the ${ids.length} requests asked for` };
  }
  const block: Block = { ...message.block, payload: payload as Uint8Array[] };
  const proposal: ProposalMessage = message.tc === undefined ? { type: 'proposal', block } : { type: 'proposal', block, tc: message.tc };
  return { kind: 'complete', message: proposal, inline, local: refs.length - inline - absent, fetched: absent };
}
