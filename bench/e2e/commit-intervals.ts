/**
 * The longest interval between two commits in a measured window, read off each validator's
 * `vsmr_commit_interval_seconds` histogram at the window's edges. Measured inside the
 * validator, so neither a client's queueing nor the load generator's own event loop (which
 * shares the 2 cores with the cluster) stretches it. A histogram gives bounds, not values: the
 * answer is the smallest bucket bound that holds every interval observed in the window.
 */
import { COMMIT_INTERVAL_BUCKETS } from '../../node/observability/metrics.js';
import { metricValue } from './cluster.js';

const NAME = 'vsmr_commit_interval_seconds';

/**
 * Per validator: the upper bound (ms) of its longest commit interval in the window; the whole
 * window (`windowMs`) when it committed nothing in it or an interval passed the largest bucket;
 * undefined when its metrics were unreadable at either edge.
 */
export function longestCommitIntervalsMs(before: readonly (string | undefined)[], after: readonly (string | undefined)[], windowMs: number, closeScrapeLagMs = 0): (number | undefined)[] {
  return after.map((a, i) => {
    const b = before[i];
    if (a === undefined || b === undefined) return undefined;
    const count = (t: string) => metricValue(t, `${NAME}_count`) ?? 0;
    const total = count(a) - count(b);
    if (total <= 0) return windowMs;
    // An interval still open at the close (a stall at the end of the window) is in no bucket
    // yet: the time since the last commit as of the closing scrape, less the time from the
    // window's close to that scrape, bounds it from below.
    const openAtClose = Math.max(0, (metricValue(a, 'vsmr_seconds_since_last_commit') ?? 0) * 1000 - closeScrapeLagMs);
    for (const le of COMMIT_INTERVAL_BUCKETS) {
      const label = `le="${le}"`;
      const inBucket = (metricValue(a, `${NAME}_bucket`, label) ?? 0) - (metricValue(b, `${NAME}_bucket`, label) ?? 0);
      if (inBucket >= total) return Math.min(Math.max(le * 1000, openAtClose), windowMs);
    }
    return windowMs;
  });
}

/**
 * The chain's longest gap without a commit, as a bound: the smallest of the validators' bounds
 * (one validator that committed at least that often shows the chain did). Undefined when no
 * validator's histogram could be read.
 */
export function chainCommitGapBoundMs(perValidator: readonly (number | undefined)[]): number | undefined {
  const known = perValidator.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}
