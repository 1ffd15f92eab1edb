/**
 * Commitments to the application state and the proofs a client checks against them. This module
 * imports only crypto/, so a light client can verify state without the replica code.
 *
 * The state is a set of (key, value) byte-string pairs with distinct keys. Its commitment:
 *
 *   leafData(k, v) = taggedHash("vsmr/state/v1", chainId, 0x00 || u16 len(k) || k || u32 len(v) || v)
 *   treeRoot       = RFC 6962 MTH over leafData of all pairs, sorted by key (unsigned lexicographic)
 *   stateRoot      = taggedHash("vsmr/state/v1", chainId, 0x01 || u64 n || treeRoot)   (n = number of pairs)
 *
 * The 0x00 / 0x01 byte keeps leaf data and roots apart under the one domain tag. Binding n into
 * the state root matters for proofs: an RFC 6962 inclusion proof authenticates its tree size only
 * through the root, and some (index, size) pairs share a path shape (index 4 verifies the same in
 * trees of 7 and 8), so a proof's size byte would otherwise be malleable. With n bound, every
 * field of an encoded proof is checked and any change to it fails verification.
 *
 * Absence of k is shown by the leaves on either side of where k would sort: indexes i and i+1
 * with key_i < k < key_{i+1}, or leaf 0 with k < key_0, or leaf n-1 with key_{n-1} < k, or n = 0.
 * Sound because the replicas that certified the root built it from sorted leaves and the
 * inclusion proofs pin each witness to its index.
 */
import { bytesEqual } from '../crypto/bytes.js';
import { CryptoError } from '../crypto/errors.js';
import { DOMAIN_TAGS, SHA256_LENGTH, taggedHash } from '../crypto/hash.js';
import { MAX_INCLUSION_PATH, MerkleProofError, merkleRoot, verifyInclusion } from '../crypto/merkle.js';
import { ByteReader, ByteWriter, compareBytes } from './bytes-io.js';

/** Hard limits of the tree and its proofs; the application's own limits are tighter. */
export const MAX_STATE_KEY_BYTES = 1024;
export const MAX_STATE_VALUE_BYTES = 8192;
const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;

/** RFC 6962 MTH of no leaves, SHA-256 of the empty string. */
export const EMPTY_TREE_ROOT: Uint8Array = merkleRoot([]);

const LEAF_KIND = Uint8Array.of(0x00);
const ROOT_KIND = Uint8Array.of(0x01);

export type StateProofRejectReason =
  | 'malformed'
  | 'root-mismatch'
  | 'invalid-inclusion'
  | 'key-mismatch'
  | 'not-adjacent'
  | 'key-order';

