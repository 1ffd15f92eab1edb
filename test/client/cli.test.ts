import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchVerified } from '../../client/light.js';
import { loadGenesis } from '../../protocol/genesis.js';
import { CLI, LocalCluster, vsmr, vsmrFails as fails } from './local-cluster.js';

/**
 * The light client against real processes on loopback: four `vsmr start` validators, then
 * `client submit --proofs`, `client cert`, `client get`, `client verify` (valid and tampered)
 * and `client follow --count`. Every process started here is stopped by its PID.
 */
const N = 4;

describe('light client CLI against a 4-validator cluster', function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  let dir: string;
  let genesis: string;

  before(async () => {
    cluster = await LocalCluster.start(N);
    dir = cluster.dir;
    genesis = cluster.genesis;
  });

  after(async () => {
    await cluster?.stop();
  });

  it('submit --proofs writes a verified bundle per command; verify accepts it and refuses a tampered copy with the reason', async () => {
    const proofs = join(dir, 'proofs');
    const { stdout } = await vsmr('client', 'submit', '--genesis', genesis, '--count', '3', '--to', '1', '--proofs', proofs, '--json');
    const out = JSON.parse(stdout) as { committed: number; verified: number; commits: { command: number; certifiedHeight: number; position: number; result: number; proof: string }[] };
    assert.equal(out.committed, 3);
    assert.equal(out.verified, 3);
    assert.deepEqual(out.commits.map((c) => c.command), [0, 1, 2]);
    assert.deepEqual(new Set(out.commits.map((c) => c.position)).size, 3);
    for (const c of out.commits) {
      assert.equal(c.result, 0);
      const ok = await vsmr('client', 'verify', c.proof, '--genesis', genesis);
      assert.match(ok.stdout, new RegExp(`^valid: .*log position ${c.position} result OK`));
      // The height printed is the certificate's, what `verify` checked, not the receipt's claim.
      const written = JSON.parse(await readFile(c.proof, 'utf8')) as { header: { executed: { height: number } } };
      assert.equal(c.certifiedHeight, written.header.executed.height);
    }
    const bundle = JSON.parse(await readFile(out.commits[0]!.proof, 'utf8')) as { log: { result: number } };
    bundle.log.result = 3;
    await writeFile(join(dir, 'tampered.json'), JSON.stringify(bundle));
    const bad = await fails(['client', 'verify', join(dir, 'tampered.json'), '--genesis', genesis]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /log-inclusion/);
  });

  it('cert fetches a certificate from one replica (--home) that verify accepts; a flipped signature byte is refused', async () => {
    const file = join(dir, 'cert.json');
    await vsmr('client', 'cert', '--genesis', genesis, '--height', '1', '--home', join(dir, 'node-2'), '--out', file);
    const ok = await vsmr('client', 'verify', file, '--genesis', genesis);
    assert.match(ok.stdout, /^valid: chain /);
    const cert = JSON.parse(await readFile(file, 'utf8')) as { qc: string; height: number };
    assert.equal(cert.height, 1);
    const qc = cert.qc;
    const at = 2 + 2 * (4 + 32 + 40);
    cert.qc = `${qc.slice(0, at)}${((Number.parseInt(qc.slice(at, at + 2), 16) ^ 0x10) & 0xff).toString(16).padStart(2, '0')}${qc.slice(at + 2)}`;
    await writeFile(join(dir, 'cert-bad.json'), JSON.stringify(cert));
    const bad = await fails(['client', 'verify', join(dir, 'cert-bad.json'), '--genesis', genesis]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /qc-(signature-encoding|bad-signature)/);
  });

  it('get reads a key (and proves an absent one) from one replica (--peer), verified', async () => {
    const g = JSON.parse(await readFile(genesis, 'utf8')) as { validators: { peerId: string; address: string }[] };
    const peer = `${g.validators[3]!.address}/p2p/${g.validators[3]!.peerId}`;
    const present = JSON.parse((await vsmr('client', 'get', '--genesis', genesis, '--key', 'client-0', '--peer', peer, '--json')).stdout) as { present: boolean; value: string; verified: boolean };
    assert.equal(present.present, true);
    assert.equal(present.verified, true);
    assert.match(present.value, /^0x[0-9a-f]{128}$/);
    const absent = JSON.parse((await vsmr('client', 'get', '--genesis', genesis, '--key', 'never-written', '--home', join(dir, 'node-0'), '--json')).stdout) as { present: boolean };
    assert.equal(absent.present, false);
  });

  it('follow verifies certificates from the gossip topic as a light peer and stops after --count', async () => {
    const follower = spawn(process.execPath, [CLI, 'client', 'follow', '--genesis', genesis, '--count', '2', '--duration', '60', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    follower.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const exited = new Promise<number | null>((r) => follower.once('exit', (code) => r(code)));
    try {
      // Keep committing until the follower has what it waits for (bounded by count and time).
      for (let k = 0; k < 10 && follower.exitCode === null; k++) await vsmr('client', 'submit', '--genesis', genesis, '--count', '5', '--to', String(k % N));
      assert.equal(await exited, 0);
    } finally {
      if (follower.exitCode === null && follower.signalCode === null) follower.kill('SIGTERM');
    }
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { height: number; signers: number });
    assert.equal(lines.length, 2);
    assert.ok(lines[1]!.height > lines[0]!.height);
    for (const l of lines) assert.ok(l.signers >= 3);
  });

  it('follow reports the newest certificate at once on a quiet chain, asking the validators themselves', async () => {
    // Nothing is submitted: a quiet chain commits nothing, so nothing new is gossiped, and only
    // the follower's own questions can bring it a certificate before --duration ends it (exit 1).
    const g = await loadGenesis(genesis);
    // The newest certificate a validator serves (certified headers lag commits by a block or two).
    const newestAt = async (i: number) =>
      (await fetchVerified(g, { peerId: g.validators[i]!.peerId, multiaddr: g.validators[i]!.address }, { kind: 'certificate', height: 1 })).verified.executedHeight;
    // Validators' newest headers may differ by a block: the follower reports the newest of all,
    // so it is at least validator 0's before it started and at most the newest of any after.
    const before = await newestAt(0);
    assert.ok(before > 0, 'the earlier tests committed something');
    const r = await vsmr('client', 'follow', '--genesis', genesis, '--count', '1', '--duration', '20', '--json');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { height: number; signers: number });
    assert.equal(lines.length, 1);
    const after = Math.max(...(await Promise.all([0, 1, 2, 3].map(newestAt))));
    assert.ok(lines[0]!.height >= before && lines[0]!.height <= after, `reported height ${lines[0]!.height}; the newest certificates were at ${before} (validator 0, before) and ${after} (any, after)`);
    assert.ok(lines[0]!.signers >= 3);
  });
});

describe('light client CLI: counts that mean nothing are refused before anything runs', () => {
  // No cluster: each refusal comes from the flag's parser (exit 2), before a genesis is read.
  for (const [flag, args] of [
    ['--concurrency', ['submit', '--count', '5', '--concurrency', '0']],
    ['--count', ['submit', '--count', '0']],
    ['--count', ['submit', '--count', '1e3']],
    ['--count', ['follow', '--count', '0']],
    ['--duration', ['follow', '--duration', '0']],
    ['--height', ['cert', '--height', '1e3', '--out', 'unused.json']],
  ] as const) {
    it(`client ${args.join(' ')}`, async () => {
      const r = await fails(['client', ...args, '--genesis', 'no-such-genesis.json']);
      assert.equal(r.code, 2, r.stderr);
      // One line: the refusal, not the command's whole help after it.
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${flag} must be an integer of at least`));
    });
  }
});
