/**
 * The longest stretch of a measured window with no event in it: from the window's opening to
 * the first event, between consecutive events, and from the last event to its close. `times`
 * are ascending and inside [open, close]. A stall shows here, whichever events are counted
 * (committed replies at the clients, committed heights at a validator).
 */
export function longestGapMs(times: readonly number[], open: number, close: number): number {
  let longest = 0;
  let prev = open;
  for (const t of [...times, close]) {
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  return longest;
}
