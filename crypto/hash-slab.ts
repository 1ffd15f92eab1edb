/**
 * Flat storage for many 32-byte hashes. Kept as objects, each hash costs a typed array and an
 * array buffer on the heap (well over a hundred bytes, and two objects every garbage collection
 * walks); in a slab it costs its 32 bytes. The state tree's nodes and the command log's entries
 * live in slabs, so what a replica retains per committed command stays small.
 */
import { SHA256_LENGTH } from './hash.js';

/** A copy of `array` `length` elements long (the rest zero): how slabs and their index arrays grow. */
export function widened<A extends Uint8Array | Uint16Array | Int32Array>(array: A, length: number): A {
  const out = new (array.constructor as new (length: number) => A)(length);
  out.set(array);
  return out;
}

/** A slab of 32-byte hashes with a word view over the same memory, grown by doubling. */
export class HashSlab {
  bytes: Uint8Array;
  words: Uint32Array;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity * SHA256_LENGTH);
    this.words = new Uint32Array(this.bytes.buffer);
  }

  /** How many hashes fit before the next grow(). */
  get capacity(): number {
    return this.bytes.length / SHA256_LENGTH;
  }

  grow(capacity: number): void {
    this.bytes = widened(this.bytes, capacity * SHA256_LENGTH);
    this.words = new Uint32Array(this.bytes.buffer);
  }

  /** Hash `index` in place: valid until the next grow(), and writes through. */
  view(index: number): Uint8Array {
    return this.bytes.subarray(index * SHA256_LENGTH, (index + 1) * SHA256_LENGTH);
  }

  /** A copy of hash `index`, detached from the slab. */
  copy(index: number): Uint8Array {
    return this.bytes.slice(index * SHA256_LENGTH, (index + 1) * SHA256_LENGTH);
  }

  /** Stores `hash` (32 bytes, checked by the caller) as hash `index`. */
  put(index: number, hash: Uint8Array): void {
    this.bytes.set(hash, index * SHA256_LENGTH);
  }
}
