/**
 * The authenticated map behind the application state: a binary sparse Merkle tree over key
 * hashes with path compression (see protocol/state-proof.ts for the commitment and the proofs).
 *
 * Shape. A key's place is fixed by SHA-256(key), not by its rank among the other keys, so adding
 * or removing a key only changes the nodes on its own path. The tree is kept canonical after
 * every operation: an empty subtree is absent (reference 0), a subtree with one key is that key's leaf
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
 * Layout. What is left after batching the hashes is memory latency: walking a path and copying
 * child hashes touch one cache line per node or so, and objects with their own hash buffers
 * cost several. So the nodes live in flat typed arrays: an internal node is an index into
 * `children` (two references, left then right) and into one slab of 32-byte hashes; a leaf is an
 * index into slabs of leaf hashes and key hashes and a slot of the pair arena (pair-arena.ts:
 * keys and values packed into large chunks), so a key costs the heap no object of its own
 * besides its entry in the key map. A reference to a child is a number: 0 an empty subtree,
 * i > 0 internal node i, -i leaf i. Slot 0 of the internal hash slab is never written, so it
 * holds EMPTY's 32 zero bytes. Freed indices are reused, and the arrays double when full; they
 * never shrink, so a tree keeps the memory of its largest size (about 42 bytes per internal
 * node and 79 per leaf with the arena's bookkeeping, besides the pairs' own bytes).
 *
 * The nodes live in memory only; a persistent version would store them by version and hash.
 */
import { bytesEqual, bytesToHex } from '../../crypto/bytes.js';
import type { StateProof, StateProofTerminal } from '../../protocol/state-proof.js';
import { SHA256_LENGTH } from '../../crypto/hash.js';
import { HashSlab, widened } from '../../crypto/hash-slab.js';
import { PairArena } from './pair-arena.js';
import { PAIR_BYTES, sha256PairsInto } from '../../crypto/sha256-pairs.js';
import {
  EMPTY_TREE_ROOT,
  MAX_STATE_KEY_BYTES,
  MAX_STATE_VALUE_BYTES,
  pathBit,
  StateHasher,
  stateRootOf,
} from '../../protocol/state-proof.js';

