/**
 * SHA-256 and domain-separated hashing.
 *
 * Every hashed or signed structure in vsmr starts with `domainPrefix(tag, chainId)`. The prefix
 * names the kind of structure and the chain, so bytes signed as a vote can never be replayed
 * as a timeout, a block or anything else, nor on another chain that shares validator keys.
 *
 * Prefix encoding (unambiguous and prefix-free, because both fields are length-prefixed):
 *
 *     u8 len(tag) || tag || u8 len(chainId) || chainId
 *
 *   - tag: ASCII, /^[a-z0-9][a-z0-9/._-]{0,63}$/ (1..64 bytes), e.g. `vsmr/vote/v1`;
 *     the trailing version lets a structure change its layout without colliding with the old one.
 *   - chainId: printable ASCII without space, /^[\x21-\x7e]{1,64}$/ (1..64 bytes, UTF-8 = ASCII).
 *
 * Restricting both to ASCII keeps the byte form identical in every language and rules out
 * Unicode normalisation or look-alike tricks; forbidding empty values avoids a "no chain" domain.
 */
import { createHash, hash as nodeOneShot } from 'node:crypto';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import sodium from 'sodium-native';
import { CryptoError } from './errors.js';

/** Which input to the hashing layer was refused. */
export type HashInputField = 'tag' | 'chain-id' | 'data';

/** A domain tag, chain id or data argument that the hashing layer refuses to hash. */
export class HashInputError extends CryptoError {
  constructor(
    readonly field: HashInputField,
    detail: string,
  ) {
    super(`invalid hash input (${field}): ${detail}`, 'HASH_INPUT');
  }
}

export const SHA256_LENGTH = 32;

/** The project's domain tags. Add new kinds here so they are reviewed against the existing ones. */
export const DOMAIN_TAGS = Object.freeze({
  vote: 'vsmr/vote/v1',
  timeout: 'vsmr/timeout/v1',
  block: 'vsmr/block/v1',
  request: 'vsmr/request/v1',
  qc: 'vsmr/qc/v1',
  pop: 'vsmr/pop/v1',
  state: 'vsmr/state/v2',
  log: 'vsmr/log/v2',
} as const);

export type DomainTag = (typeof DOMAIN_TAGS)[keyof typeof DOMAIN_TAGS];

const TAG_RE = /^[a-z0-9][a-z0-9/._-]{0,63}$/;
const CHAIN_ID_RE = /^[\x21-\x7e]{1,64}$/;

// Runtime guard: node:crypto would silently hash a string as UTF-8 (and noble would throw a
// library error), so a JS caller passing the wrong type must get our typed error instead.
function assertBytes(data: unknown, what: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new HashInputError('data', `${what} is not a Uint8Array`);
}

// Buffers from node:crypto are copied into plain Uint8Arrays so callers (and deepStrictEqual)
// see one type, and so no caller can hold a view into a pooled allocation.
function digestBytes(buf: Uint8Array): Uint8Array {
  return new Uint8Array(buf);
}

/**
 * Inputs up to this many bytes go to libsodium, longer ones to OpenSSL. Most of what a replica
 * hashes is small (Merkle nodes, state-tree pairs, keys and values, log leaves), and there the
 * cost is the call, not the compression: libsodium's one call took 1.1 us at 65 bytes and 1.5 us at
 * 128 where node:crypto's one-shot `hash` took 1.9 us (a createHash object 2.4-2.8 us). From
 * about 250 bytes OpenSSL's SHA-NI code wins, and by far on bulk data (47 vs 379 us at 64 KiB).
 * Measured on the 2-core bench machine with Node 24.
 */
const SMALL_INPUT_MAX = 192;

/**
 * SHA-256 of exactly the bytes of `view` (a subarray hashes only its window), as a fresh
 * Uint8Array. No argument check: for internal hot paths whose input is already bytes.
 */
export function sha256Bytes(view: Uint8Array): Uint8Array {
  if (view.length <= SMALL_INPUT_MAX) {
    const out = new Uint8Array(SHA256_LENGTH);
    sodium.crypto_hash_sha256(out, view);
    return out;
  }
  return digestBytes(nodeOneShot('sha256', view, 'buffer'));
}

/**
 * SHA-256 of a small input (at most SMALL_INPUT_MAX bytes) written into `out` (32 bytes): for
 * structures that keep a digest per node and rehash it in place, so that rehashing allocates
 * nothing. A Merkle tree of 10^5 nodes rehashing thousands of them per block otherwise makes a
 * fresh array per node that outlives the young generation, and the collector copies each twice.
 */
