import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CATEGORIES } from '../../bench/e2e/profile.js';
import { REPO_ROOT } from '../node/config/fixtures.js';
import { waitFor } from '../wait-for.js';

const run = promisify(execFile);

/**
 * The CLI form other tools call: one JSON object with the required fields. Speed is not
 * asserted (that is what the benchmark reports); the fields' presence, sign and consistency are.
 */
describe('vsmr bench e2e', () => {
  it('--replicas 4 --duration 3 --quick --json prints the summary object', async () => {
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), 'bench', 'e2e', '--replicas', '4', '--batch', '10', '--duration', '3', '--quick', '--json'], {
      timeout: 110_000,
      maxBuffer: 4 << 20,
    });
    const r = JSON.parse(stdout) as Record<string, unknown>;
    for (const f of ['throughput', 'p50Ms', 'p99Ms', 'cpuSeconds', 'validationCeiling']) {
      assert.equal(typeof r[f], 'number', f);
      assert.ok((r[f] as number) >= 0, `${f} = ${r[f]}`);
    }
    assert.ok((r['committed'] as number) > 0, 'the cluster committed something');
    assert.ok((r['p99Ms'] as number) >= (r['p50Ms'] as number));
    assert.ok((r['cpuSeconds'] as number) > 0, 'validators used CPU');
    const breakdown = r['breakdown'] as Record<string, number>;
    assert.deepEqual(Object.keys(breakdown).sort(), [...CATEGORIES].sort());
    for (const [k, v] of Object.entries(breakdown)) assert.ok(typeof v === 'number' && v >= 0, `${k} = ${v}`);
    // The categories split the measured CPU: they sum to it (up to rounding to 3 digits each).
    const sum = Object.values(breakdown).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - (r['cpuSeconds'] as number)) <= 0.02 * (r['cpuSeconds'] as number) + 0.01, `sum ${sum} vs cpu ${r['cpuSeconds']}`);
    assert.ok((r['validationCeiling'] as number) > 0);
    assert.ok(Number.isInteger(r['viewChanges']) && (r['viewChanges'] as number) >= 0, `viewChanges = ${r['viewChanges']}`);
    // The chain committed in the window, so its longest gap without a commit is shorter than the window.
    const chainGap = r['maxChainGapMs'];
    assert.ok(Number.isInteger(chainGap) && (chainGap as number) >= 0 && (chainGap as number) < 3_000, `maxChainGapMs = ${chainGap}`);
    assert.equal(r['agreed'], true);
    // The blocks are the span of heights of the window's receipts, so each holds at most the
    // batch's 10 commands on average: a count of blocks taken at the wrong instants breaks that.
    const blocks = r['blocks'] as number;
    assert.ok(Number.isInteger(blocks) && blocks > 0, `blocks = ${blocks}`);
    assert.ok((r['committed'] as number) <= 10 * blocks, `${r['committed']} commands in ${blocks} blocks of at most 10`);
    assert.ok((r['commandsPerBlock'] as number) > 0 && (r['commandsPerBlock'] as number) <= 10, `commandsPerBlock = ${r['commandsPerBlock']}`);
    // Where a command's latency went at its validator: every stage timed, and together no
    // longer than what the clients measured around it (their frames' trip included).
    const a = r['requestAnatomy'] as Record<string, number>;
    assert.ok(a && a['requests']! > 0, 'receipts were timed');
    const stages = ['validateMs', 'queuedMs', 'orderingMs', 'executeMs'].map((k) => a[k]!);
    assert.ok(stages.every((ms) => Number.isFinite(ms) && ms >= 0), JSON.stringify(a));
    assert.ok(a['orderingMs']! > 0, 'the two-chain rule takes time');
    const stageSum = stages.reduce((x, y) => x + y, 0);
    assert.ok(stageSum <= 1.2 * (r['meanMs'] as number) + 5, `stages ${stageSum} ms vs the clients' mean ${r['meanMs']} ms`);
    // The pool's units of work (a worker task, or a call checked in place) were counted. A unit
    // carries one or more checks: about one per client frame or relay batch at each validator,
    // plus a proposal's check of requests it had not seen, so a few per command at most here.
    const work = r['validationWorkPerCommand'] as { worker: number; main: number };
    assert.ok(work && work.worker >= 0 && work.main >= 0 && work.worker + work.main > 0, JSON.stringify(work));
    assert.ok(work.worker + work.main <= 6, `a few units per command at most: ${JSON.stringify(work)}`);
  });

  it('under overload sends a request answered busy again instead of signing a new one', async () => {
    // 64 requests in flight against mempools of 8: most answers are busy.
    const { stdout } = await run(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'vsmr.js'), 'bench', 'e2e', '--batch', '10', '--clients', '4', '--outstanding', '16', '--max-pending', '8', '--duration', '2', '--quick', '--no-profile', '--no-floors', '--json'],
      { timeout: 110_000, maxBuffer: 4 << 20 },
    );
    const r = JSON.parse(stdout) as Record<string, number>;
    assert.ok(r['committed']! > 0, 'the cluster committed under overload');
    assert.equal(r['failed'], 0);
    // A busy answer that retired its request would need a new request for every answer; sent
    // again, one request collects many, so there are more busy answers than requests made.
    assert.ok(r['rejected']! > r['submitted']!, `${r['rejected']} busy answers for ${r['submitted']} requests made`);
    // Latency runs from a request's first submission, retries included, so the clients' mean
    // follows Little's law: 64 in flight over the throughput. Timed from the accepted attempt
    // alone it came out at about 0.4 of that.
    const little = (64 / r['throughput']!) * 1000;
    assert.ok(r['meanMs']! >= 0.7 * little, `mean ${r['meanMs']} ms against ${little.toFixed(0)} ms in flight / throughput`);
    // Busy answers are the only refusals here.
    assert.deepEqual(Object.keys(r['refusals'] as unknown as Record<string, number>), ['ignored: busy']);
  });

  it('stops early on SIGTERM during its load: the cluster stopped, its directory gone, exit 1', async () => {
    // Its own temp dir, so the cluster's directory can be watched appear and go.
    const tmp = await mkdtemp(join(tmpdir(), 'vsmr-e2e-stop-'));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), 'bench', 'e2e', '--batch', '10', '--duration', '120', '--quick', '--no-floors', '--no-profile', '--json'], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      let clusterDir = '';
      await waitFor(async () => {
        const found = (await readdir(tmp)).find((d) => d.startsWith('vsmr-bench-'));
        clusterDir = found ? join(tmp, found) : '';
        return found !== undefined;
      }, 'the cluster directory', 60_000);
      // Load is on once validator 0 has committed something.
      const port = await waitFor(async () => {
        const text = await readFile(join(clusterDir, 'node-0', 'config.json'), 'utf8').catch(() => '');
        return text.includes('metricsPort');
      }, 'node-0 config').then(async () => (JSON.parse(await readFile(join(clusterDir, 'node-0', 'config.json'), 'utf8')) as { metricsPort: number }).metricsPort);
      await waitFor(async () => {
        const s = (await fetch(`http://127.0.0.1:${port}/status`).then((r) => r.json()).catch(() => undefined)) as { height?: number } | undefined;
        return (s?.height ?? 0) > 0;
      }, 'commits under load', 60_000);
      const stoppedAt = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 1, `interrupted runs exit 1 (stderr: ${stderr})`);
      assert.match(stderr, /load interrupted/);
      assert.ok(Date.now() - stoppedAt < 60_000, 'well before its 120 s window');
      assert.deepEqual(await readdir(tmp), [], 'the cluster stopped and its directory removed');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
