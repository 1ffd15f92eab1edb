import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { type CompareRun, CompareRunError, formatSummary, median, parseRun, splitFlags, summarize } from '../../bench/compare.js';

const run = promisify(execFile);
const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(REPO_ROOT, 'bin', 'vsmr.js');

const aRun = (variant: 'a' | 'b', throughput: number, viewChanges: number | null = 0): CompareRun => ({
  variant,
  throughput,
  p50Ms: 10_000 / throughput,
  p99Ms: 20_000 / throughput,
  cpuMsPerCommand: 1000 / throughput,
  commandsPerBlock: 10,
  viewChanges,
  validationWorkers: null,
});

describe('bench/compare', () => {
  it('median: the middle value, or the mean of the two middle ones, whatever the order', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]), RangeError);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 30 }), (xs) => {
        const m = median(xs);
        const below = xs.filter((x) => x < m).length;
        const above = xs.filter((x) => x > m).length;
        return below <= xs.length / 2 && above <= xs.length / 2 && m >= Math.min(...xs) && m <= Math.max(...xs);
      }),
    );
  });

  it('summarizes each side by median and range, B over A by medians, and sums view changes', () => {
    const s = summarize([aRun('a', 100), aRun('b', 150), aRun('a', 300, 1), aRun('b', 120), aRun('a', 200, null), aRun('b', 180, 2)]);
    assert.deepEqual(s.runs, { a: 3, b: 3 });
    assert.deepEqual(s.a?.throughput, { median: 200, min: 100, max: 300 });
    assert.deepEqual(s.b?.throughput, { median: 150, min: 120, max: 180 });
    assert.equal(s.ratio?.throughput, 0.75);
    assert.deepEqual(s.viewChanges, { a: 1, b: 2 });
    const one = summarize([aRun('a', 100)]);
    assert.equal(one.b, null);
    assert.equal(one.ratio, null, 'no ratio without both sides');
    assert.match(formatSummary(s), /^throughput \| 200 \(100-300\) \| 150 \(120-180\) \| 0\.750$/m);
  });

  it('splits flags on whitespace, and reads a run or says which run of which variant failed', () => {
    assert.deepEqual(splitFlags('  --validation-workers 0   --qc threshold '), ['--validation-workers', '0', '--qc', 'threshold']);
    assert.deepEqual(splitFlags(''), []);
    const r = parseRun('b', 2, JSON.stringify({ throughput: 5, p50Ms: 1, p99Ms: 2, cpuMsPerCommand: 3, commandsPerBlock: 4, viewChanges: 0, validationWorkers: 0 }));
    assert.equal(r.validationWorkers, 0);
    assert.throws(() => parseRun('a', 1, 'e2e: 5 commands/s'), (e: unknown) => e instanceof CompareRunError && /run 1 of variant A .*no JSON/.test(e.message));
    assert.throws(() => parseRun('b', 3, '{"throughput": 5}'), (e: unknown) => e instanceof CompareRunError && /run 3 of variant B .*no number p50Ms/.test(e.message));
  });
});

describe('vsmr bench compare (CLI)', function () {
  this.timeout(180_000);

  it('runs A and B alternately, each with its own flags, and prints every run and the summary', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'bench', 'compare', '--runs', '1', '--b', '--validation-workers 0', '--json', '--', '--batch', '10', '--duration', '2', '--quick'], {
      timeout: 170_000,
      maxBuffer: 4 << 20,
    });
    const r = JSON.parse(stdout) as { runs: CompareRun[]; failures: string[]; summary: ReturnType<typeof summarize> };
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.runs.map((x) => x.variant), ['a', 'b'], 'A first, then B');
    assert.equal(r.runs[0]!.validationWorkers, null, 'A ran on the default pool');
    assert.equal(r.runs[1]!.validationWorkers, 0, "B's own flag reached its run");
    assert.ok(r.runs.every((x) => x.throughput > 0), 'both committed');
    assert.ok(r.summary.ratio && r.summary.ratio.throughput > 0);
  });

  it('reports a variant whose flags the e2e command refuses, naming the run and the reason, and exits 1', async () => {
    const err = await run(process.execPath, [CLI, 'bench', 'compare', '--runs', '1', '--a', '--replicas 99', '--b', '--replicas 0', '--', '--quick']).then(
      () => assert.fail('exit 0'),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(err.code, 1);
    assert.match(err.stdout, /run 1 of variant A failed: exit 2: .*--replicas must be an integer in \[1, 16\], got "99"/);
    assert.match(err.stdout, /run 1 of variant B failed: exit 2: .*got "0"/);
  });

  it('refuses to compare a variant with itself, and a root without the CLI', async () => {
    const same = await run(process.execPath, [CLI, 'bench', 'compare', '--a', '--quick', '--b', '--quick']).then(
      () => assert.fail('exit 0'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(same.code, 2);
    assert.match(same.stderr, /nothing to compare/);
    const noRoot = await run(process.execPath, [CLI, 'bench', 'compare', '--b-root', '/nonexistent-vsmr', '--', '--quick']).then(
      () => assert.fail('exit 0'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(noRoot.code, 2);
    assert.match(noRoot.stderr, /--b-root \/nonexistent-vsmr has no bin\/vsmr\.js/);
  });
});
