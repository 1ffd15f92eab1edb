/**
 * SHA-256 of many 64-byte inputs in one call: the internal nodes of a Merkle tree, SHA-256(left ||
 * right), a whole level of them at once.
 *
 * ChainSafe's `@chainsafe/hashtree` (Lodestar's Merkle hashing) runs the SHA-NI / AVX-512
 * multi-buffer code over a whole batch: 33-42 ns per node in batches of 16 or more on the bench
 * machine, against 0.5 us for one libsodium call (portable C, and a native call per node). Where
 * its prebuilt binary does not load (a platform it does not ship for), the same digests come from
 * libsodium one input at a time; `sha256PairsBackend` says which.
 */
import { createRequire } from 'node:module';
import sodium from 'sodium-native';
import { HashInputError, SHA256_LENGTH } from './hash.js';

/** Bytes of one input: two 32-byte child hashes. */
export const PAIR_BYTES = 2 * SHA256_LENGTH;

type HashInto = (input: Uint8Array, output: Uint8Array) => void;

/** One digest per 64-byte input, through libsodium: the fallback, and the reference in tests. */
export function sha256PairsIntoPortable(input: Uint8Array, output: Uint8Array): void {
  checkPairs(input, output);
  for (let i = 0, o = 0; i < input.length; i += PAIR_BYTES, o += SHA256_LENGTH) {
    sodium.crypto_hash_sha256(output.subarray(o, o + SHA256_LENGTH), input.subarray(i, i + PAIR_BYTES));
  }
}

function loadHashtree(): HashInto | undefined {
  try {
    const mod = createRequire(import.meta.url)('@chainsafe/hashtree') as { hashInto?: unknown };
    return typeof mod.hashInto === 'function' ? (mod.hashInto as HashInto) : undefined;
  } catch {
    return undefined;
  }
}

const hashtree = loadHashtree();

/** 'hashtree' when the native multi-buffer code is loaded, else 'sodium'. */
export const sha256PairsBackend: 'hashtree' | 'sodium' = hashtree ? 'hashtree' : 'sodium';

function checkPairs(input: Uint8Array, output: Uint8Array): void {
  if (!(input instanceof Uint8Array) || !(output instanceof Uint8Array) || input.length % PAIR_BYTES !== 0 || output.length !== input.length / 2) {
    throw new HashInputError('data', `sha256PairsInto takes k x ${PAIR_BYTES} input bytes and k x ${SHA256_LENGTH} output bytes`);
  }
  // The native code reads and writes in blocks: an output over its own input would be read back.
  if (
    input.buffer === output.buffer &&
    input.byteOffset < output.byteOffset + output.length &&
    output.byteOffset < input.byteOffset + input.length
  ) {
    throw new HashInputError('data', 'sha256PairsInto output overlaps its input');
  }
}

/** Writes SHA-256(input[64i .. 64i + 64]) to output[32i .. 32i + 32] for every i; they may not overlap. */
export function sha256PairsInto(input: Uint8Array, output: Uint8Array): void {
  if (hashtree === undefined) {
    sha256PairsIntoPortable(input, output);
    return;
  }
  checkPairs(input, output);
  if (input.length > 0) hashtree(input, output);
}
