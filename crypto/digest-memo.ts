import { hash } from 'node:crypto';

/**
 * SHA-256 digests of byte arrays, remembered per array object, as 32-character binary (latin1) strings
 * (compact map keys). A request's id is wanted on one validator by the validation pool (its
 * verified cache), by the consensus core (its queue, proposals and commits) and by the runtime
 * (clients' receipts), all on the same received bytes: one memo shared by them hashes each
 * received copy once instead of once per user. Held weakly, so it never keeps bytes alive, and it
 * holds nothing of the protocol's state: any instance gives the same answers.
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
}
