import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeQc } from '../../crypto/qc/codec.js';
import { fromHex } from '../../crypto/bytes.js';
import { LocalCluster, vsmr, vsmrFails } from './local-cluster.js';

/**
 * A chain that certifies with threshold QCs, end to end: `vsmr genesis --qc threshold` deals
 * the shares, four `vsmr start` processes sign votes with them and combine q partials into one
 * signature under the group key, and the light client verifies commits and certificates
 * against the genesis's commitments. Every process started here is stopped by its PID.
 */
describe('threshold QCs on a 4-validator cluster', function () {
  this.timeout(180_000);
  let cluster: LocalCluster;

  before(async () => {
    cluster = await LocalCluster.start(4, ['--qc', 'threshold']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('commits client commands whose proofs verify against the group key, and a certificate carries one threshold signature', async () => {
    const g = JSON.parse(await readFile(cluster.genesis, 'utf8')) as { quorumCertificates: { scheme: string; threshold: number; commitments: string[] } };
    assert.equal(g.quorumCertificates.scheme, 'threshold');
    assert.equal(g.quorumCertificates.threshold, 3);

    const proofs = join(cluster.dir, 'proofs');
    const { stdout } = await vsmr('client', 'submit', '--genesis', cluster.genesis, '--count', '3', '--to', '2', '--proofs', proofs, '--json');
    const out = JSON.parse(stdout) as { committed: number; verified: number; commits: { proof: string }[] };
    assert.equal(out.committed, 3);
    assert.equal(out.verified, 3);
    const ok = await vsmr('client', 'verify', out.commits[0]!.proof, '--genesis', cluster.genesis);
    assert.match(ok.stdout, /signers threshold/);

    const file = join(cluster.dir, 'cert.json');
    await vsmr('client', 'cert', '--genesis', cluster.genesis, '--height', '1', '--home', cluster.home(3), '--out', file);
    const cert = JSON.parse(await readFile(file, 'utf8')) as { qc: string };
    const qc = decodeQc(fromHex(cert.qc));
    assert.equal(qc.kind, 'threshold');
    assert.equal(qc.signers, null);
  });

  it('a multisig genesis of the same chain id refuses the threshold certificate as the wrong kind', async () => {
    const other = join(cluster.dir, 'multisig');
    await vsmr('genesis', '--validators', '4', '--out', other, '--base-port', '1100');
    const file = join(cluster.dir, 'cert-2.json');
    await vsmr('client', 'cert', '--genesis', cluster.genesis, '--height', '1', '--home', cluster.home(0), '--out', file);
    const bad = await vsmrFails(['client', 'verify', file, '--genesis', join(other, 'genesis.json')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /qc-malformed.*threshold QC where the chain uses multisig/);
  });
});
