import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { type CompareRun, CompareRunError, formatSummary, lastFlagValue, median, pairOrder, parseRun, rangesOverlap, sameFlags, splitFlags, summarize } from '../../bench/compare.js';

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
  it('reverses every other pair, so each variant runs first as often as the other', () => {
    const firsts = Array.from({ length: 6 }, (_, k) => pairOrder(k + 1)[0]);
    assert.deepEqual(firsts, ['a', 'b', 'a', 'b', 'a', 'b']);
    for (let i = 1; i <= 6; i++) assert.deepEqual([...pairOrder(i)].sort(), ['a', 'b'], 'both in every pair');
  });

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
    assert.match(formatSummary(s), /^throughput \| 200 \(100-300\) \| 150 \(120-180\) \| 0\.750 \| yes$/m);
    const apart = summarize([aRun('a', 100), aRun('a', 110), aRun('b', 150), aRun('b', 160)]);
    assert.match(formatSummary(apart), /^throughput \| 105 \(100-110\) \| 155 \(150-160\) \| 1\.476 \| no$/m, 'ranges apart');
    assert.equal(rangesOverlap({ median: 1, min: 1, max: 2 }, { median: 2, min: 2, max: 3 }), true, 'a shared end is an overlap');
  });

  it('splits flags on whitespace, and reads a run or says which run of which variant failed', () => {
    assert.deepEqual(splitFlags('  --validation-workers 0   --qc threshold '), ['--validation-workers', '0', '--qc', 'threshold']);
    assert.deepEqual(splitFlags(''), []);
    const r = parseRun('b', 2, JSON.stringify({ throughput: 5, p50Ms: 1, p99Ms: 2, cpuMsPerCommand: 3, commandsPerBlock: 4, viewChanges: 0, validationWorkers: 0 }));
    assert.equal(r.validationWorkers, 0);
    assert.throws(() => parseRun('a', 1, 'e2e: 5 commands/s'), (e: unknown) => e instanceof CompareRunError && /run 1 of variant A .*no JSON/.test(e.message));
    assert.throws(() => parseRun('b', 3, '{"throughput": 5}'), (e: unknown) => e instanceof CompareRunError && /run 3 of variant B .*no number p50Ms/.test(e.message));
  });

  it('reads a flag the way the e2e command will (the last one, either spelling), and compares variants as sets of options', () => {
    assert.equal(lastFlagValue(['--batch', '10', '--duration', '5'], '--duration'), '5');
    assert.equal(lastFlagValue(['--duration=7', '--quick'], '--duration'), '7');
    assert.equal(lastFlagValue(['--duration', '5', '--duration=9'], '--duration'), '9');
    assert.equal(lastFlagValue(['--quick'], '--duration'), undefined);
    assert.ok(sameFlags(['--qc', 'threshold', '--quick'], ['--quick', '--qc', 'threshold']));
    assert.ok(!sameFlags(['--qc', 'threshold'], ['--qc', 'multisig']));
    assert.ok(!sameFlags(['--batch', '10', '--clients', '4'], ['--batch', '4', '--clients', '10']), 'values stay with their flags');
    assert.ok(!sameFlags(['--batch', '10', '--batch', '20'], ['--batch', '20', '--batch', '10']), 'the last of a repeated flag wins');
    assert.ok(sameFlags(['--batch', '10', '--batch', '20'], ['--batch=20']), '--x=1 is --x 1');
    const zero = summarize([aRun('a', 100), aRun('b', 100)]);
    const noThroughput = { ...zero, a: zero.a && { ...zero.a, throughput: { median: 0, min: 0, max: 0 } }, ratio: zero.ratio && { ...zero.ratio, throughput: Number.NaN } };
    assert.match(formatSummary(noThroughput), /^throughput \| 0 \(0-0\) \| 100 \(100-100\) \| - \| no$/m, 'no ratio over a zero median');
  });
});

