/**
 * The authenticated map behind the application state: a binary sparse Merkle tree over key
 * hashes with path compression (see protocol/state-proof.ts for the commitment and the proofs).
 *
 * Shape. A key's place is fixed by SHA-256(key), not by its rank among the other keys, so adding
 * or removing a key only changes the nodes on its own path. The tree is kept canonical after
 * every operation: an empty subtree is absent (null), a subtree with one key is that key's leaf
 * placed as high as it can go, and an internal node always holds at least two keys. Insertion
 * splits a leaf by the first bit where the two key hashes differ; deletion collapses every
 * internal node left with a lone leaf and an empty side (the leaf moves up, repeatedly). Since a
 * canonical tree is determined by the key set alone, the root does not depend on the history of
 * sets and deletes that produced the map.
 *
 * Cost model. set and delete walk one path (expected depth about log2 n, at most 256) and mark
 * its nodes dirty without hashing. root() rehashes only dirty nodes, bottom-up, so a block that
 * touches k keys costs O(k log n) hashes once per block, upper nodes shared by several paths
 * being hashed once; for k << n that is a few thousand hashes where the former sorted-leaf tree
 * rehashed O(n). Those node hashes are most of the tree's cost, so root() gathers the dirty nodes
 * by depth and hashes each level in one multi-buffer call (sha256PairsInto): every child of a
 * node at depth d sits at depth d + 1, so a level needs only the level below it. prove() brings
 * the hashes up to date the same way, then copies one path.
 *
 * The nodes live in memory only; a persistent version would store them by version and hash.
 */
import { bytesEqual, bytesToHex } from '../../crypto/bytes.js';
import type { StateProof, StateProofTerminal } from '../../protocol/state-proof.js';
import { SHA256_LENGTH } from '../../crypto/hash.js';
import { PAIR_BYTES, sha256PairsInto } from '../../crypto/sha256-pairs.js';
import {
  EMPTY_TREE_ROOT,
  MAX_STATE_KEY_BYTES,
  MAX_STATE_VALUE_BYTES,
  pathBit,
  StateHasher,
  stateRootOf,
} from '../../protocol/state-proof.js';

// Each node owns its hash buffer for life and is rehashed into it (see sha256SmallInto): a root()
// after a block of a few hundred writes allocates nothing that outlives it.
class Leaf {
  /** Leaf node hash, valid unless `dirty` (the value changed since the last root()). */
  readonly hash = new Uint8Array(SHA256_LENGTH);
  dirty = true;
  constructor(
    readonly keyHash: Uint8Array,
    readonly key: Uint8Array,
    public value: Uint8Array,
  ) {}
}

class Internal {
  /** Node hash, valid unless `dirty` (anything below changed since the last root()). */
  readonly hash = new Uint8Array(SHA256_LENGTH);
  dirty = true;
  constructor(
    public left: TreeNode,
    public right: TreeNode,
  ) {}
}

/** null is an empty subtree. */
type TreeNode = Leaf | Internal | null;

function checkEntry(key: Uint8Array, value?: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length > MAX_STATE_KEY_BYTES) {
    throw new RangeError(`state key must be a Uint8Array of at most ${MAX_STATE_KEY_BYTES} bytes`);
  }
  if (value !== undefined && (!(value instanceof Uint8Array) || value.length > MAX_STATE_VALUE_BYTES)) {
    throw new RangeError(`state value must be a Uint8Array of at most ${MAX_STATE_VALUE_BYTES} bytes`);
  }
}

/** First bit position at or after `from` where two distinct key hashes differ. */
function firstDifferingBit(a: Uint8Array, b: Uint8Array, from: number): number {
  for (let i = from; i < 256; i++) if (pathBit(a, i) !== pathBit(b, i)) return i;
  // Two distinct keys with equal SHA-256: nothing sane can continue.
  throw new Error('SHA-256 collision between two state keys');
}

export class StateTree {
  readonly chainId: string;
  readonly #hasher: StateHasher;
  /** The leaves by hex(key), for get/has and to find a key's leaf without walking the tree. */
  readonly #leaves = new Map<string, Leaf>();
  #root: TreeNode = null;
  /** stateRootOf(size, tree root), null after any change. */
  #stateRoot: Uint8Array | null = null;
  /** The dirty internal nodes by depth, gathered by #rehash (kept to reuse their arrays). */
  readonly #levels: Internal[][] = [];
  /** Children's hashes of one level, 64 bytes per node, and their digests; grown as needed. */
  #pairs = new Uint8Array(0);
  #digests = new Uint8Array(0);