export class StateProofError extends CryptoError {
  constructor(
    readonly reason: StateProofRejectReason,
    detail: string,
  ) {
    super(`state proof rejected: ${reason}: ${detail}`, `STATE_PROOF_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

/** A leaf of the sorted tree with its RFC 9162 inclusion path (bottom-up). */
export interface LeafWitness {
  index: number;
  key: Uint8Array;
  value: Uint8Array;
  path: Uint8Array[];
}

/** `treeSize` and `treeRoot` open the state root; the witnesses are proven against `treeRoot`. */
export type StateProof =
  | { kind: 'member'; treeSize: number; treeRoot: Uint8Array; leaf: LeafWitness }
  | { kind: 'absent'; treeSize: number; treeRoot: Uint8Array; left: LeafWitness | null; right: LeafWitness | null };

export type StateLookup = { present: true; value: Uint8Array } | { present: false };

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >>> 8, n & 0xff);
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** The RFC 6962 leaf data of one pair (the tree then hashes it as SHA-256(0x00 || leafData)). */
export function stateLeafData(chainId: string, key: Uint8Array, value: Uint8Array): Uint8Array {
  if (key.length > MAX_STATE_KEY_BYTES || value.length > MAX_STATE_VALUE_BYTES) {
    throw new RangeError(`state entry over limits: key ${key.length} bytes, value ${value.length} bytes`);
  }
  return taggedHash(DOMAIN_TAGS.state, chainId, LEAF_KIND, u16(key.length), key, u32(value.length), value);
}

export function stateRootOf(chainId: string, treeSize: number, treeRoot: Uint8Array): Uint8Array {
  const size = new Uint8Array(8);
  new DataView(size.buffer).setBigUint64(0, BigInt(treeSize));
  return taggedHash(DOMAIN_TAGS.state, chainId, ROOT_KIND, size, treeRoot);
}

/** State root of the empty state. */
export function emptyStateRoot(chainId: string): Uint8Array {
  return stateRootOf(chainId, 0, EMPTY_TREE_ROOT);
}

// ---------------------------------------------------------------------------------------------
// Verification

function isUint53(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function checkBytes(v: unknown, what: string, length?: number, max?: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new StateProofError('malformed', `${what} is not a Uint8Array`);
  if (length !== undefined && v.length !== length) {
    throw new StateProofError('malformed', `${what} has ${v.length} bytes, expected ${length}`);
  }
  if (max !== undefined && v.length > max) throw new StateProofError('malformed', `${what} has ${v.length} bytes, limit ${max}`);
}

function checkWitness(w: unknown, what: string): asserts w is LeafWitness {
  if (typeof w !== 'object' || w === null) throw new StateProofError('malformed', `${what} is not an object`);
  const x = w as Partial<Record<keyof LeafWitness, unknown>>;
  if (!isUint53(x.index)) throw new StateProofError('malformed', `${what}.index is not a non-negative safe integer`);
  checkBytes(x.key, `${what}.key`, undefined, MAX_STATE_KEY_BYTES);
  checkBytes(x.value, `${what}.value`, undefined, MAX_STATE_VALUE_BYTES);
  if (!Array.isArray(x.path) || x.path.length > MAX_INCLUSION_PATH) {
    throw new StateProofError('malformed', `${what}.path is not an array of at most ${MAX_INCLUSION_PATH} hashes`);
  }
  for (let i = 0; i < x.path.length; i++) checkBytes(x.path[i] as unknown, `${what}.path[${i}]`, SHA256_LENGTH);
}

function checkProofShape(proof: unknown): asserts proof is StateProof {
  if (typeof proof !== 'object' || proof === null) throw new StateProofError('malformed', 'proof is not an object');
  const p = proof as Record<string, unknown>;
  if (!isUint53(p['treeSize'])) throw new StateProofError('malformed', 'treeSize is not a non-negative safe integer');
  checkBytes(p['treeRoot'], 'treeRoot', SHA256_LENGTH);
  if (p['kind'] === 'member') {
    checkWitness(p['leaf'], 'leaf');
  } else if (p['kind'] === 'absent') {
    if (p['left'] !== null) checkWitness(p['left'], 'left');
    if (p['right'] !== null) checkWitness(p['right'], 'right');
  } else {
    throw new StateProofError('malformed', `unknown proof kind ${JSON.stringify(String(p['kind']))}`);
  }
}

function checkInclusion(chainId: string, treeRoot: Uint8Array, treeSize: number, w: LeafWitness, what: string): void {
  try {
    verifyInclusion(treeRoot, stateLeafData(chainId, w.key, w.value), { index: w.index, treeSize, path: w.path });
  } catch (err) {
    if (err instanceof MerkleProofError) throw new StateProofError('invalid-inclusion', `${what}: ${err.reason}`);
    throw err;
  }
}

/**
 * Checks `proof` for `key` against a state root the caller trusts (from a certified block
 * header) and says whether the key is present and with which value. Throws StateProofError for
 * any proof that does not establish its claim; a chain id the hashing layer refuses is the
 * caller's bug and propagates as HashInputError.
 */
export function verifyStateProof(chainId: string, root: Uint8Array, key: Uint8Array, proof: StateProof): StateLookup {
  checkBytes(root, 'root', SHA256_LENGTH);
  checkBytes(key, 'key');
  checkProofShape(proof);
  const { treeSize, treeRoot } = proof;
  if (!bytesEqual(stateRootOf(chainId, treeSize, treeRoot), root)) {
    throw new StateProofError('root-mismatch', 'treeSize and treeRoot do not open the state root');
  }

  if (proof.kind === 'member') {
    const { leaf } = proof;
    if (!bytesEqual(leaf.key, key)) throw new StateProofError('key-mismatch', 'the proven leaf holds another key');
    checkInclusion(chainId, treeRoot, treeSize, leaf, 'leaf');
    return { present: true, value: leaf.value.slice() };
  }

  const { left, right } = proof;
  if (treeSize === 0) {
    if (left !== null || right !== null) throw new StateProofError('not-adjacent', 'an empty tree has no leaves to show');
    // Implied by the root check (n = 0 binds the empty MTH) unless SHA-256 collides; kept explicit.
    if (!bytesEqual(treeRoot, EMPTY_TREE_ROOT)) throw new StateProofError('root-mismatch', 'empty tree with a non-empty root');
    return { present: false };
  }
  if (left === null && right === null) {
    throw new StateProofError('not-adjacent', 'absence in a non-empty tree needs at least one neighbouring leaf');
  }
  if (left !== null) {
    if (right === null && left.index !== treeSize - 1) {
      throw new StateProofError('not-adjacent', `left neighbour ${left.index} without right one must be the last leaf ${treeSize - 1}`);
    }
    if (compareBytes(left.key, key) >= 0) throw new StateProofError('key-order', 'left neighbour does not sort before the key');
  }
  if (right !== null) {
    const expected = left === null ? 0 : left.index + 1;
    if (right.index !== expected) {
      throw new StateProofError('not-adjacent', `right neighbour is leaf ${right.index}, expected ${expected}`);
    }
    if (compareBytes(key, right.key) >= 0) throw new StateProofError('key-order', 'right neighbour does not sort after the key');
  }
  // Ordering is checked before hashing: it is cheap and a present key fails it outright.
  if (left !== null) checkInclusion(chainId, treeRoot, treeSize, left, 'left');
  if (right !== null) checkInclusion(chainId, treeRoot, treeSize, right, 'right');
  return { present: false };
}

/** `verifyStateProof` that reports failure as `null`; errors other than StateProofError propagate. */
export function tryVerifyStateProof(
  chainId: string,
  root: Uint8Array,
  key: Uint8Array,
  proof: StateProof,
): StateLookup | null {
  try {
    return verifyStateProof(chainId, root, key, proof);
  } catch (err) {
    if (err instanceof StateProofError) return null;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Canonical encoding
//
//   u8 kind (1 = member, 2 = absent) || u64 treeSize || treeRoot (32)
//   member: witness
//   absent: u8 flags (bit 0: left present, bit 1: right present; others 0) || [left] || [right]
//   witness: u64 index || u16 len(key) || key || u32 len(value) || value || u8 len(path) || path (32 each)

const KIND_MEMBER = 1;
const KIND_ABSENT = 2;

/** Largest encoding decodeStateProof accepts: an absence proof with two maximal witnesses. */
export const MAX_STATE_PROOF_BYTES =
  1 + 8 + SHA256_LENGTH + 1 + 2 * (8 + 2 + MAX_STATE_KEY_BYTES + 4 + MAX_STATE_VALUE_BYTES + 1 + MAX_INCLUSION_PATH * SHA256_LENGTH);

function writeWitness(w: ByteWriter, x: LeafWitness): void {
  w.u64(x.index).u16(x.key.length).bytes(x.key).u32(x.value.length).bytes(x.value).u8(x.path.length);
  for (const h of x.path) w.bytes(h);
}

/** Canonical bytes; throws StateProofError('malformed') for a structurally invalid proof. */
export function encodeStateProof(proof: StateProof): Uint8Array {
  checkProofShape(proof);
  const w = new ByteWriter();
  w.u8(proof.kind === 'member' ? KIND_MEMBER : KIND_ABSENT)
    .u64(proof.treeSize)
    .bytes(proof.treeRoot);
  if (proof.kind === 'member') {
    writeWitness(w, proof.leaf);
  } else {
    w.u8((proof.left === null ? 0 : 1) | (proof.right === null ? 0 : 2));
    if (proof.left !== null) writeWitness(w, proof.left);
    if (proof.right !== null) writeWitness(w, proof.right);
  }
  return w.finish();
}

const malformed = (detail: string) => new StateProofError('malformed', detail);

function readWitness(r: ByteReader, what: string): LeafWitness {
  const index = r.u53(`${what}.index`);
  if (index >= MAX_TREE_SIZE) throw malformed(`${what}.index out of range`);
  const keyLength = r.u16(`${what}.key length`);
  if (keyLength > MAX_STATE_KEY_BYTES) throw malformed(`${what}.key has ${keyLength} bytes, limit ${MAX_STATE_KEY_BYTES}`);
  const key = r.bytes(keyLength, `${what}.key`);
  const valueLength = r.u32(`${what}.value length`);
  if (valueLength > MAX_STATE_VALUE_BYTES) {
    throw malformed(`${what}.value has ${valueLength} bytes, limit ${MAX_STATE_VALUE_BYTES}`);
  }
  const value = r.bytes(valueLength, `${what}.value`);
  const pathLength = r.u8(`${what}.path length`);
  if (pathLength > MAX_INCLUSION_PATH) throw malformed(`${what}.path has ${pathLength} hashes, limit ${MAX_INCLUSION_PATH}`);
  const path: Uint8Array[] = [];
  for (let i = 0; i < pathLength; i++) path.push(r.bytes(SHA256_LENGTH, `${what}.path[${i}]`));
  return { index, key, value, path };
}

/**
 * Inverse of encodeStateProof; throws StateProofError('malformed') for oversized, truncated or
 * trailing bytes and unknown kinds or flags, so each accepted input re-encodes to itself.
 * Decoding checks structure only; verifyStateProof decides whether the proof holds.
 */
export function decodeStateProof(bytes: Uint8Array): StateProof {
  if (!(bytes instanceof Uint8Array)) throw malformed('encoded proof is not a Uint8Array');
  if (bytes.length > MAX_STATE_PROOF_BYTES) throw malformed(`${bytes.length} bytes, limit ${MAX_STATE_PROOF_BYTES}`);
  const r = new ByteReader(bytes, malformed);
  const kind = r.u8('kind');
  const treeSize = r.u53('treeSize');
  const treeRoot = r.bytes(SHA256_LENGTH, 'treeRoot');
  let proof: StateProof;
  if (kind === KIND_MEMBER) {
    proof = { kind: 'member', treeSize, treeRoot, leaf: readWitness(r, 'leaf') };
  } else if (kind === KIND_ABSENT) {
    const flags = r.u8('flags');
    if (flags > 3) throw malformed(`unknown flag bits in 0x${flags.toString(16)}`);
    const left = flags & 1 ? readWitness(r, 'left') : null;
    const right = flags & 2 ? readWitness(r, 'right') : null;
    proof = { kind: 'absent', treeSize, treeRoot, left, right };
  } else {
    throw malformed(`unknown proof kind ${kind}`);
  }
  r.end();
  return proof;
}
