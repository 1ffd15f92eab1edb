import assert from 'node:assert/strict';
import { blsBackend, generateBlsKeyPair, popProve } from '../../../crypto/bls/index.js';
import { decodeQc } from '../../../crypto/qc/codec.js';
import { dealThresholdKeys, ThresholdQcScheme } from '../../../crypto/qc/threshold.js';
import { ValidatorSet } from '../../../crypto/qc/validator-set.js';
import { voteDigest } from '../../../protocol/types.js';
import { BlsCertificateOps, blsSigner } from '../../../node/consensus/bls-certs.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

const backend = blsBackend('blst');

/** n deterministic validator keys (seed bytes from `seed`) and their set, proofs of possession checked. */
function blsValidators(n: number, seed: number) {
  const keys = Array.from({ length: n }, (_, i) => generateBlsKeyPair(backend, new Uint8Array(32).fill(i + seed)));
  const validators = ValidatorSet.load(
    backend,
    keys.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(backend, k.secretKey).bytes })),
  );
  return { keys, validators };
}

describe('Replica cluster with real BLS certificates', () => {
  it('n = 4 commits through a crashed leader, with BLS QCs and an aggregate-signature TC', function () {
    this.timeout(60_000);
    const { keys, validators } = blsValidators(4, 1);
    const certs = new BlsCertificateOps(CHAIN, validators);
    const c = new Cluster({ n: 4, certs, signer: (i) => blsSigner(backend, i, keys[i]!.secretKey), maxBatchCommands: 2 });
    c.crashed.add(2);
    c.start();
    const cmds = ['a', 'b', 'c', 'd', 'e'];
    c.submit(cmds.map(cmd));
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).length === cmds.length));
    for (const i of c.live()) assert.deepEqual(c.committedCommands(i), cmds);
    assert.equal(c.rejects.length, 0, JSON.stringify(c.rejects));
    const r0 = c.replicas[0]!;
    const tc = r0.highestTc;
    assert.ok(tc, 'a TC formed');
    assert.equal(certs.verifyTc(tc), true);
    assert.equal(certs.verifyQc(r0.highestQc), true);
    // The certificates are real: a flipped bit or a wrong round no longer verifies.
    const sig = Uint8Array.from(tc.certificate);
    sig[5]! ^= 1;
    assert.equal(certs.verifyTc({ ...tc, certificate: sig }), false);
    assert.equal(certs.verifyTc({ ...tc, round: tc.round + 1 }), false);
    const qc = r0.highestQc;
    assert.equal(certs.verifyQc({ ...qc, vote: { ...qc.vote, round: qc.vote.round + 1 } }), false);
  });

  it('n = 4 commits with threshold QCs: votes are partials under the shares, a QC is one group signature', function () {
    this.timeout(60_000);
    const { keys, validators } = blsValidators(4, 11);
    const deal = dealThresholdKeys(4);
    const shares = deal.shares.map((s) => backend.secretKeyFromBytes(s));
    const scheme = new ThresholdQcScheme(backend, deal.setup);
    const certs = new BlsCertificateOps(CHAIN, validators, scheme);
    const c = new Cluster({ n: 4, certs, signer: (i) => blsSigner(backend, i, keys[i]!.secretKey, shares[i]), maxBatchCommands: 2 });
    c.crashed.add(1);
    c.start();
    const cmds = ['a', 'b', 'c', 'd'];
    c.submit(cmds.map(cmd));
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).length === cmds.length));
    for (const i of c.live()) assert.deepEqual(c.committedCommands(i), cmds);
    assert.equal(c.rejects.length, 0, JSON.stringify(c.rejects));
    const qc = c.replicas[0]!.highestQc;
    const decoded = decodeQc(qc.certificate);
    assert.equal(decoded.kind, 'threshold');
    assert.equal(decoded.signers, null);
    assert.ok(backend.verify(scheme.groupPublicKey, voteDigest(CHAIN, qc.vote), backend.signatureFromBytes(decoded.signature)));
    // Timeouts are still signed with each validator's own key, so the crashed leader's round
    // ended in an ordinary aggregate TC.
    const tc = c.replicas[0]!.highestTc;
    assert.ok(tc && certs.verifyTc(tc));
    // A vote signed with the validator's own key is not a partial of the group key.
    const vote = qc.vote;
    const ownKeyVote = { vote, signer: 2, signature: backend.sign(keys[2]!.secretKey, voteDigest(CHAIN, vote)).bytes };
    assert.equal(certs.verifyVote(ownKeyVote), false);
    assert.equal(certs.verifyVote({ ...ownKeyVote, signature: backend.sign(shares[2]!, voteDigest(CHAIN, vote)).bytes }), true);
    // A multisig view of the same validators refuses the threshold QC.
    assert.equal(new BlsCertificateOps(CHAIN, validators).verifyQc(qc), false);
  });
});