  constructor(chainId: string) {
    this.#hasher = new StateHasher(chainId); // refuses a bad chain id now, not at the first root()
    this.chainId = chainId;
  }

  get size(): number {
    return this.#leaves.size;
  }

  /** A copy of the value, or undefined when the key is absent. */
  get(key: Uint8Array): Uint8Array | undefined {
    checkEntry(key);
    return this.#leaves.get(bytesToHex(key))?.value.slice();
  }

  has(key: Uint8Array): boolean {
    checkEntry(key);
    return this.#leaves.has(bytesToHex(key));
  }

  /** Stores copies, so the caller may reuse its buffers. */
  set(key: Uint8Array, value: Uint8Array): void {
    checkEntry(key, value);
    const id = bytesToHex(key);
    const existing = this.#leaves.get(id);
    if (existing !== undefined) {
      if (bytesEqual(existing.value, value)) return;
      existing.value = value.slice();
      existing.dirty = true;
      this.#dirtyPath(existing.keyHash);
      return;
    }
    const leaf = new Leaf(this.#hasher.keyHash(key), key.slice(), value.slice());
    this.#leaves.set(id, leaf);
    this.#insert(leaf);
  }

  /** True when the key was present. */
  delete(key: Uint8Array): boolean {
    checkEntry(key);
    const id = bytesToHex(key);
    const leaf = this.#leaves.get(id);
    if (leaf === undefined) return false;
    this.#leaves.delete(id);
    this.#remove(leaf);
    return true;
  }

  /** The state root (state-proof.ts): a pure function of the key/value set. */
  root(): Uint8Array {
    if (this.#stateRoot === null) {
      this.#rehash();
      this.#stateRoot = stateRootOf(this.chainId, this.#leaves.size, this.#hashOf(this.#root));
    }
    return this.#stateRoot.slice();
  }

  /** Proof of the key's value, or of its absence, against root(). */
  prove(key: Uint8Array): StateProof {
    checkEntry(key);
    this.#rehash();
    const treeRoot = this.#hashOf(this.#root).slice();
    const keyHash = this.#hasher.keyHash(key);
    const siblings: Uint8Array[] = [];
    let node = this.#root;
    for (let depth = 0; node instanceof Internal; depth++) {
      const right = pathBit(keyHash, depth) === 1;
      siblings.push(this.#hashOf(right ? node.left : node.right).slice());
      node = right ? node.right : node.left;
    }
    siblings.reverse();
    let terminal: StateProofTerminal;
    if (node === null) terminal = { kind: 'empty' };
    else if (bytesEqual(node.keyHash, keyHash)) terminal = { kind: 'leaf', key: node.key.slice(), value: node.value.slice() };
    else terminal = { kind: 'other', keyHash: node.keyHash.slice(), valueHash: this.#hasher.valueHash(node.value) };
    return { treeSize: this.#leaves.size, treeRoot, siblings, terminal };
  }

  /**
   * Copies of all pairs in ascending key order (unsigned bytewise, a prefix first): the order
   * snapshots write. Sorted per call; snapshots are rare next to blocks.
   */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    // Lowercase hex has two characters per byte, so the default (UTF-16 code unit) sort of the
    // ASCII ids is exactly byte order, independent of locale and of the map's insertion order.
    for (const id of [...this.#leaves.keys()].sort()) {
      const leaf = this.#leaves.get(id)!;
      yield [leaf.key.slice(), leaf.value.slice()];
    }
  }

  #changed(): void {
    this.#stateRoot = null;
  }

  /** Marks the internal nodes above an existing leaf dirty. */
  #dirtyPath(keyHash: Uint8Array): void {
    this.#changed();
    let node = this.#root;
    for (let depth = 0; node instanceof Internal; depth++) {
      node.dirty = true;
      node = pathBit(keyHash, depth) === 1 ? node.right : node.left;
    }
  }

  #insert(leaf: Leaf): void {
    this.#changed();
    const keyHash = leaf.keyHash;
    let parent: Internal | null = null;
    let node = this.#root;
    let depth = 0;
    while (node instanceof Internal) {
      node.dirty = true;
      parent = node;
      node = pathBit(keyHash, depth) === 1 ? node.right : node.left;
      depth++;
    }
    let replacement: Leaf | Internal = leaf;
    if (node !== null) {
      // The slot holds another key's leaf: both go under a chain of internal nodes down to the
      // first bit where their hashes differ (one-sided above it, which is canonical: every node
      // on the chain holds both keys).
      const split = firstDifferingBit(node.keyHash, keyHash, depth);
      replacement = pathBit(keyHash, split) === 1 ? new Internal(node, leaf) : new Internal(leaf, node);
      for (let d = split - 1; d >= depth; d--) {
        replacement = pathBit(keyHash, d) === 1 ? new Internal(null, replacement) : new Internal(replacement, null);
      }
    }
    this.#attach(parent, depth - 1, keyHash, replacement);
  }

  #remove(leaf: Leaf): void {
    this.#changed();
    const keyHash = leaf.keyHash;
    const path: Internal[] = [];
    let node = this.#root;
    while (node instanceof Internal) {
      node.dirty = true;
      path.push(node);
      node = pathBit(keyHash, path.length - 1) === 1 ? node.right : node.left;
    }
    if (node !== leaf) throw new Error('state tree out of sync with its key map');
    // Walk up replacing the removed slot: a node left holding at most one key becomes that key's
    // leaf (or empty) and the question moves to its parent; the first node that still holds two
    // keys takes the replacement as its child, and nothing above it changes shape.
    let replacement: TreeNode = null;
    for (let depth = path.length - 1; depth >= 0; depth--) {
      const parent = path[depth]!;
      const sibling = pathBit(keyHash, depth) === 1 ? parent.left : parent.right;
      const collapses = sibling === null ? !(replacement instanceof Internal) : replacement === null && sibling instanceof Leaf;
      if (!collapses) {
        this.#attach(parent, depth, keyHash, replacement);
        return;
      }
      replacement = sibling ?? replacement;
    }
    this.#root = replacement;
  }

