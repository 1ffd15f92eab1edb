import { SHA256_LENGTH, sha256 } from '../crypto/hash.js';
import type { Block } from '../protocol/types.js';

/**
 * What the node's application log tells a restarted core ('state-installed' committedIds): the
 * request ids (SHA-256 of each command) of the newest `limit` commands of a committed ledger,
 * oldest first. The simulator and the core's test cluster have no application, so they read the
 * ledger's blocks; like the node's log, this ignores how far a restart pruned those blocks.
 */
export function committedRequestIds(ledger: readonly Block[], limit: number): Uint8Array {
  const newest: Uint8Array[] = [];
  for (let h = ledger.length - 1; h >= 0 && newest.length < limit; h--) {
    const payload = ledger[h]!.payload;
    for (let i = payload.length - 1; i >= 0 && newest.length < limit; i--) newest.push(payload[i]!);
  }
  const out = new Uint8Array(newest.length * SHA256_LENGTH);
  newest.reverse();
  for (let i = 0; i < newest.length; i++) out.set(sha256(newest[i]!), i * SHA256_LENGTH);
  return out;
}