describe('vsmr bench compare (CLI)', function () {
  this.timeout(180_000);

  it('runs A and B alternately, each with its own flags, and prints every run and the summary', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'bench', 'compare', '--runs', '1', '--b', '--validation-workers 1', '--json', '--', '--batch', '10', '--duration', '3', '--quick'], {
      timeout: 170_000,
      maxBuffer: 4 << 20,
    }).catch((e: { stdout?: string; message: string }) => assert.fail(`compare failed: ${e.stdout || e.message}`));
    const r = JSON.parse(stdout) as { runs: CompareRun[]; failures: string[]; summary: ReturnType<typeof summarize> };
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.runs.map((x) => x.variant), ['a', 'b'], 'A first, then B');
    assert.equal(r.runs[0]!.validationWorkers, null, 'A ran on the default pool');
    assert.equal(r.runs[1]!.validationWorkers, 1, "B's own flag reached its run");
    assert.ok(r.runs.every((x) => x.throughput > 0), 'both committed');
    assert.ok(r.summary.ratio && r.summary.ratio.throughput > 0);
  });

  /**
   * A fake checkout (for compare's process handling, not vsmr's): its e2e "command" starts a
   * stand-in validator, records both PIDs, then runs `tail` (source lines). Each run's command
   * leads its own process group, so the finally of a test kills the groups by those PIDs.
   */
  async function fakeCheckout(tail: string[]): Promise<{ root: string; pids: () => Promise<number[]>; cleanUp: () => Promise<void> }> {
    const root = await mkdtemp(join(tmpdir(), 'vsmr-compare-'));
    await mkdir(join(root, 'bin'));
    await mkdir(join(root, 'dist', 'node', 'cli'), { recursive: true });
    await writeFile(join(root, 'dist', 'node', 'cli', 'main.js'), '');
    await writeFile(join(root, 'package.json'), '{"type":"module"}');
    const pidsFile = join(root, 'pids');
    await writeFile(
      join(root, 'bin', 'vsmr.js'),
      [
        "import { spawn } from 'node:child_process';",
        "import { appendFileSync } from 'node:fs';",
        "const v = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
        `appendFileSync(${JSON.stringify(pidsFile)}, process.pid + ' ' + v.pid + '\\n');`,
        ...tail,
      ].join('\n'),
    );
    const pids = async () => (await readFile(pidsFile, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
    const cleanUp = async () => {
      // Only what is still there: a PID that is gone may be someone else's by now.
      for (const pid of stillAlive(await pids())) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      await rm(root, { recursive: true, force: true });
    };
    return { root, pids, cleanUp };
  }
  const stillAlive = (pids: number[]) =>
    pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  /** compare's own run, bounded: a hang fails the test instead of outliving it. */
  const compareOn = (root: string, extra: string[]) =>
    run(process.execPath, [CLI, 'bench', 'compare', '--runs', '1', '--a-root', root, '--b-root', root, '--b', '--quick', '--json', ...extra], { timeout: 60_000, killSignal: 'SIGKILL' });

  it('stops a run that outlives its timeout with every process of it, and counts it failed', async () => {
    // The command ignores SIGTERM (its first act), so only the group's SIGKILL ends it; the
    // stand-in validator goes with the group's SIGTERM.
    const fake = await fakeCheckout(['setInterval(() => {}, 1000);']);
    await writeFile(join(fake.root, 'bin', 'vsmr.js'), `process.on('SIGTERM', () => {});\n${await readFile(join(fake.root, 'bin', 'vsmr.js'), 'utf8')}`);
    try {
      const started = Date.now();
      const err = await compareOn(fake.root, ['--run-timeout', '2']).then(
        () => assert.fail('exit 0'),
        (e: { code: number; stdout: string }) => e,
      );
      assert.equal(err.code, 1);
      const out = JSON.parse(err.stdout) as { failures: string[] };
      assert.deepEqual(out.failures, ['run 1 of variant A failed: timed out after 2 s, stopped', 'run 1 of variant B failed: timed out after 2 s, stopped']);
      const pids = await fake.pids();
      assert.equal(pids.length, 4, 'two runs, each a command and a stand-in validator');
      assert.deepEqual(stillAlive(pids), [], 'nothing of either run is left');
      assert.ok(Date.now() - started < 40_000, 'the grace is as short as the run timeout');
    } finally {
      await fake.cleanUp();
    }
  });

  it('keeps the result of a run that ends by itself, and stops what it left behind', async () => {
    // The command prints a result and exits at once, leaving its stand-in validator running.
    const result = { throughput: 10, p50Ms: 1, p99Ms: 2, cpuMsPerCommand: 3, commandsPerBlock: 4, viewChanges: 0 };
    const fake = await fakeCheckout([`process.stdout.write(${JSON.stringify(JSON.stringify(result))});`, 'process.exit(0);']);
    try {
      const { stdout } = await compareOn(fake.root, ['--run-timeout', '2']).catch((e: { stdout?: string; message: string }) => assert.fail(`compare failed: ${e.stdout || e.message}`));
      const out = JSON.parse(stdout) as { runs: CompareRun[]; failures: string[] };
      assert.deepEqual(out.failures, []);
      assert.deepEqual(out.runs.map((r) => r.throughput), [10, 10]);
      const pids = await fake.pids();
      assert.equal(pids.length, 4);
      assert.deepEqual(stillAlive(pids), [], 'the stand-ins left behind were stopped');
    } finally {
      await fake.cleanUp();
    }
  });

  it('refuses, before any run, a variant whose flags the e2e command would refuse, naming the variant and the reason (exit 2)', async () => {
    for (const [args, pattern] of [
      [['--a', '--replicas 99', '--b', '--replicas 4', '--', '--quick'], /^vsmr bench compare: variant A's e2e flags: .*--replicas must be an integer in \[1, 16\], got "99"\n$/],
      [['--b', '--replicas 0', '--', '--quick'], /^vsmr bench compare: variant B's e2e flags: .*got "0"\n$/],
      [['--b', '--quick', '--', '--bogus'], /^vsmr bench compare: variant A's e2e flags: unknown option '--bogus'\n$/],
    ] as const) {
      const err = await run(process.execPath, [CLI, 'bench', 'compare', '--runs', '1', ...args]).then(
        () => assert.fail('exit 0'),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      assert.equal(err.code, 2, err.stderr);
      assert.match(err.stderr, pattern);
      assert.equal(err.stdout, '', 'no run started');
    }
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
    assert.match(noRoot.stderr, /--b-root \/nonexistent-vsmr is not a built checkout/);
  });
});
