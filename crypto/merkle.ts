/**
 * Binary Merkle tree over an ordered list (the committed log), exactly as RFC 6962 §2.1 /
 * RFC 9162 §2.1 define it, so that roots and proofs interoperate with Certificate
 * Transparency tooling and can be checked against its published test vectors:
 *
 *   MTH({})        = SHA-256()
 *   MTH({d0})      = SHA-256(0x00 || d0)
 *   MTH(D[0:n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),  k = largest power of 2 < n
 *
 * The distinct 0x00 / 0x01 prefixes keep a leaf from ever being passed off as an interior node
 * (second-preimage attack on naive Merkle trees).
 *
 * Internally the tree is built bottom-up, pairing neighbours and promoting a lone last node
 * unchanged to the next level. That yields the same tree as the recursive split rule (the
 * left subtree of every split is complete), in O(n) hashes with no recursion.
 */
import { createHash } from 'node:crypto';
import { bytesEqual } from './bytes.js';
import { CryptoError } from './errors.js';
import { HashInputError, SHA256_LENGTH, sha256Bytes } from './hash.js';

/** Why an inclusion proof was refused; `reason` is stable for tests and metrics. */
export type MerkleProofRejectReason = 'index-out-of-range' | 'path-length' | 'root-mismatch' | 'malformed';

