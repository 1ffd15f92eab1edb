import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { sharedMachineValidationWorkers } from '../../node/config/validation-workers.js';

const run = promisify(execFile);
const CLI = join(resolve(import.meta.dirname, '..', '..', '..'), 'bin', 'vsmr.js');

describe('vsmr devnet (the main job)', function () {
  this.timeout(120_000);

  it('runs 4 validator processes under load and prints one JSON summary in which they agree', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'devnet', '--replicas', '4', '--duration', '4', '--json']);
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    for (const key of ['replicas', 'committed', 'verified', 'throughput', 'p50Ms', 'p99Ms']) assert.ok(key in summary, `missing ${key}`);
    assert.equal(summary['replicas'], 4);
    assert.equal(summary['agreed'], true);
    assert.ok((summary['committed'] as number) > 0);
    // The load generator verified commit certificates and inclusion proofs for what it submitted.
    assert.ok((summary['verified'] as number) > 0, 'some commits verified');
    assert.ok((summary['verified'] as number) <= (summary['committed'] as number));
    assert.ok((summary['height'] as number) > 0);
    assert.ok((summary['p99Ms'] as number) >= (summary['p50Ms'] as number));
    // The validators share this machine's cores, so each runs with its share of them, as each
    // reports in its metrics (0 on a machine with under 2 cores per validator).
    const each = sharedMachineValidationWorkers(4, availableParallelism());
    assert.deepEqual(summary['validationWorkers'], [each, each, each, each]);
  });

  it('runs the validators with the validation workers asked for, over the shared-machine default', async () => {
    // One worker each: the default here is 0 or at least 2, so the flag is what shows.
    const { stdout } = await run(process.execPath, [CLI, 'devnet', '--replicas', '4', '--duration', '2', '--validation-workers', '1', '--json']);
    const summary = JSON.parse(stdout) as { validationWorkers: number[]; committed: number; agreed: boolean };
    assert.deepEqual(summary.validationWorkers, [1, 1, 1, 1]);
    assert.equal(summary.agreed, true);
    assert.ok(summary.committed > 0);
  });

  it('refuses bad flags with exit 2', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'devnet', '--replicas', '0']), (err: { code?: number }) => err.code === 2);
    await assert.rejects(run(process.execPath, [CLI, 'devnet', '--validation-workers', '-1']), (err: { code?: number }) => err.code === 2);
  });
});
