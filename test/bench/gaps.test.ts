import assert from 'node:assert/strict';
import fc from 'fast-check';
import { longestGapMs } from '../../bench/e2e/gaps.js';
import { watchHeight } from '../../bench/e2e/height-watch.js';

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

describe('bench: watching the committed height', () => {
  async function until(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  it('records when the height rises, not when it stays or fails to read, and stops', async () => {
    // Reads: 5, 5, unreadable, 6, 6, 8, then 8 for ever.
    const answers: (number | undefined)[] = [5, 5, undefined, 6, 6, 8];
    let reads = 0;
    const watch = watchHeight(
      async () => {
        const h = reads < answers.length ? answers[reads] : 8;
        reads++;
        if (h === undefined) throw new Error('status unavailable');
        return h;
      },
      1,
      60_000,
    );
    await until(() => reads >= answers.length + 3, 'the polls');
    const { increases, answered } = await watch.stop();
    assert.equal(increases.length, 2, 'to 6, then to 8');
    assert.ok(increases[0]! <= increases[1]!);
    assert.equal(answered, reads - 1, 'every poll but the failed one answered');
    const after = reads;
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, after, 'no poll after stop()');
  });

  it('stops by itself after its time limit', async () => {
    let reads = 0;
    const watch = watchHeight(async () => ++reads, 1, 20);
    const started = performance.now();
    await until(() => performance.now() - started > 40 && reads > 0, 'the time limit to pass');
    const stoppedAt = reads;
    await until(() => performance.now() - started > 60, 'a little longer');
    assert.equal(reads, stoppedAt, 'no poll after the limit');
    assert.ok((await watch.stop()).increases.length >= 1);
  });
});
