import { LRUCache } from 'lru-cache';

/**
 * Request ids that passed the stateless check, so a request validated at ingress is not verified
 * again when it shows up inside a proposal. Bounded LRU, so a flood of distinct valid requests
 * only evicts. The expiry is kept because "accepted" is relative to a height: a cached request
 * that has since expired must be answered as expired, not as accepted.
 *
 * lru-cache rather than an insertion-ordered Map: evicting a Map's oldest entry through a fresh
 * `keys()` iterator rescans the deleted slots at its front each time, so once full, each admitted
 * request cost 12-16 us instead of 0.3 (65,536 entries).
 */
export class VerifiedIdCache {
  /** Undefined when the limit is 0 (caching off). */
  readonly #entries: LRUCache<string, bigint> | undefined;

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('cache limit must be a non-negative integer');
    this.#entries = limit === 0 ? undefined : new LRUCache<string, bigint>({ max: limit });
  }

  static key(id: Uint8Array): string {
    return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
  }

  add(id: Uint8Array, expiry: bigint): void {
    this.addKey(VerifiedIdCache.key(id), expiry);
  }

  /** As add(), by key: lets a hot path build the key once (e.g. straight from the digest). */
  addKey(k: string, expiry: bigint): void {
    this.#entries?.set(k, expiry);
  }

  /** The cached expiry, refreshing the entry's recency; undefined when unknown. */
  get(id: Uint8Array): bigint | undefined {
    return this.getKey(VerifiedIdCache.key(id));
  }

  getKey(k: string): bigint | undefined {
    return this.#entries?.get(k);
  }

  has(id: Uint8Array): boolean {
    return this.#entries?.has(VerifiedIdCache.key(id)) ?? false;
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }
}
