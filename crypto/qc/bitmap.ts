import { CryptoArgumentError } from '../errors.js';

/**
 * Signer bitmaps: validator i is bit (i mod 8) of byte floor(i / 8), least significant bit
 * first (the SSZ bitvector order). Exactly ceil(n / 8) bytes; bits at or past n must be zero,
 * so every signer set has one encoding.
 */
export function bitmapBytes(n: number): number {
  return Math.ceil(n / 8);
}

export function bitmapFromIndices(n: number, indices: Iterable<number>): Uint8Array {
  const out = new Uint8Array(bitmapBytes(n));
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new CryptoArgumentError(`signer index ${i} out of range [0, ${n})`);
    out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
}

export function bitmapIndices(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let byte = 0; byte < bitmap.length; byte++) {
    const v = bitmap[byte]!;
    if (v === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) out.push(byte * 8 + bit);
  }
  return out;
}

/** Index of the first set bit at or past n, or -1. */
export function firstBitPast(bitmap: Uint8Array, n: number): number {
  for (const i of bitmapIndices(bitmap)) if (i >= n) return i;
  return -1;
}
