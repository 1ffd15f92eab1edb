import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

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
    // One per core by default, so never 0 here.
    assert.ok((summary['validationWorkers'] as number[]).every((w) => w >= 1), `validation workers ${summary['validationWorkers']}`);
  });

  it('runs the validators with the validation workers asked for (0: requests checked on the main thread)', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'devnet', '--replicas', '4', '--duration', '2', '--validation-workers', '0', '--json']);
    const summary = JSON.parse(stdout) as { validationWorkers: number[]; committed: number; agreed: boolean };
    assert.deepEqual(summary.validationWorkers, [0, 0, 0, 0]);
    assert.equal(summary.agreed, true);
    assert.ok(summary.committed > 0);
  });

  it('refuses bad flags with exit 2', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'devnet', '--replicas', '0']), (err: { code?: number }) => err.code === 2);
    await assert.rejects(run(process.execPath, [CLI, 'devnet', '--validation-workers', '-1']), (err: { code?: number }) => err.code === 2);
  });
});
