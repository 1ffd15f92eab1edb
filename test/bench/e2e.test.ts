import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CATEGORIES } from '../../bench/e2e/profile.js';
import { REPO_ROOT } from '../node/config/fixtures.js';

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
});