export class MerkleProofError extends CryptoError {
  constructor(
    readonly reason: MerkleProofRejectReason,
    detail: string,
  ) {
    super(`Merkle inclusion proof rejected: ${reason}: ${detail}`, `MERKLE_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

/** RFC 9162 §2.1.3 inclusion proof: `path` is ordered bottom-up (the leaf's sibling first). */
export interface InclusionProof {
  index: number;
  treeSize: number;
  path: Uint8Array[];
}

/**
 * Hard cap on path hashes: a tree with a u64 size never needs more than 64 (and with sizes
 * limited to 2^53-1, as here, at most 53), so anything longer is garbage, refused unread.
 */
export const MAX_INCLUSION_PATH = 64;

/** Encoded header: u64 index || u64 treeSize || u8 path length. */
const PROOF_HEADER_BYTES = 17;

const LEAF_PREFIX = Uint8Array.of(0x00);
const EMPTY_ROOT: Uint8Array = new Uint8Array(createHash('sha256').digest());

// Hot path: these 33..65-byte inputs are joined in reused scratch buffers and hashed in one
// small-input call (sha256Bytes: libsodium here); safe because hashing is synchronous and never
// re-enters. Results are fresh arrays.
const LEAF_SCRATCH_MAX = 1024;
const leafScratch = new Uint8Array(1 + LEAF_SCRATCH_MAX); // [0] stays 0x00
const nodeScratch = new Uint8Array(1 + 2 * SHA256_LENGTH);
nodeScratch[0] = 0x01;

function leafDigest(data: Uint8Array): Uint8Array {
  if (data.length > LEAF_SCRATCH_MAX) return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
  leafScratch.set(data, 1);
  return sha256Bytes(leafScratch.subarray(0, 1 + data.length));
}

function nodeDigest(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + SHA256_LENGTH);
  return sha256Bytes(nodeScratch);
}

function assertLeaf(data: unknown, what: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new HashInputError('data', `${what} is not a Uint8Array`);
}

function assertLeafList(leaves: readonly Uint8Array[]): void {
  if (!Array.isArray(leaves)) throw new HashInputError('data', 'leaves is not an array');
  for (let i = 0; i < leaves.length; i++) assertLeaf(leaves[i], `leaves[${i}]`);
}

function isUint53(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** SHA-256(0x00 || data). */
export function merkleLeafHash(data: Uint8Array): Uint8Array {
  assertLeaf(data, 'leaf data');
  return new Uint8Array(leafDigest(data));
}

/** SHA-256(0x01 || left || right); both children must be 32-byte hashes. */
export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (!(left instanceof Uint8Array) || left.length !== SHA256_LENGTH) {
    throw new HashInputError('data', 'left child is not a 32-byte hash');
  }
  if (!(right instanceof Uint8Array) || right.length !== SHA256_LENGTH) {
    throw new HashInputError('data', 'right child is not a 32-byte hash');
  }
  return new Uint8Array(nodeDigest(left, right));
}

/** Leaf hashes of `leaves`, packed 32 bytes apiece into one buffer (one allocation, not n). */
function hashLeavesFlat(leaves: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(leaves.length * SHA256_LENGTH);
  for (let i = 0; i < leaves.length; i++) out.set(leafDigest(leaves[i]!), i * SHA256_LENGTH);
  return out;
}

function packHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * SHA256_LENGTH);
  for (let i = 0; i < hashes.length; i++) out.set(hashes[i]!, i * SHA256_LENGTH);
  return out;
}

/** Leaf hashes already packed and owned by the tree; module-private, see fromLeafHashes and fromPackedLeafHashes. */
class PackedLeafHashes {
  /** Makes the class nominal: a plain `{ bytes }` object does not pass for one. */
  readonly #packed = true;
  constructor(readonly bytes: Uint8Array) {}

  static is(x: unknown): x is PackedLeafHashes {
    return typeof x === 'object' && x !== null && #packed in x;
  }
}

/** One level up: pairs neighbours, promotes a lone last node as is. */
function parentLevel(level: Uint8Array, count: number, out: Uint8Array): number {
  const pairs = Math.floor(count / 2);
  for (let j = 0; j < pairs; j++) {
    const l = 2 * j * SHA256_LENGTH;
    // Digest is computed before it is written, so `out` may alias `level` (in-place reduction).
    out.set(
      nodeDigest(level.subarray(l, l + SHA256_LENGTH), level.subarray(l + SHA256_LENGTH, l + 2 * SHA256_LENGTH)),
      j * SHA256_LENGTH,
    );
  }
  if (count % 2 === 1) {
    const last = (count - 1) * SHA256_LENGTH;
    out.set(level.subarray(last, last + SHA256_LENGTH), pairs * SHA256_LENGTH);
  }
  return Math.ceil(count / 2);
}

/** MTH of raw leaf data (each leaf is hashed with the 0x00 prefix here; do not pre-hash). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  assertLeafList(leaves);
  if (leaves.length === 0) return EMPTY_ROOT.slice();
  // Reduce in place: only the root is wanted, so no per-level storage.
  const buf = hashLeavesFlat(leaves);
  let count = leaves.length;
  while (count > 1) count = parentLevel(buf, count, buf);
  return buf.slice(0, SHA256_LENGTH);
}

function checkPacked(packed: unknown): asserts packed is Uint8Array {
  if (!(packed instanceof Uint8Array) || packed.length % SHA256_LENGTH !== 0) {
    throw new HashInputError('data', `packed leaf hashes must be a Uint8Array of a multiple of ${SHA256_LENGTH} bytes`);
  }
}

/**
 * MTH of leaves given by their leaf hashes (merkleLeafHash of each leaf's data), packed 32
 * bytes apiece: what a log that keeps its leaf hashes in one slab has at hand. `packed` is not
 * changed.
 */
export function merkleRootOfLeafHashes(packed: Uint8Array): Uint8Array {
  checkPacked(packed);
  let count = packed.length / SHA256_LENGTH;
  if (count === 0) return EMPTY_ROOT.slice();
  if (count === 1) return new Uint8Array(packed);
  // The first level up goes to a buffer of our own (never Buffer.slice, which would be a view
  // of the caller's memory), and the rest reduces in place there.
  const buf = new Uint8Array(Math.ceil(count / 2) * SHA256_LENGTH);
  count = parentLevel(packed, count, buf);
  while (count > 1) count = parentLevel(buf, count, buf);
  return buf.slice(0, SHA256_LENGTH);
}

/**
 * Number of path hashes RFC 9162 §2.1.3.2 consumes for (index, treeSize): the iterations of
 * its fn/sn loop until sn reaches 0. Requires index < treeSize. Arithmetic rather than bit
 * operators because indexes may exceed 2^31 (JS bit operators are 32-bit).
 */
export function inclusionProofLength(index: number, treeSize: number): number {
  if (!isUint53(index) || !isUint53(treeSize) || index >= treeSize) {
    throw new MerkleProofError('index-out-of-range', `index ${index} is not inside a tree of size ${treeSize}`);
  }
  let fn = index;
  let sn = treeSize - 1;
  let length = 0;
  while (sn !== 0) {
    if (fn % 2 === 0 && fn === sn) {
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    length++;
  }
  return length;
}

/**
 * A Merkle tree built once from leaf data. Every level is kept (about 2n hashes in
 * ceil(log2 n) + 1 flat buffers) so that each inclusion proof is O(log n) copies.
 */
export class MerkleTree {
  readonly size: number;
  // levels[0] holds the leaf hashes, the last level holds the root; each packed 32 bytes apiece.
  readonly #levels: Uint8Array[];
  readonly #root: Uint8Array;

  constructor(leaves: readonly Uint8Array[] | PackedLeafHashes) {
    let level: Uint8Array;
    if (PackedLeafHashes.is(leaves)) level = leaves.bytes;
    else {
      assertLeafList(leaves);
      level = hashLeavesFlat(leaves);
    }
    let count = level.length / SHA256_LENGTH;
    this.size = count;
    this.#levels = [];
    if (count === 0) {
      this.#root = EMPTY_ROOT.slice();
      return;
    }
    this.#levels.push(level);
    while (count > 1) {
      const next = new Uint8Array(Math.ceil(count / 2) * SHA256_LENGTH);
      count = parentLevel(level, count, next);
      this.#levels.push(next);
      level = next;
    }
    this.#root = level.slice(0, SHA256_LENGTH);
  }

  /**
   * The same tree from leaf hashes (merkleLeafHash of each leaf's data) a caller kept: a state
   * that changes a few leaves per block rehashes only those, not every leaf.
   */
  static fromLeafHashes(leafHashes: readonly Uint8Array[]): MerkleTree {
    assertLeafList(leafHashes);
    for (let i = 0; i < leafHashes.length; i++) {
      if (leafHashes[i]!.length !== SHA256_LENGTH) throw new HashInputError('data', `leaf hash ${i} is not ${SHA256_LENGTH} bytes`);
    }
    return new MerkleTree(new PackedLeafHashes(packHashes(leafHashes)));
  }

  /** The same from leaf hashes packed 32 bytes apiece; `packed` is copied, not kept. */
  static fromPackedLeafHashes(packed: Uint8Array): MerkleTree {
    checkPacked(packed);
    // A copy in every case: Buffer.slice would be a view of the caller's memory.
    return new MerkleTree(new PackedLeafHashes(new Uint8Array(packed)));
  }

  /** MTH of the leaves; a copy, so callers cannot corrupt the tree. */
  get root(): Uint8Array {
    return this.#root.slice();
  }

  /** SHA-256(0x00 || leaf data) of leaf `index`. */
  leafHash(index: number): Uint8Array {
    this.#checkIndex(index);
    return this.#levels[0]!.slice(index * SHA256_LENGTH, (index + 1) * SHA256_LENGTH);
  }

  /** RFC 9162 PATH(index, D[0:size]), bottom-up; entries are copies. */
  proveInclusion(index: number): InclusionProof {
    this.#checkIndex(index);
    const path: Uint8Array[] = [];
    let i = index;
    for (let depth = 0; depth < this.#levels.length - 1; depth++) {
      const level = this.#levels[depth]!;
      const sibling = i % 2 === 0 ? i + 1 : i - 1;
      // No sibling means this node was promoted unchanged: the level contributes no hash.
      if (sibling * SHA256_LENGTH < level.length) {
        path.push(level.slice(sibling * SHA256_LENGTH, (sibling + 1) * SHA256_LENGTH));
      }
      i = Math.floor(i / 2);
    }
    return { index, treeSize: this.size, path };
  }

  #checkIndex(index: number): void {
    if (!isUint53(index) || index >= this.size) {
      throw new MerkleProofError('index-out-of-range', `index ${index} is not inside a tree of size ${this.size}`);
    }
  }
}

function checkProofShape(proof: unknown): asserts proof is InclusionProof {
  if (typeof proof !== 'object' || proof === null) throw new MerkleProofError('malformed', 'proof is not an object');
  const p = proof as Partial<Record<keyof InclusionProof, unknown>>;
  if (!isUint53(p.index)) throw new MerkleProofError('malformed', 'index is not a non-negative safe integer');
  if (!isUint53(p.treeSize)) throw new MerkleProofError('malformed', 'treeSize is not a non-negative safe integer');
  if (!Array.isArray(p.path)) throw new MerkleProofError('malformed', 'path is not an array');
  if (p.path.length > MAX_INCLUSION_PATH) {
    throw new MerkleProofError('path-length', `path has ${p.path.length} entries, limit ${MAX_INCLUSION_PATH}`);
  }
  for (let i = 0; i < p.path.length; i++) {
    const h: unknown = p.path[i];
    if (!(h instanceof Uint8Array) || h.length !== SHA256_LENGTH) {
      throw new MerkleProofError('malformed', `path[${i}] is not a 32-byte hash`);
    }
  }
}

/**
 * RFC 9162 §2.1.3.2: checks that `leafData` is leaf `proof.index` of the tree of size
 * `proof.treeSize` whose root is `root`. Throws MerkleProofError (and nothing else) on any
 * failure. A path whose length differs from what the algorithm consumes is refused before any
 * hashing, so padded or truncated proofs never reach the root comparison.
 *
 * Note: the tree size is authenticated only through the root. A proof can also verify under a
 * different treeSize whose path has the same shape (e.g. index 4 of 7 and of 8), so the root
 * and size must come from the same signed tree head.
 */
export function verifyInclusion(root: Uint8Array, leafData: Uint8Array, proof: InclusionProof): void {
  if (!(root instanceof Uint8Array) || root.length !== SHA256_LENGTH) {
    throw new MerkleProofError('malformed', 'root is not a 32-byte hash');
  }
  if (!(leafData instanceof Uint8Array)) throw new MerkleProofError('malformed', 'leaf data is not a Uint8Array');
  checkProofShape(proof);
  const { index, treeSize, path } = proof;
  if (index >= treeSize) {
    throw new MerkleProofError('index-out-of-range', `index ${index} is not inside a tree of size ${treeSize}`);
  }
  const expected = inclusionProofLength(index, treeSize);
  if (path.length !== expected) {
    throw new MerkleProofError('path-length', `index ${index} of ${treeSize} needs ${expected} hashes, got ${path.length}`);
  }

  let fn = index;
  let sn = treeSize - 1;
  let r = leafDigest(leafData);
  for (const p of path) {
    // Step 4a; unreachable after the length check above, kept so the loop is the RFC's verbatim.
    if (sn === 0) throw new MerkleProofError('path-length', 'path longer than the tree is deep');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeDigest(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeDigest(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new MerkleProofError('path-length', 'path shorter than the tree is deep');
  if (!bytesEqual(r, root)) throw new MerkleProofError('root-mismatch', 'computed root differs from the expected root');
}

/** `verifyInclusion` as a boolean; any other error (a bug) still propagates. */
export function isValidInclusion(root: Uint8Array, leafData: Uint8Array, proof: InclusionProof): boolean {
  try {
    verifyInclusion(root, leafData, proof);
    return true;
  } catch (err) {
    if (err instanceof MerkleProofError) return false;
    throw err;
  }
}

/**
 * Canonical bytes: u64 index (BE) || u64 treeSize (BE) || u8 path length || path hashes
 * (32 bytes each). Only the structure is checked here (safe integers, <= 64 hashes of 32
 * bytes); whether the proof is valid is `verifyInclusion`'s job.
 */
export function encodeInclusionProof(proof: InclusionProof): Uint8Array {
  checkProofShape(proof);
  const out = new Uint8Array(PROOF_HEADER_BYTES + proof.path.length * SHA256_LENGTH);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(proof.index));
  view.setBigUint64(8, BigInt(proof.treeSize));
  out[16] = proof.path.length;
  for (let i = 0; i < proof.path.length; i++) out.set(proof.path[i]!, PROOF_HEADER_BYTES + i * SHA256_LENGTH);
  return out;
}

/**
 * Inverse of `encodeInclusionProof`. Throws MerkleProofError('malformed') for any length other
 * than the exact one the header announces, a path over 64 hashes, or an integer beyond 2^53-1,
 * so every accepted input re-encodes to the same bytes. Hashes are copied out of `bytes`.
 */
export function decodeInclusionProof(bytes: Uint8Array): InclusionProof {
  if (!(bytes instanceof Uint8Array)) throw new MerkleProofError('malformed', 'encoded proof is not a Uint8Array');
  if (bytes.length < PROOF_HEADER_BYTES) {
    throw new MerkleProofError('malformed', `encoded proof has ${bytes.length} bytes, header alone needs ${PROOF_HEADER_BYTES}`);
  }
  const pathLength = bytes[16]!;
  if (pathLength > MAX_INCLUSION_PATH) {
    throw new MerkleProofError('malformed', `path length ${pathLength} exceeds ${MAX_INCLUSION_PATH}`);
  }
  const expected = PROOF_HEADER_BYTES + pathLength * SHA256_LENGTH;
  if (bytes.length !== expected) {
    throw new MerkleProofError('malformed', `encoded proof has ${bytes.length} bytes, expected ${expected}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const index = view.getBigUint64(0);
  const treeSize = view.getBigUint64(8);
  if (index > BigInt(Number.MAX_SAFE_INTEGER) || treeSize > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new MerkleProofError('malformed', 'index or tree size exceeds 2^53-1');
  }
  const path: Uint8Array[] = [];
  for (let i = 0; i < pathLength; i++) {
    const at = PROOF_HEADER_BYTES + i * SHA256_LENGTH;
    path.push(bytes.slice(at, at + SHA256_LENGTH));
  }
  return { index: Number(index), treeSize: Number(treeSize), path };
}
