import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { toHex } from '../../../crypto/bytes.js';
import { loadNodeConfig } from '../../../node/config/node-config.js';
import { loadGenesis } from '../../../protocol/genesis.js';

const run = promisify(execFile);
const CLI = join(resolve(import.meta.dirname, '..', '..', '..', '..'), 'bin', 'vsmr.js');

describe('vsmr genesis chain parameters', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vsmr-genesis-flags-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes consensus parameters and genesis balances from the flags', async () => {
    const out = join(dir, 'ok');
    await run(process.execPath, [CLI, 'genesis', '--validators', '2', '--out', out, '--base-timeout-ms', '500', '--max-batch-commands', '400', '--fund', 'alice=100', '--fund', '0x626f62=7']);
    const g = await loadGenesis(join(out, 'genesis.json'));
    assert.deepEqual(g.consensus, { baseTimeoutMs: 500, maxBatchCommands: 400, maxBatchBytes: 1 << 20 });
    assert.deepEqual(
      g.app.initialBalances.map((b) => [Buffer.from(b.account).toString(), b.amount]),
      [
        ['alice', 100n],
        ['bob', 7n],
      ],
    );
  });

  it('--qc threshold deals a share into each key file that the node loads against the commitments', async () => {
    const out = join(dir, 'threshold');
    await run(process.execPath, [CLI, 'genesis', '--validators', '4', '--out', out, '--qc', 'threshold']);
    const g = await loadGenesis(join(out, 'genesis.json'));
    assert.equal(g.quorumScheme.kind, 'threshold');
    const shares = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const node = await loadNodeConfig(join(out, `node-${i}`));
      assert.ok(node.keys.thresholdShare);
      shares.add(toHex(node.keys.thresholdShare.toBytes()));
    }
    assert.equal(shares.size, 4);
  });

  it('refuses --qc threshold with --from: only the devnet dealer can hand out shares', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'genesis', '--from', join(dir, 'x.pub.json'), '--out', join(dir, 'g.json'), '--chain-id', 'flags-1', '--qc', 'threshold']), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr!, /^vsmr genesis: --qc threshold needs a dealer .*--validators only/);
      return true;
    });
  });

  for (const [flags, field] of [
    // The flag's own range is the genesis parser's, so the flag is what is named.
    [['--base-timeout-ms', '5'], '--base-timeout-ms'],
    [['--fund', 'alice'], '--fund'],
  ] as const) {
    it(`refuses ${flags.join(' ')} with one line naming ${field}`, async () => {
      await assert.rejects(run(process.execPath, [CLI, 'genesis', '--validators', '2', '--out', join(dir, `bad-${field}`), ...flags]), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 2);
        assert.equal(err.stderr!.trim().split('\n').length, 1);
        assert.ok(err.stderr!.includes(field), err.stderr);
        return true;
      });
    });
  }
});
