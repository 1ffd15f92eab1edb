/**
 * Log entries and their inclusion proofs: what a client checks against a certified log root.
 *
 *   leafData = taggedHash("vsmr/log/v2", chainId, u64 position || requestId || u8 result)
 *   logRoot  = RFC 6962 MTH over the leafData of positions 0..n-1
 *
 * The position inside each leaf is what pins an entry to its place, and the request id is what
 * pins it to one signed request: a client holding a certified log root, its request and a proof
 * learns "my request committed at position p with result r" without trusting the replica. (A
 * hash of the command alone would not do: two requests may carry the same command bytes, and a
 * replica could prove the other one's entry.) node/app/log.ts keeps the log itself.
 */
import { CryptoError } from '../crypto/errors.js';
import { DOMAIN_TAGS, domainPrefix, SHA256_LENGTH, sha256Bytes, taggedHash } from '../crypto/hash.js';
import type { InclusionProof } from '../crypto/merkle.js';
import { MerkleProofError, verifyInclusion } from '../crypto/merkle.js';
import type { Result } from './result.js';

export interface LogEntry {
  position: number;
  /**
   * SHA-256 of the payload entry exactly as the block carried it: for a client request, its
   * request id (the SHA-256 of its signed bytes, protocol/request.ts requestId).
   */
  requestId: Uint8Array;
  result: Result;
}

export type LogProofRejectReason = 'malformed' | 'position-mismatch' | 'invalid-inclusion';

export class LogProofError extends CryptoError {
  constructor(
    readonly reason: LogProofRejectReason,
    detail: string,
  ) {
    super(`log proof rejected: ${reason}: ${detail}`, `LOG_PROOF_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

const LOG_ENTRY_BYTES = 8 + SHA256_LENGTH + 1;

/** u64 position || requestId (32) || u8 result: the part of a leaf after the domain prefix. */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  const out = new Uint8Array(LOG_ENTRY_BYTES);
  writeLogEntry(out, new DataView(out.buffer), 0, entry);
  return out;
}

/** encodeLogEntry's bytes, written into `out` (viewed by `view`) at `at`. */
function writeLogEntry(out: Uint8Array, view: DataView, at: number, entry: LogEntry): void {
  view.setBigUint64(at, BigInt(entry.position));
  out.set(entry.requestId, at + 8);
  out[at + 8 + SHA256_LENGTH] = entry.result;
}

export function logLeafData(chainId: string, entry: LogEntry): Uint8Array {
  return taggedHash(DOMAIN_TAGS.log, chainId, encodeLogEntry(entry));
}

function checkEntry(entry: unknown): asserts entry is LogEntry {
  if (typeof entry !== 'object' || entry === null) throw new LogProofError('malformed', 'entry is not an object');
  const e = entry as Partial<Record<keyof LogEntry, unknown>>;
  if (typeof e.position !== 'number' || !Number.isSafeInteger(e.position) || e.position < 0) {
    throw new LogProofError('malformed', 'position is not a non-negative safe integer');
  }
  if (!(e.requestId instanceof Uint8Array) || e.requestId.length !== SHA256_LENGTH) {
    throw new LogProofError('malformed', 'requestId is not a 32-byte hash');
  }
  // Any u8 is accepted: a client older than the replica must still verify entries whose code it
  // does not know yet.
  if (typeof e.result !== 'number' || !Number.isInteger(e.result) || e.result < 0 || e.result > 0xff) {
    throw new LogProofError('malformed', 'result is not a u8');
  }
}

/**
 * Checks that `entry` is in the log whose root is `logRoot` (from a certified header). Throws
 * LogProofError on failure.
 */
export function verifyLogEntry(chainId: string, logRoot: Uint8Array, entry: LogEntry, proof: InclusionProof): void {
  checkEntry(entry);
  if (typeof proof !== 'object' || proof === null) throw new LogProofError('malformed', 'proof is not an object');
  // Implied by the leaf content (position p can only sit at index p of an honest log), but
  // checked so a confused prover is told so plainly.
  if (proof.index !== entry.position) {
    throw new LogProofError('position-mismatch', `proof is for index ${proof.index}, entry claims position ${entry.position}`);
  }
  try {
    verifyInclusion(logRoot, logLeafData(chainId, entry), proof);
  } catch (err) {
    if (err instanceof MerkleProofError) throw new LogProofError('invalid-inclusion', err.reason);
    throw err;
  }
}

/**
 * logLeafData for one chain, over a scratch buffer that already holds the domain prefix: the log
 * appends one leaf per committed command, and taggedHash would look up the prefix and build the
 * entry and the joined input afresh for each. Not shared between callers; hashing is synchronous,
 * so the scratch is never used by two calls at once.
 */
export class LogLeafHasher {
  readonly #scratch: Uint8Array;
  readonly #view: DataView;
  readonly #at: number;

  /** Throws HashInputError for a chain id the hashing layer refuses. */
  constructor(chainId: string) {
    const prefix = domainPrefix(DOMAIN_TAGS.log, chainId);
    this.#at = prefix.length;
    this.#scratch = new Uint8Array(prefix.length + LOG_ENTRY_BYTES);
    this.#scratch.set(prefix);
    this.#view = new DataView(this.#scratch.buffer);
  }

  /** logLeafData(chainId, entry); the caller has checked the entry (32-byte hash, a u8 result). */
  leafData(entry: LogEntry): Uint8Array {
    writeLogEntry(this.#scratch, this.#view, this.#at, entry);
    return sha256Bytes(this.#scratch);
  }
}
