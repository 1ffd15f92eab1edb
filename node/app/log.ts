/**
 * The committed-command log and its commitment. Every command a block commits, well-formed or
 * not, gets the next position and one leaf:
 *
 *   leafData = taggedHash("vsmr/log/v2", chainId, u64 position || requestId || u8 result)
 *   logRoot  = RFC 6962 MTH over the leafData of positions 0..n-1
 *
 * The log root is the plain RFC 6962 root (so consistency proofs between two log sizes work
 * as in Certificate Transparency); the position inside each leaf is what pins an entry to its
 * place, so a client holding a certified log root, the command and a proof learns "committed at
 * position p with result r" without trusting the replica.
 *
 * The root is kept incrementally (the perfect-subtree frontier, O(log n) per append), because
 * the log only grows and a full rebuild per block would make execution quadratic over a
 * chain's life. Proofs rebuild the full tree on demand and cache it until the next append.
 *
 * Every entry stays in memory for those proofs, so entries live in flat slabs: 65 bytes each
 * (request id, leaf hash, result code; up to twice that while the slabs, which double when
 * full, are half empty) and no object, where two typed arrays per entry cost over 400 bytes
 * of heap and four objects for every garbage collection to walk, for every command the chain
 * ever committed. A proof's cached tree adds 64 bytes per entry until the next append.
 */
import { HashSlab, widened } from '../../crypto/hash-slab.js';
import { SHA256_LENGTH } from '../../crypto/hash.js';
import type { InclusionProof } from '../../crypto/merkle.js';
import { MerkleTree, merkleLeafHash, merkleNodeHash, merkleRoot, merkleRootOfLeafHashes } from '../../crypto/merkle.js';
import { type LogEntry, LogLeafHasher } from '../../protocol/log-proof.js';
import type { Result } from '../../protocol/result.js';
import { isResult } from '../../protocol/result.js';


const EMPTY_LOG_ROOT = merkleRoot([]);
/** Entries the slabs hold before they first double. */
const INITIAL_CAPACITY = 256;

export class CommandLog {
  readonly chainId: string;
  #size = 0;
  /** Position p's request id, leaf hash (merkleLeafHash of its leaf data) and result code. */
  readonly #ids = new HashSlab(INITIAL_CAPACITY);
  readonly #leafHashes = new HashSlab(INITIAL_CAPACITY);
  #results = new Uint8Array(INITIAL_CAPACITY);
  /**
   * Roots of the perfect subtrees that make up the RFC 6962 tree of the current size, largest
   * (leftmost) first; their sizes are the set bits of the log size, like a binary counter.
   */
  readonly #frontier: { size: number; hash: Uint8Array }[] = [];
  #tree: MerkleTree | null = null;
  #treeSize = 0;

  readonly #leafHasher: LogLeafHasher;

  constructor(chainId: string) {
    this.#leafHasher = new LogLeafHasher(chainId);
    this.chainId = chainId;
  }

  get size(): number {
    return this.#size;
  }

  append(requestId: Uint8Array, result: Result): LogEntry {
    if (!(requestId instanceof Uint8Array) || requestId.length !== SHA256_LENGTH) {
      throw new TypeError('requestId must be a 32-byte hash');
    }
    if (!isResult(result)) throw new TypeError(`unknown result code ${String(result)}`);
    const position = this.#size;
    if (position === this.#results.length) {
      const capacity = 2 * position;
      this.#ids.grow(capacity);
      this.#leafHashes.grow(capacity);
      this.#results = widened(this.#results, capacity);
    }
    // A copy even of a Buffer (whose slice() is a view): the entry is the caller's to keep.
    const entry: LogEntry = { position, requestId: new Uint8Array(requestId), result };
    const leafHash = merkleLeafHash(this.#leafHasher.leafData(entry));
    this.#ids.put(position, entry.requestId);
    this.#leafHashes.put(position, leafHash);
    this.#results[position] = result;
    this.#size++;
    this.#tree = null;
    let node = { size: 1, hash: leafHash };
    for (let top = this.#frontier.at(-1); top !== undefined && top.size === node.size; top = this.#frontier.at(-1)) {
      this.#frontier.pop();
      node = { size: 2 * node.size, hash: merkleNodeHash(top.hash, node.hash) };
    }
    this.#frontier.push(node);
    return entry;
  }

  entry(position: number): LogEntry {
    this.#checkPosition(position);
    return { position, requestId: this.#ids.copy(position), result: this.#results[position] as Result };
  }

  /**
   * The request ids of the newest `count` entries (all of them if fewer), oldest first, 32
   * bytes apiece in one fresh array: what a restarted consensus core is told committed, since its
   * own memory of commits is gone and the ledger's blocks may be pruned.
   */
  recentIds(count: number): Uint8Array {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`cannot take ${count} log entries`);
    const from = Math.max(0, this.#size - count);
    return this.#ids.bytes.slice(from * SHA256_LENGTH, this.#size * SHA256_LENGTH);
  }

  /**
   * RFC 6962 MTH of the whole log. The split rule (left subtree = largest power of two below n)
   * makes the tree the frontier's subtrees joined right to left.
   */
  root(): Uint8Array {
    if (this.#frontier.length === 0) return EMPTY_LOG_ROOT.slice();
    let acc = this.#frontier.at(-1)!.hash;
    for (let i = this.#frontier.length - 2; i >= 0; i--) acc = merkleNodeHash(this.#frontier[i]!.hash, acc);
    return acc.slice();
  }

  /**
   * Inclusion proof of `position` in the log of its first `treeSize` entries (default: all), so
   * a light client can check it against the log root of an earlier certified header. The tree
   * of the latest size asked for is cached until the next append.
   */
  prove(position: number, treeSize: number = this.size): InclusionProof {
    this.#checkPosition(position);
    if (!Number.isSafeInteger(treeSize) || treeSize <= position || treeSize > this.size) {
      throw new RangeError(`tree size ${treeSize} does not hold position ${position} in a log of ${this.size} entries`);
    }
    if (this.#tree === null || this.#treeSize !== treeSize) {
      this.#tree = MerkleTree.fromPackedLeafHashes(this.#packedLeafHashes(treeSize));
      this.#treeSize = treeSize;
    }
    return this.#tree.proveInclusion(position);
  }

  /** RFC 6962 root of the first `treeSize` entries. */
  rootAt(treeSize: number): Uint8Array {
    if (!Number.isSafeInteger(treeSize) || treeSize < 0 || treeSize > this.size) throw new RangeError(`no log of size ${treeSize}`);
    return treeSize === this.size ? this.root() : merkleRootOfLeafHashes(this.#packedLeafHashes(treeSize));
  }

  /** The leaf hashes of the first `treeSize` positions, 32 bytes apiece (a view: the callers copy). */
  #packedLeafHashes(treeSize: number): Uint8Array {
    return this.#leafHashes.bytes.subarray(0, treeSize * SHA256_LENGTH);
  }

  #checkPosition(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || position >= this.size) {
      throw new RangeError(`log position ${position} is not in a log of ${this.size} entries`);
    }
  }
}
