/**
 * The authenticated map behind the application state: a sorted-leaf RFC 6962 Merkle tree (see
 * state-proof.ts for the commitment and the proof format).
 *
 * Cost model: mutations only touch the in-memory map and mark the tree stale; root() and
 * prove() rebuild it (sort keys if the key set changed, hash changed leaves, rebuild the tree
 * from cached leaf data: about 2n hashes) and cache it until the next mutation. The application
 * asks for the root once per block, so this is O(n) per block, not per command.
 *
 * An incremental version cannot keep this layout cheaply: inserting a key shifts the index of
 * every later leaf and so reshapes the RFC tree. It would move to a tree whose shape is fixed by
 * the key (a sparse Merkle tree or a Jellyfish-style radix tree over key hashes, as Aptos does),
 * persist nodes by version in storage, and rehash only the O(log n) paths of keys a block touched.
 * The proof format and verifier would change with it; StateTree's interface would not.
 */
import { bytesToHex } from '../../crypto/bytes.js';
import { DOMAIN_TAGS, domainPrefix } from '../../crypto/hash.js';
import { MerkleTree, merkleLeafHash } from '../../crypto/merkle.js';
import type { LeafWitness, StateProof } from '../../protocol/state-proof.js';
import { MAX_STATE_KEY_BYTES, MAX_STATE_VALUE_BYTES, stateLeafData, stateRootOf } from '../../protocol/state-proof.js';

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** merkleLeafHash(stateLeafData(key, value)); null until the next rebuild needs it. */
  leafHash: Uint8Array | null;
}

interface Built {
  tree: MerkleTree;
  root: Uint8Array;
}

function checkEntry(key: Uint8Array, value?: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length > MAX_STATE_KEY_BYTES) {
    throw new RangeError(`state key must be a Uint8Array of at most ${MAX_STATE_KEY_BYTES} bytes`);
  }
  if (value !== undefined && (!(value instanceof Uint8Array) || value.length > MAX_STATE_VALUE_BYTES)) {
    throw new RangeError(`state value must be a Uint8Array of at most ${MAX_STATE_VALUE_BYTES} bytes`);
  }
}

export class StateTree {
  readonly chainId: string;
  // Keyed by lowercase hex: fixed two characters per byte, so comparing the hex strings orders
  // them exactly as comparing the bytes (prefixes first), which is the tree's leaf order.
  readonly #entries = new Map<string, Entry>();
  /** Sorted map keys; null when a key was deleted since the last sort. */
  #order: string[] | null = [];
  /** Keys added since the last sort: merged into #order (O(n + k log k)), not re-sorted with it. */
  #added: string[] = [];
  #built: Built | null = null;

  constructor(chainId: string) {
    domainPrefix(DOMAIN_TAGS.state, chainId); // refuses a bad chain id now, not at the first root()
    this.chainId = chainId;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A copy of the value, or undefined when the key is absent. */
  get(key: Uint8Array): Uint8Array | undefined {
    checkEntry(key);
    return this.#entries.get(bytesToHex(key))?.value.slice();
  }

  has(key: Uint8Array): boolean {
    checkEntry(key);
    return this.#entries.has(bytesToHex(key));
  }

  /** Stores copies, so the caller may reuse its buffers. */
  set(key: Uint8Array, value: Uint8Array): void {
    checkEntry(key, value);
    const id = bytesToHex(key);
    if (!this.#entries.has(id)) this.#added.push(id);
    this.#entries.set(id, { key: key.slice(), value: value.slice(), leafHash: null });
    this.#built = null;
  }

  /** True when the key was present. */
  delete(key: Uint8Array): boolean {
    checkEntry(key);
    if (!this.#entries.delete(bytesToHex(key))) return false;
    this.#order = null;
    this.#added = [];
    this.#built = null;
    return true;
  }

  /** The state root (state-proof.ts): a pure function of the key/value set. */
  root(): Uint8Array {
    return this.#build().root.slice();
  }

  /** Proof of the key's value, or of its absence, against root(). */
  prove(key: Uint8Array): StateProof {
    checkEntry(key);
    const { tree } = this.#build();
    const order = this.#order!;
    const treeSize = order.length;
    const treeRoot = tree.root;
    const id = bytesToHex(key);
    // Lower bound: first position whose key sorts at or after `key`.
    let lo = 0;
    let hi = treeSize;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    if (lo < treeSize && order[lo] === id) return { kind: 'member', treeSize, treeRoot, leaf: this.#witness(tree, lo) };
    return {
      kind: 'absent',
      treeSize,
      treeRoot,
      left: lo > 0 ? this.#witness(tree, lo - 1) : null,
      right: lo < treeSize ? this.#witness(tree, lo) : null,
    };
  }

  /** Copies of all pairs in key order (the order the tree commits to). */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    for (const id of this.#sorted()) {
      const e = this.#entries.get(id)!;
      yield [e.key.slice(), e.value.slice()];
    }
  }

  #witness(tree: MerkleTree, index: number): LeafWitness {
    const e = this.#entries.get(this.#order![index]!)!;
    return { index, key: e.key.slice(), value: e.value.slice(), path: tree.proveInclusion(index).path };
  }

  #sorted(): string[] {
    // Default sort compares UTF-16 code units; all ids are ASCII hex, so this is byte order and
    // does not depend on locale or on the map's insertion order.
    if (this.#order === null) {
      this.#order = [...this.#entries.keys()].sort();
      this.#added = [];
    } else if (this.#added.length > 0) {
      // A key added then deleted is gone from the map; a deletion resets #order anyway.
      this.#order = mergeSorted(this.#order, this.#added.sort());
      this.#added = [];
    }
    return this.#order;
  }

  #build(): Built {
    if (this.#built !== null) return this.#built;
    const leafHashes = this.#sorted().map((id) => {
      const e = this.#entries.get(id)!;
      e.leafHash ??= merkleLeafHash(stateLeafData(this.chainId, e.key, e.value));
      return e.leafHash;
    });
    const tree = MerkleTree.fromLeafHashes(leafHashes);
    this.#built = { tree, root: stateRootOf(this.chainId, tree.size, tree.root) };
    return this.#built;
  }
}

/** Merges two ascending, disjoint lists of ids. */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}