  /** Puts `child` under `parent` at the side `keyHash` takes at `depth`, or at the root. */
  #attach(parent: Internal | null, depth: number, keyHash: Uint8Array, child: TreeNode): void {
    if (parent === null) this.#root = child;
    else if (pathBit(keyHash, depth) === 1) parent.right = child;
    else parent.left = child;
  }

  /** The hash of a node that #rehash left clean. Shared: do not mutate. */
  #hashOf(node: TreeNode): Uint8Array {
    return node === null ? EMPTY_TREE_ROOT : node.hash;
  }

  /**
   * Brings every dirty hash up to date: dirty leaves as they are found, then the dirty internal
   * nodes a level at a time from the deepest, each level in one sha256PairsInto call.
   */
  #rehash(): void {
    const root = this.#root;
    if (root === null || !root.dirty) return;
    const levels = this.#levels;
    let deepest = -1;
    // Depth-first over dirty nodes only: a clean node's subtree is clean.
    const stack: (Leaf | Internal)[] = [root];
    const depths: number[] = [0];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const depth = depths.pop()!;
      if (node instanceof Leaf) {
        this.#hasher.leafInto(node.hash, node.keyHash, this.#hasher.valueHash(node.value));
        node.dirty = false;
        continue;
      }
      const level = levels[depth];
      if (level === undefined) levels[depth] = [node];
      else level.push(node);
      if (depth > deepest) deepest = depth;
      if (node.left?.dirty) {
        stack.push(node.left);
        depths.push(depth + 1);
      }
      if (node.right?.dirty) {
        stack.push(node.right);
        depths.push(depth + 1);
      }
    }
    for (let depth = deepest; depth >= 0; depth--) {
      const level = levels[depth];
      if (level === undefined || level.length === 0) continue;
      this.#hashLevel(level);
      level.length = 0;
    }
  }

  /** Hashes one level of dirty internal nodes whose children are all clean. */
  #hashLevel(level: readonly Internal[]): void {
    const count = level.length;
    if (this.#pairs.length < count * PAIR_BYTES) {
      this.#pairs = new Uint8Array(Math.max(count, 2 * (this.#pairs.length / PAIR_BYTES)) * PAIR_BYTES);
      this.#digests = new Uint8Array(this.#pairs.length / 2);
    }
    const pairs = this.#pairs;
    const digests = this.#digests;
    for (let i = 0; i < count; i++) {
      const node = level[i]!;
      pairs.set(this.#hashOf(node.left), i * PAIR_BYTES);
      pairs.set(this.#hashOf(node.right), i * PAIR_BYTES + SHA256_LENGTH);
    }
    sha256PairsInto(pairs.subarray(0, count * PAIR_BYTES), digests.subarray(0, count * SHA256_LENGTH));
    for (let i = 0; i < count; i++) {
      const node = level[i]!;
      node.hash.set(digests.subarray(i * SHA256_LENGTH, (i + 1) * SHA256_LENGTH));
      node.dirty = false;
    }
  }
}
