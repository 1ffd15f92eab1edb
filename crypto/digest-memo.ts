import { hash } from 'node:crypto';

/**
 * SHA-256 digests of byte arrays, remembered per array object, as 32-character binary (latin1)
 * strings (compact map keys). A request's id is wanted on one validator by the validation pool
 * (its verified cache), by the consensus core (its queue, proposals and commits) and by the
 * runtime (clients' receipts), all on the same received bytes: one memo shared by them hashes
 * each received copy once instead of once per user. Held weakly, so it never keeps bytes alive.
 *
 * An array is keyed by identity, so its bytes must not change once it has been asked about: a
 * changed array keeps the digest of what it held. vsmr's request arrays are decoded from frames
 * and never written afterwards; StatelessValidator and ValidatorNode.submit state the same rule
 * for their callers. A changed request would inherit a cached verdict, and, since execution takes
 * committed requests' ids from this memo, a wrong id in this replica's log: its log root, and so
 * its executed state, would differ from every other replica's.
 */
export class DigestMemo {
  readonly #memo = new WeakMap<Uint8Array, string>();

  /** The digest of exactly the bytes of `bytes` (a subarray hashes only its window). */
  key(bytes: Uint8Array): string {
    let key = this.#memo.get(bytes);
    if (key === undefined) {
      key = hash('sha256', bytes, 'binary');
      this.#memo.set(bytes, key);
    }
    return key;
  }

  /** The same digest as a fresh 32-byte array (the caller may keep or change it). */
  digest(bytes: Uint8Array): Uint8Array {
    return digestOfKey(this.key(bytes));
  }
}

/** A key of DigestMemo as the digest's bytes, in a fresh array. */
export function digestOfKey(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** The key of DigestMemo for a digest's bytes (the inverse of digestOfKey). */
export function keyOfDigest(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('latin1');
}