/** A child reference: EMPTY, i > 0 for internal node i, -i for leaf i. */
type Ref = number;
const EMPTY: Ref = 0;
/** 32-bit words per hash: the slabs are copied a word at a time. */
const WORDS = SHA256_LENGTH / 4;
const INITIAL_CAPACITY = 1024;
// Key lengths are kept in a Uint16Array.
if (MAX_STATE_KEY_BYTES > 0xffff) throw new Error('state keys longer than 65535 bytes need wider key-length storage');

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
  /** Leaf indices by hex(key), for get/has and to find a key's leaf without walking the tree. */
  readonly #leaves = new Map<string, number>();
  #root: Ref = EMPTY;
  /** stateRootOf(size, tree root), null after any change. */
  #stateRoot: Uint8Array | null = null;

  // Internal nodes: index i has children 2i (left) and 2i + 1 (right), hash slot i, dirty flag i.
  #children = new Int32Array(2 * INITIAL_CAPACITY);
  #dirty = new Uint8Array(INITIAL_CAPACITY);
  readonly #hashes = new HashSlab(INITIAL_CAPACITY);
  /** Index 0 is EMPTY, so internal indices start at 1. */
  #nextInternal = 1;
  readonly #freeInternal: number[] = [];

  // Leaves: index i has its key's hash in key-hash slot i, its key then its value as pair i of
  // the arena (keyLengths[i] bytes of key), hash slot i and dirty flag i (the value changed
  // since its hash). No object per key: what the heap holds per key is what every garbage
  // collection walks, for as long as the key exists.
  readonly #pairBytes = new PairArena();
  #keyLengths = new Uint16Array(INITIAL_CAPACITY);
  readonly #keyHashes = new HashSlab(INITIAL_CAPACITY);
  #leafDirty = new Uint8Array(INITIAL_CAPACITY);
  readonly #leafHashes = new HashSlab(INITIAL_CAPACITY);
  #nextLeaf = 1;
  readonly #freeLeaves: number[] = [];

  /** The dirty internal nodes by depth, gathered by #rehash (kept to reuse their arrays). */
  readonly #levels: number[][] = [];
  /** Children's hashes of one level, 64 bytes per node, and their digests; grown as needed. */
  #pairs = new HashSlab(0);
  #digests = new HashSlab(0);

  constructor(chainId: string) {
    this.#hasher = new StateHasher(chainId); // refuses a bad chain id now, not at the first root()
    this.chainId = chainId;
  }

  get size(): number {
    return this.#leaves.size;
  }

  /** What the pairs' arena holds (bytes of live pairs, garbage and chunks) and how often it compacted. */
  get pairMemory(): { readonly liveBytes: number; readonly garbageBytes: number; readonly allocatedBytes: number; readonly compactions: number } {
    const a = this.#pairBytes;
    return { liveBytes: a.liveBytes, garbageBytes: a.garbageBytes, allocatedBytes: a.allocatedBytes, compactions: a.compactions };
  }

  /** A copy of the value, or undefined when the key is absent. */
  get(key: Uint8Array): Uint8Array | undefined {
    checkEntry(key);
    const leaf = this.#leaves.get(bytesToHex(key));
    return leaf === undefined ? undefined : this.#value(leaf).slice();
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
      if (bytesEqual(this.#value(existing), value)) return;
      this.#pairBytes.put(existing, key, value);
      this.#leafDirty[existing] = 1;
      this.#dirtyPath(this.#keyHashes.view(existing));
      return;
    }
    const leaf = this.#newLeaf(key, value);
    this.#leaves.set(id, leaf);
    this.#insert(leaf, this.#keyHashes.view(leaf));
  }

  /** True when the key was present. */
  delete(key: Uint8Array): boolean {
    checkEntry(key);
    const id = bytesToHex(key);
    const leaf = this.#leaves.get(id);
    if (leaf === undefined) return false;
    this.#leaves.delete(id);
    this.#remove(leaf, this.#keyHashes.view(leaf));
    this.#pairBytes.drop(leaf);
    this.#freeLeaves.push(leaf);
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
    const children = this.#children;
    let node = this.#root;
    for (let depth = 0; node > 0; depth++) {
      const bit = pathBit(keyHash, depth);
      siblings.push(this.#hashOf(children[2 * node + 1 - bit]!).slice());
      node = children[2 * node + bit]!;
    }
    siblings.reverse();
    let terminal: StateProofTerminal;
    if (node === EMPTY) terminal = { kind: 'empty' };
    else {
      const leaf = -node;
      if (bytesEqual(this.#keyHashes.view(leaf), keyHash)) terminal = { kind: 'leaf', key: this.#key(leaf).slice(), value: this.#value(leaf).slice() };
      else terminal = { kind: 'other', keyHash: this.#keyHashes.copy(leaf), valueHash: this.#hasher.valueHash(this.#value(leaf)) };
    }
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
      yield [this.#key(leaf).slice(), this.#value(leaf).slice()];
    }
  }

  #newLeaf(key: Uint8Array, value: Uint8Array): number {
    let leaf = this.#freeLeaves.pop();
    if (leaf === undefined) {
      leaf = this.#nextLeaf++;
      if (leaf >= this.#leafDirty.length) {
        const capacity = 2 * this.#leafDirty.length;
        this.#leafDirty = widened(this.#leafDirty, capacity);
        this.#keyLengths = widened(this.#keyLengths, capacity);
        this.#leafHashes.grow(capacity);
        this.#keyHashes.grow(capacity);
      }
    }
    this.#keyHashes.put(leaf, this.#hasher.keyHash(key));
    this.#keyLengths[leaf] = key.length;
    this.#pairBytes.put(leaf, key, value);
    this.#leafDirty[leaf] = 1;
    return leaf;
  }

  /** Leaf `leaf`'s key, as a view valid until the next change: copy it before it leaves the tree. */
  #key(leaf: number): Uint8Array {
    return this.#pairBytes.bytes(leaf).subarray(0, this.#keyLengths[leaf]);
  }

  /** Leaf `leaf`'s value, as a view valid until the next change: copy it before it leaves the tree. */
  #value(leaf: number): Uint8Array {
    return this.#pairBytes.bytes(leaf).subarray(this.#keyLengths[leaf]);
  }

  #newInternal(left: Ref, right: Ref): number {
    let node = this.#freeInternal.pop();
    if (node === undefined) {
      node = this.#nextInternal++;
      if (node >= this.#dirty.length) {
        const capacity = 2 * this.#dirty.length;
        this.#children = widened(this.#children, 2 * capacity);
        this.#dirty = widened(this.#dirty, capacity);
        this.#hashes.grow(capacity);
      }
    }
    this.#children[2 * node] = left;
    this.#children[2 * node + 1] = right;
    this.#dirty[node] = 1;
    return node;
  }

  /** Marks the internal nodes above an existing leaf dirty. */
  #dirtyPath(keyHash: Uint8Array): void {
    this.#stateRoot = null;
    const children = this.#children;
    const dirty = this.#dirty;
    for (let node = this.#root, depth = 0; node > 0; depth++) {
      dirty[node] = 1;
      node = children[2 * node + pathBit(keyHash, depth)]!;
    }
  }

  #insert(leaf: number, keyHash: Uint8Array): void {
    this.#stateRoot = null;
    const children = this.#children;
    const dirty = this.#dirty;
    let parent = 0;
    let side = 0;
    let node = this.#root;
    let depth = 0;
    while (node > 0) {
      dirty[node] = 1;
      parent = node;
      side = pathBit(keyHash, depth);
      node = children[2 * node + side]!;
      depth++;
    }
    let replacement: Ref = -leaf;
    if (node < 0) {
      // The slot holds another key's leaf: both go under a chain of internal nodes down to the
      // first bit where their hashes differ (one-sided above it, which is canonical: every node
      // on the chain holds both keys).
      const split = firstDifferingBit(this.#keyHashes.view(-node), keyHash, depth);
      replacement = pathBit(keyHash, split) === 1 ? this.#newInternal(node, -leaf) : this.#newInternal(-leaf, node);
      for (let d = split - 1; d >= depth; d--) {
        replacement = pathBit(keyHash, d) === 1 ? this.#newInternal(EMPTY, replacement) : this.#newInternal(replacement, EMPTY);
      }
    }
    // #newInternal may have replaced the children array: attach through the current one.
    if (parent === 0) this.#root = replacement;
    else this.#children[2 * parent + side] = replacement;
  }

  #remove(leaf: number, keyHash: Uint8Array): void {
    this.#stateRoot = null;
    const children = this.#children;
    const dirty = this.#dirty;
    const path: number[] = [];
    let node = this.#root;
    while (node > 0) {
      dirty[node] = 1;
      path.push(node);
      node = children[2 * node + pathBit(keyHash, path.length - 1)]!;
    }
    if (node !== -leaf) throw new Error('state tree out of sync with its key map');
    // Walk up replacing the removed slot: a node left holding at most one key becomes that key's
    // leaf (or empty) and the question moves to its parent; the first node that still holds two
    // keys takes the replacement as its child, and nothing above it changes shape. A collapsed
    // node is gone from the tree, and its index is free for reuse.
    let replacement: Ref = EMPTY;
    for (let depth = path.length - 1; depth >= 0; depth--) {
      const parent = path[depth]!;
      const side = pathBit(keyHash, depth);
      const sibling = children[2 * parent + 1 - side]!;
      const collapses = sibling === EMPTY ? !(replacement > 0) : replacement === EMPTY && sibling < 0;
      if (!collapses) {
        children[2 * parent + side] = replacement;
        return;
      }
      if (sibling !== EMPTY) replacement = sibling;
      this.#freeInternal.push(parent);
    }
    this.#root = replacement;
  }

  /** The hash of a reference that #rehash left clean, as a view into its slab: do not mutate. */
  #hashOf(ref: Ref): Uint8Array {
    if (ref === EMPTY) return EMPTY_TREE_ROOT;
    return ref > 0 ? this.#hashes.view(ref) : this.#leafHashes.view(-ref);
  }

  #hashLeaf(leaf: number): void {
    this.#hasher.leafInto(this.#leafHashes.view(leaf), this.#keyHashes.view(leaf), this.#hasher.valueHash(this.#value(leaf)));
    this.#leafDirty[leaf] = 0;
  }

  /**
   * Brings every dirty hash up to date: dirty leaves as they are found, then the dirty internal
   * nodes a level at a time from the deepest, each level in one sha256PairsInto call.
   */
  #rehash(): void {
    const root = this.#root;
    if (root < 0) {
      if (this.#leafDirty[-root] === 1) this.#hashLeaf(-root);
      return;
    }
    if (root === EMPTY || this.#dirty[root] === 0) return;
    const levels = this.#levels;
    try {
      this.#rehashFrom(root, levels);
    } finally {
      for (const level of levels) level.length = 0;
    }
  }

  #rehashFrom(root: number, levels: number[][]): void {
    const children = this.#children;
    const dirty = this.#dirty;
    const leafDirty = this.#leafDirty;
    let deepest = -1;
    // Depth-first over dirty nodes only: a clean node's subtree is clean.
    const stack: number[] = [root];
    const depths: number[] = [0];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const depth = depths.pop()!;
      const level = levels[depth];
      if (level === undefined) levels[depth] = [node];
      else level.push(node);
      if (depth > deepest) deepest = depth;
      for (let side = 0; side < 2; side++) {
        const child = children[2 * node + side]!;
        if (child > 0) {
          if (dirty[child] === 1) {
            stack.push(child);
            depths.push(depth + 1);
          }
        } else if (child < 0 && leafDirty[-child] === 1) this.#hashLeaf(-child);
      }
    }
    for (let depth = deepest; depth >= 0; depth--) this.#hashLevel(levels[depth]!);
  }

  /** Hashes one level of dirty internal nodes whose children are all clean. */
  #hashLevel(level: readonly number[]): void {
    const count = level.length;
    if (this.#pairs.bytes.length < count * PAIR_BYTES) {
      const capacity = Math.max(count, this.#pairs.bytes.length / PAIR_BYTES) * 2;
      this.#pairs = new HashSlab(2 * capacity);
      this.#digests = new HashSlab(capacity);
    }
    const children = this.#children;
    const nodeWords = this.#hashes.words;
    const leafWords = this.#leafHashes.words;
    const pairWords = this.#pairs.words;
    for (let i = 0; i < count; i++) {
      const node = level[i]!;
      for (let side = 0; side < 2; side++) {
        const child = children[2 * node + side]!;
        // EMPTY reads internal slot 0, which holds 32 zero bytes.
        const from = child >= 0 ? nodeWords : leafWords;
        const at = (child >= 0 ? child : -child) * WORDS;
        const to = (2 * i + side) * WORDS;
        for (let w = 0; w < WORDS; w++) pairWords[to + w] = from[at + w]!;
      }
    }
    sha256PairsInto(this.#pairs.bytes.subarray(0, count * PAIR_BYTES), this.#digests.bytes.subarray(0, count * SHA256_LENGTH));
    const digestWords = this.#digests.words;
    const dirty = this.#dirty;
    for (let i = 0; i < count; i++) {
      const node = level[i]!;
      const to = node * WORDS;
      const from = i * WORDS;
      for (let w = 0; w < WORDS; w++) nodeWords[to + w] = digestWords[from + w]!;
      dirty[node] = 0;
    }
  }
}
