/**
 * Request ids that passed the stateless check, so a request validated at ingress is not verified
 * again when it shows up inside a proposal. Bounded LRU (insertion-ordered Map: a hit moves the
 * entry to the back, eviction drops the front), so a flood of distinct valid requests only evicts.
 * The expiry is kept because "accepted" is relative to a height: a cached request that has since
 * expired must be answered as expired, not as accepted.
 */
export class VerifiedIdCache {
  readonly #entries = new Map<string, bigint>();

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('cache limit must be a non-negative integer');
  }

  static key(id: Uint8Array): string {
    return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
  }

  add(id: Uint8Array, expiry: bigint): void {
    this.addKey(VerifiedIdCache.key(id), expiry);
  }

  /** As add(), by key: lets a hot path build the key once (e.g. straight from the digest). */
  addKey(k: string, expiry: bigint): void {
    if (this.limit === 0) return;
    this.#entries.delete(k);
    if (this.#entries.size >= this.limit) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(k, expiry);
  }

  /** The cached expiry, refreshing the entry's recency; undefined when unknown. */
  get(id: Uint8Array): bigint | undefined {
    return this.getKey(VerifiedIdCache.key(id));
  }

  getKey(k: string): bigint | undefined {
    const hit = this.#entries.get(k);
    if (hit !== undefined) {
      this.#entries.delete(k);
      this.#entries.set(k, hit);
    }
    return hit;
  }

  has(id: Uint8Array): boolean {
    return this.#entries.has(VerifiedIdCache.key(id));
  }

  get size(): number {
    return this.#entries.size;
  }
}
