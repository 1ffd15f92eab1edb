/**
 * The state tree's keys and values, packed end to end into large chunks instead of one array
 * per pair. An array per pair costs the heap a typed array and an array buffer (and the
 * process a backing store), about 220 bytes besides the pair's own, for every key the state
 * ever holds, and two more objects for every garbage collection to walk; here a pair costs its
 * bytes and 12 bytes of bookkeeping.
 *
 * Pairs are addressed by slot (the tree's leaf index). A pair is written once and never
 * changed in place: replacing or dropping it leaves its old bytes behind as garbage. A chunk
 * whose pairs are all gone is freed at once. When garbage outgrows the live bytes, the next
 * chunk that would be opened is not: the live pairs of every sparse chunk (less than half of
 * what was written to it still live) move into fresh chunks, and the sparse ones go. Garbage
 * above the live bytes means some chunk is sparse, and after the move no sparse chunk is left,
 * so the chunks hold at most about twice the live bytes plus the chunk being filled, and a
 * byte written is moved O(1) times on average. A compaction scans the slots and copies what
 * moves in one pause, taken inside the write that triggers it: 26-35 ms to move the
 * surviving quarter of 100 MB of 128-byte pairs (`npm run bench:app-memory`).
 *
 * Bytes once handed out by bytes() are never written again (a chunk is only appended to, and
 * a freed one is dropped, not reused), so a view stays what it was; but a view keeps its whole
 * chunk alive, so copy what must be kept.
 */
import { widened } from '../../crypto/hash-slab.js';

/** The first chunk is small (a devnet's state is kilobytes); each next one doubles, up to this. */
export const MAX_CHUNK_BYTES = 1 << 20;
const FIRST_CHUNK_BYTES = 4096;
const INITIAL_SLOTS = 1024;
/** Marks a slot without a pair in `#chunkOf`. */
const NONE = -1;
/** Marks a slot whose pair has no bytes (an empty key and value): it lives in no chunk. */
const EMPTY_PAIR = -2;
const NO_BYTES = new Uint8Array(0);

export class PairArena {
  readonly #maxChunkBytes: number;
  #chunks: (Uint8Array | undefined)[] = [];
  /** Per chunk: bytes written into it, and bytes of those still belonging to a pair. */
  #used: number[] = [];
  #live: number[] = [];
  /** Chunk indices freed for reuse. */
  #freeChunks: number[] = [];
  /** The chunk new pairs go to (-1 before the first). */
  #current = NONE;
  #nextChunkBytes: number;
  #liveBytes = 0;
  #garbageBytes = 0;
  // Per slot: which chunk, where in it, how many bytes.
  #chunkOf = new Int32Array(INITIAL_SLOTS).fill(NONE);
  #offset = new Int32Array(INITIAL_SLOTS);
  #length = new Int32Array(INITIAL_SLOTS);
  /** Compactions so far (tests and benchmarks). */
  compactions = 0;