export function sha256SmallInto(out: Uint8Array, view: Uint8Array): void {
  if (out.length !== SHA256_LENGTH || view.length > SMALL_INPUT_MAX) {
    throw new HashInputError('data', `sha256SmallInto takes a ${SHA256_LENGTH}-byte output and at most ${SMALL_INPUT_MAX} bytes of input`);
  }
  sodium.crypto_hash_sha256(out, view);
}

/** SHA-256: libsodium for small inputs, OpenSSL (node:crypto) for bulk data; the same digest. */
export function sha256(data: Uint8Array): Uint8Array {
  assertBytes(data, 'data');
  return sha256Bytes(data);
}

/** SHA-256 through @noble/hashes: pure JS, used to cross-check the OpenSSL path. */
export function sha256Noble(data: Uint8Array): Uint8Array {
  assertBytes(data, 'data');
  return nobleSha256(data);
}

/** SHA-256 of the concatenation of `parts`, fed incrementally so no joined copy is built. */
export function sha256Parts(parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    assertBytes(part, `parts[${i}]`);
    h.update(part);
  }
  return digestBytes(h.digest());
}

// Bounded so that a caller looping over attacker-chosen chain ids cannot grow memory without
// limit; real nodes use a handful of (tag, chain) pairs, so FIFO eviction almost never fires.
const PREFIX_CACHE_LIMIT = 64;
const prefixCache = new Map<string, Uint8Array>();

function encodePrefix(tag: string, chainId: string): Uint8Array {
  if (typeof tag !== 'string' || !TAG_RE.test(tag)) {
    throw new HashInputError('tag', `tag must match ${TAG_RE.source}, got ${JSON.stringify(String(tag).slice(0, 80))}`);
  }
  if (typeof chainId !== 'string' || !CHAIN_ID_RE.test(chainId)) {
    throw new HashInputError(
      'chain-id',
      `chain id must be 1..64 printable ASCII characters without space, got ${JSON.stringify(String(chainId).slice(0, 80))}`,
    );
  }
  // Both strings are pure ASCII after validation, so one char is one byte.
  const out = new Uint8Array(2 + tag.length + chainId.length);
  out[0] = tag.length;
  for (let i = 0; i < tag.length; i++) out[1 + i] = tag.charCodeAt(i);
  const at = 1 + tag.length;
  out[at] = chainId.length;
  for (let i = 0; i < chainId.length; i++) out[at + 1 + i] = chainId.charCodeAt(i);
  return out;
}

// Returns the cached (shared) prefix: internal callers must not mutate or leak it.
function cachedPrefix(tag: string, chainId: string): Uint8Array {
  // A space is legal in neither field and only validated pairs are stored, so a cache hit
  // implies the exact same valid (tag, chainId): invalid input always reaches validation.
  const key = `${tag} ${chainId}`;
  let prefix = prefixCache.get(key);
  if (prefix === undefined) {
    prefix = encodePrefix(tag, chainId);
    if (prefixCache.size >= PREFIX_CACHE_LIMIT) {
      const oldest = prefixCache.keys().next().value;
      if (oldest !== undefined) prefixCache.delete(oldest);
    }
    prefixCache.set(key, prefix);
  }
  return prefix;
}

/**
 * `u8 len(tag) || tag || u8 len(chainId) || chainId`; throws HashInputError for an invalid tag
 * or chain id. Returns a fresh copy, so mutating it cannot corrupt later hashes.
 */
export function domainPrefix(tag: string, chainId: string): Uint8Array {
  return cachedPrefix(tag, chainId).slice();
}

/**
 * SHA-256(domainPrefix(tag, chainId) || parts[0] || parts[1] || ...).
 *
 * The prefix is length-prefixed, but `parts` are joined raw: splitting the same bytes
 * differently gives the same hash. Callers must pass a canonical encoding (fixed-width or
 * length-prefixed fields) of their structure, never ad-hoc variable-length pieces.
 */
export function taggedHash(tag: string, chainId: string, ...parts: Uint8Array[]): Uint8Array {
  const prefix = cachedPrefix(tag, chainId);
  let length = prefix.length;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    assertBytes(part, `parts[${i}]`);
    length += part.length;
  }
  if (length <= SMALL_INPUT_MAX) {
    // Joined in a scratch buffer for one small-input call; hashing is synchronous, so the
    // buffer is never shared between two calls.
    const joined = taggedScratch.subarray(0, length);
    joined.set(prefix);
    let at = prefix.length;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    return sha256Bytes(joined);
  }
  const h = createHash('sha256').update(prefix);
  for (const part of parts) h.update(part);
  return digestBytes(h.digest());
}

const taggedScratch = new Uint8Array(SMALL_INPUT_MAX);
