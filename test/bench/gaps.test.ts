import assert from 'node:assert/strict';
import fc from 'fast-check';
import { longestGapMs } from '../../bench/e2e/gaps.js';
import { chainCommitGapBoundMs, longestCommitIntervalsMs } from '../../bench/e2e/commit-intervals.js';
import { createNodeMetrics } from '../../node/observability/metrics.js';

describe('bench: gaps without commits', () => {
  it('property: the longest gap is the largest step from open through every event to close', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 30 }), fc.integer({ min: 0, max: 5_000 }), (raw, extra) => {
        const times = [...raw].sort((a, b) => a - b);
        const close = (times.at(-1) ?? 0) + extra;
        const points = [0, ...times, close];
        const steps = points.slice(1).map((t, i) => t - points[i]!);
        assert.equal(longestGapMs(times, 0, close), Math.max(...steps));
      }),
    );
  });

  it('a window without events is one gap', () => {
    assert.equal(longestGapMs([], 100, 350), 250);
  });
});

describe('bench: the longest interval between commits, from the validators\' histograms', () => {
  const metrics = () => createNodeMetrics({ chainId: 'vsmr-test', validator: 0 }, false);
  const text = (m: ReturnType<typeof metrics>) => m.registry.metrics();

  it('bounds the longest interval of the window by its bucket, ignoring intervals before the window', async () => {
    const m = metrics();
    m.commitIntervalSeconds.observe(20); // before the window: not counted
    const before = await text(m);
    for (const s of [0.02, 0.3, 0.04]) m.commitIntervalSeconds.observe(s);
    const after = await text(m);
    assert.deepEqual(longestCommitIntervalsMs([before], [after], 5_000), [500]);
    m.commitIntervalSeconds.observe(1.5);
    assert.deepEqual(longestCommitIntervalsMs([before], [await text(m)], 5_000), [2_000]);
  });

  it('a stall still running at the close counts, from the time since the last commit as scraped', async () => {
    const m = metrics();
    const before = await text(m);
    for (const s of [0.02, 0.03]) m.commitIntervalSeconds.observe(s);
    // The last commit was 3.2 s before the closing scrape: an interval no bucket holds yet.
    m.lastCommitAge.source = () => 3.2;
    assert.deepEqual(longestCommitIntervalsMs([before], [await text(m)], 5_000), [3_200]);
    m.lastCommitAge.source = () => 0.01;
    assert.deepEqual(longestCommitIntervalsMs([before], [await text(m)], 5_000), [50]);
  });

  it('a validator that committed nothing in the window, or past the largest bucket, spans the window; unreadable is undefined', async () => {
    const idle = metrics();
    const t = await text(idle);
    const slow = metrics();
    const before = await text(slow);
    slow.commitIntervalSeconds.observe(45);
    assert.deepEqual(longestCommitIntervalsMs([t, before, undefined], [t, await text(slow), t], 5_000), [5_000, 5_000, undefined]);
  });

  it('the chain bound is the best validator\'s: one that kept committing shows the chain did', () => {
    assert.equal(chainCommitGapBoundMs([5_000, 250, undefined, 1_000]), 250);
    assert.equal(chainCommitGapBoundMs([undefined, undefined]), undefined);
  });
});
