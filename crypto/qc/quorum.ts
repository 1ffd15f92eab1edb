import { CryptoArgumentError } from '../errors.js';

/** f: the most Byzantine validators n can tolerate, floor((n - 1) / 3). */
export function maxFaulty(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new CryptoArgumentError(`validator count must be a positive integer, got ${n}`);
  return Math.floor((n - 1) / 3);
}

/**
 * q = ceil((n + f + 1) / 2): the smallest size at which any two quorums share at least f + 1
 * validators (so at least one honest one), while the n - f honest validators can still form
 * one on their own. Equals 2f + 1 when n = 3f + 1.
 */
export function quorumSize(n: number): number {
  const f = maxFaulty(n);
  return Math.ceil((n + f + 1) / 2);
}
