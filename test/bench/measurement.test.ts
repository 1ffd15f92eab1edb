import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nearestRank } from '../../client/percentile.js';
import { type CryptoFloor, cryptoFloorAt } from '../../bench/e2e/floors.js';
import { pointProblems } from '../../bench/e2e/run.js';

describe('bench measurement helpers', () => {
  it('takes the nearest-rank percentile: the smallest value with at least p% of the list at or below it', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 100 }), (values, p) => {
        const sorted = [...values].sort((a, b) => a - b);
        const v = nearestRank(sorted, p);
        const atOrBelow = (x: number) => sorted.filter((y) => y <= x).length;
        assert.ok(atOrBelow(v) * 100 >= p * sorted.length, 'at least p% at or below');
        // Any smaller value of the list has fewer than p% at or below it.
        for (const w of sorted) if (w < v) assert.ok(atOrBelow(w) * 100 < p * sorted.length);
      }),
    );
    assert.equal(nearestRank([1, 2, 3, 4], 50), 2);
    assert.equal(nearestRank(Array.from({ length: 100 }, (_, i) => i + 1), 99), 99);
    assert.equal(nearestRank([], 50), 0);
  });

  it('spreads a block’s certificate work over the commands the run actually put in a block', () => {
    const floor = { blsPerBlockUs: 6000, perCommandUs: 200, cores: 2 } as CryptoFloor;
    const near = (got: number, want: number) => assert.ok(Math.abs(got - want) <= want * 1e-3, `${got} against ${want}`);
    // Full blocks of 400: 15 + 200 us per command; blocks of 1: 6,200 us.
    near(cryptoFloorAt(floor, 400), 2e6 / 215);
    near(cryptoFloorAt(floor, 1), 2e6 / 6200);
    near(cryptoFloorAt({ ...floor, perCommandUs: 0 }, 100), 2e6 / 60);
    assert.equal(cryptoFloorAt(floor, 0), 0);
  });

  it('names what makes a point doubtful, and nothing for a sound one', () => {
    const sound = { windowS: 5.02, plannedWindowS: 5, cpuSeconds: 9.5, cores: 2, agreed: true, timedOut: 0, failed: 0 };
    assert.deepEqual(pointProblems(sound), []);
    const p = pointProblems({ ...sound, windowS: 8.8, cpuSeconds: 19, agreed: false, timedOut: 3, failed: 1 });
    assert.equal(p.length, 5, p.join('; '));
    assert.match(p[0]!, /window 8\.80 s against 5 s planned/);
    assert.match(p[1]!, /CPU 19\.00 s over 2 cores/);
    // CPU over the cores in a window of the planned length is caught even when the window is not stretched.
    assert.equal(pointProblems({ ...sound, cpuSeconds: 11 }).length, 1);
    // Busy answers are back-pressure (the request goes again); any other refusal is named.
    assert.deepEqual(pointProblems({ ...sound, refusals: { 'ignored: busy': 900 } }), []);
    const refused = pointProblems({ ...sound, refusals: { 'ignored: busy': 900, 'ignored: replayed': 2 } });
    assert.deepEqual(refused, ['requests refused: 2 ignored: replayed']);
  });
});
