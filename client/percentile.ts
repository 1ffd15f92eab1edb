/**
 * The p-th percentile of an ascending list by nearest rank: the smallest value with at least p%
 * of the list at or below it (the ceil(p/100 * n)-th value), 0 for an empty list. p50 of an even
 * count is the lower middle value, and p99 of 100 values is the 99th, not the largest.
 */
export function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  // p * n first: (p / 100) * n picks up a rounding error (7 / 100 * 100 is 7.000000000000001).
  const rank = Math.ceil((p * sorted.length) / 100);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