  /** `maxChunkBytes` exists for tests (tiny chunks exercise every path); pairs larger than it get a chunk of their own. */
  constructor(maxChunkBytes = MAX_CHUNK_BYTES) {
    if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes < 1) throw new RangeError(`chunk size must be a positive integer, got ${maxChunkBytes}`);
    this.#maxChunkBytes = maxChunkBytes;
    this.#nextChunkBytes = Math.min(FIRST_CHUNK_BYTES, maxChunkBytes);
  }

  /** Bytes held by pairs now. */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** Bytes the chunks hold that no pair owns any more (reclaimed by freeing a chunk or compacting). */
  get garbageBytes(): number {
    return this.#garbageBytes;
  }

  /** Bytes of all chunks held now: live pairs, garbage and free room at the current chunk's end. */
  get allocatedBytes(): number {
    let total = 0;
    for (const chunk of this.#chunks) total += chunk?.length ?? 0;
    return total;
  }

  /** False for a slot without a pair, and for anything that is not a slot (a non-negative integer). */
  has(slot: number): boolean {
    return Number.isSafeInteger(slot) && slot >= 0 && slot < this.#chunkOf.length && this.#chunkOf[slot] !== NONE;
  }

  /** Stores `key` then `value` as slot's pair, replacing the one it had. */
  put(slot: number, key: Uint8Array, value: Uint8Array): void {
    if (!Number.isSafeInteger(slot) || slot < 0) throw new RangeError(`slot must be a non-negative integer, got ${slot}`);
    this.drop(slot);
    if (slot >= this.#chunkOf.length) this.#growSlots(Math.max(2 * this.#chunkOf.length, slot + 1));
    const length = key.length + value.length;
    if (length === 0) {
      this.#chunkOf[slot] = EMPTY_PAIR;
      return;
    }
    const chunk = this.#room(length);
    const at = this.#claim(slot, chunk, length);
    const bytes = this.#chunks[chunk]!;
    bytes.set(key, at);
    bytes.set(value, at + key.length);
    this.#liveBytes += length;
  }

  /** Forgets slot's pair, if it has one. */
  drop(slot: number): void {
    if (!this.has(slot)) return;
    const chunk = this.#chunkOf[slot]!;
    this.#chunkOf[slot] = NONE;
    if (chunk === EMPTY_PAIR) return;
    const length = this.#length[slot]!;
    this.#live[chunk]! -= length;
    this.#liveBytes -= length;
    this.#garbageBytes += length;
    if (this.#live[chunk] === 0 && chunk !== this.#current) this.#freeChunk(chunk);
  }

  /** Slot's pair (key then value) as a view into its chunk; see the module comment. */
  bytes(slot: number): Uint8Array {
    if (!this.has(slot)) throw new RangeError(`slot ${slot} holds no pair`);
    const chunk = this.#chunkOf[slot]!;
    if (chunk === EMPTY_PAIR) return NO_BYTES;
    const at = this.#offset[slot]!;
    return this.#chunks[chunk]!.subarray(at, at + this.#length[slot]!);
  }

  /** A chunk with `length` bytes free at its end: the current one, a new one, or one after compacting. */
  #room(length: number): number {
    if (this.#currentFits(length)) return this.#current;
    if (this.#garbageBytes > this.#liveBytes) {
      this.#compact();
      if (this.#currentFits(length)) return this.#current;
    }
    return this.#open(length);
  }

  #currentFits(length: number): boolean {
    const c = this.#current;
    return c !== NONE && this.#used[c]! + length <= this.#chunks[c]!.length;
  }

  /** Makes the next `length` bytes at the end of `chunk` slot's pair, and returns where they start. */
  #claim(slot: number, chunk: number, length: number): number {
    const at = this.#used[chunk]!;
    this.#used[chunk] = at + length;
    this.#live[chunk]! += length;
    this.#chunkOf[slot] = chunk;
    this.#offset[slot] = at;
    this.#length[slot] = length;
    return at;
  }

  #open(length: number): number {
    // The chunk being left may hold nothing live any more (its pairs all replaced or dropped).
    const leaving = this.#current;
    const size = Math.max(this.#nextChunkBytes, length);
    this.#nextChunkBytes = Math.min(2 * this.#nextChunkBytes, this.#maxChunkBytes);
    const chunk = this.#freeChunks.pop() ?? this.#chunks.length;
    this.#chunks[chunk] = new Uint8Array(size);
    this.#used[chunk] = 0;
    this.#live[chunk] = 0;
    this.#current = chunk;
    if (leaving !== NONE && this.#live[leaving] === 0) this.#freeChunk(leaving);
    return chunk;
  }

  #freeChunk(chunk: number): void {
    this.#garbageBytes -= this.#used[chunk]! - this.#live[chunk]!;
    this.#chunks[chunk] = undefined;
    this.#used[chunk] = 0;
    this.#live[chunk] = 0;
    this.#freeChunks.push(chunk);
  }

  /**
   * Moves the live pairs of the sparse chunks (under half of what was written to them still
   * live), in slot order, into fresh chunks, then frees the sparse ones; dense chunks stay.
   */
  #compact(): void {
    const chunks = this.#chunks;
    const sparse = new Uint8Array(chunks.length);
    let moving = 0;
    for (let c = 0; c < chunks.length; c++) {
      if (chunks[c] !== undefined && 2 * this.#live[c]! < this.#used[c]!) {
        sparse[c] = 1;
        moving += this.#live[c]!;
      }
    }
    if (this.#current !== NONE && sparse[this.#current] === 1) this.#current = NONE;
    // The copy's chunks sized for what moves (a small state opens small ones), doubling on.
    this.#nextChunkBytes = Math.min(this.#maxChunkBytes, Math.max(FIRST_CHUNK_BYTES, 2 ** Math.ceil(Math.log2(Math.max(1, moving)))));
    const chunkOf = this.#chunkOf;
    for (let slot = 0; slot < chunkOf.length; slot++) {
      const from = chunkOf[slot]!;
      if (from < 0 || sparse[from] !== 1) continue; // no pair, an empty one, or a dense chunk's
      const at = this.#offset[slot]!;
      const length = this.#length[slot]!;
      const chunk = this.#currentFits(length) ? this.#current : this.#open(length);
      const to = this.#claim(slot, chunk, length);
      chunks[chunk]!.set(chunks[from]!.subarray(at, at + length), to);
      // The old copy is garbage now, reclaimed with its chunk below.
      this.#live[from]! -= length;
      this.#garbageBytes += length;
    }
    for (let c = 0; c < sparse.length; c++) if (sparse[c] === 1) this.#freeChunk(c);
    this.compactions++;
  }

  #growSlots(capacity: number): void {
    const previous = this.#chunkOf.length;
    this.#chunkOf = widened(this.#chunkOf, capacity);
    this.#chunkOf.fill(NONE, previous);
    this.#offset = widened(this.#offset, capacity);
    this.#length = widened(this.#length, capacity);
  }
}
