import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = join(resolve(import.meta.dirname, '..', '..', '..'), 'bin', 'vsmr.js');

interface Summary {
  committed: number;
  byzantine: number;
  behavior: string;
  honestAgree: boolean;
  evidence: number;
  minByzantineScore: number | null;
  unavailableProposals: number;
}

async function devnet(behavior: string, duration: number): Promise<Summary> {
  const { stdout } = await run(process.execPath, [CLI, 'devnet', '--replicas', '4', '--byzantine', '1', '--behavior', behavior, '--duration', String(duration), '--json'], {
    timeout: 110_000,
  });
  return JSON.parse(stdout) as Summary;
}

/**
 * Real processes over libp2p on loopback: validator 1 runs `--unsafe-byzantine`, and it leads
 * round 1 and every 4th round after it, so a run of several seconds under load gives it many
 * rounds to lead.
 */
describe('vsmr devnet --byzantine (a real Byzantine validator among honest ones)', function () {
  this.timeout(120_000);

  it('equivocate: honest validators agree and keep committing, and record evidence', async () => {
    const s = await devnet('equivocate', 8);
    assert.equal(s.byzantine, 1);
    assert.equal(s.behavior, 'equivocate');
    assert.equal(s.honestAgree, true);
    assert.ok(s.committed > 0);
    assert.ok(s.evidence >= 1, `evidence ${s.evidence}`);
  });

  it('flood: honest validators agree, and the flooder\u2019s gossipsub score falls below zero', async () => {
    const s = await devnet('flood', 5);
    assert.equal(s.honestAgree, true);
    assert.ok(s.committed > 0);
    assert.ok(s.minByzantineScore !== null && s.minByzantineScore < 0, `score ${s.minByzantineScore}`);
  });

  it('withhold-requests: honest validators refuse to vote for proposals they cannot rebuild, and keep committing under honest leaders', async () => {
    const s = await devnet('withhold-requests', 6);
    assert.equal(s.behavior, 'withhold-requests');
    assert.equal(s.honestAgree, true);
    assert.ok(s.committed > 0);
    assert.ok(s.unavailableProposals >= 1, `unavailable proposals ${s.unavailableProposals}`);
  });

  it('refuses unknown behaviours, more than f Byzantine validators and unknown --unsafe-byzantine names with exit 2', async () => {
    const exit2 = (args: string[], says: string) =>
      assert.rejects(run(process.execPath, [CLI, ...args]), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 2);
        assert.ok(err.stderr?.includes(says), err.stderr);
        assert.equal(err.stderr?.trim().split('\n').length, 1, 'one line');
        return true;
      });
    await exit2(['devnet', '--byzantine', '1', '--behavior', 'nope'], 'equivocate');
    await exit2(['devnet', '--replicas', '4', '--byzantine', '2', '--behavior', 'silent'], 'exceeds f = 1');
    await exit2(['devnet', '--byzantine', '1'], '--behavior');
    await exit2(['start', '--home', '/nonexistent', '--unsafe-byzantine', 'nope'], '--unsafe-byzantine');
  });
});
