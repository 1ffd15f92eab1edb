import assert from 'node:assert/strict';
import { type BlsBackend, type BlsKeyPair, blsBackend, generateBlsKeyPair, popProve } from '../../crypto/bls/index.js';
import { QcVerifyError } from '../../crypto/errors.js';
import { MultisigQcScheme, type QcScheme, type QuorumCertificate, ValidatorSet, VerifiedQcCache } from '../../crypto/qc/index.js';

const bls = blsBackend('blst');
const pairs: BlsKeyPair[] = Array.from({ length: 4 }, (_, i) => generateBlsKeyPair(bls, new Uint8Array(32).fill(i + 1)));
const set = ValidatorSet.load(
  bls,
  pairs.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(bls, k.secretKey).bytes })),
);
const digestOf = (c: number) => new Uint8Array(32).fill(c);

/** The backend with its pairing checks counted: a cache hit must not reach it. */
function countingBackend(inner: BlsBackend): { backend: BlsBackend; pairings: () => number } {
  let n = 0;
  const counted =
    <A extends unknown[]>(fn: (...a: A) => boolean) =>
    (...a: A): boolean => {
      n++;
      return fn(...a);
    };
  const backend: BlsBackend = {
    ...inner,
    verify: counted(inner.verify.bind(inner)),
    fastAggregateVerify: counted(inner.fastAggregateVerify.bind(inner)),
    aggregateVerify: counted(inner.aggregateVerify.bind(inner)),
  };
  return { backend, pairings: () => n };
}

function certify(scheme: QcScheme, digest: Uint8Array, signers = [0, 1, 2]): QuorumCertificate {
  const agg = scheme.newAggregator(digest);
  for (const i of signers) {
    const out = agg.add(i, scheme.signShare(pairs[i]!.secretKey, digest));
    if (out.status === 'certified') return out.certificate;
  }
  throw new Error('no certificate');
}

function reason(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof QcVerifyError, String(err));
    return err.reason;
  }
  return 'accepted';
}

describe('VerifiedQcCache', () => {
  const counted = countingBackend(bls);
  const countedSet = ValidatorSet.load(
    counted.backend,
    pairs.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(bls, k.secretKey).bytes })),
  );

  it('verifies a certificate once, then answers it from memory', () => {
    const qc = certify(new MultisigQcScheme(set), digestOf(1));
    const cache = new VerifiedQcCache(new MultisigQcScheme(countedSet));
    const before = counted.pairings();
    cache.verify(qc, digestOf(1));
    assert.equal(counted.pairings(), before + 1);
    cache.verify(qc, digestOf(1));
    cache.verify({ ...qc, digest: qc.digest.slice(), signature: qc.signature.slice() });
    assert.equal(counted.pairings(), before + 1, 'equal bytes are a hit');
    assert.equal(cache.hits, 2);
  });

  it('still refuses any tampered copy of a remembered certificate, and a different expected digest', () => {
    const qc = certify(new MultisigQcScheme(set), digestOf(2));
    const cache = new VerifiedQcCache(new MultisigQcScheme(set));
    cache.verify(qc);
    const sig = qc.signature.slice();
    sig[sig.length - 1]! ^= 1;
    assert.notEqual(reason(() => cache.verify({ ...qc, signature: sig })), 'accepted');
    const bitmap = Uint8Array.from(qc.signers!);
    bitmap[0]! ^= 0b1000;
    assert.notEqual(reason(() => cache.verify({ ...qc, signers: bitmap })), 'accepted');
    assert.equal(reason(() => cache.verify(qc, digestOf(3))), 'digest-mismatch');
    assert.equal(reason(() => cache.verify(qc, digestOf(2))), 'accepted');
  });

  it('remembers what its own aggregators formed', () => {
    const cache = new VerifiedQcCache(new MultisigQcScheme(countedSet));
    const qc = certify(cache, digestOf(4));
    const before = counted.pairings();
    cache.verify(qc, digestOf(4));
    assert.equal(counted.pairings(), before);
  });

  it('forgets the oldest beyond its capacity', () => {
    const scheme = new MultisigQcScheme(set);
    const a = certify(scheme, digestOf(5));
    const b = certify(scheme, digestOf(6));
    const cache = new VerifiedQcCache(new MultisigQcScheme(countedSet), 1);
    cache.verify(a);
    cache.verify(b);
    const before = counted.pairings();
    cache.verify(a);
    assert.equal(counted.pairings(), before + 1);
    assert.throws(() => new VerifiedQcCache(scheme, 0), RangeError);
  });
});

describe('aggregation of shares already verified', () => {
  it('certifies without a pairing, and the certificate verifies', () => {
    const counted = countingBackend(bls);
    const countedSet = ValidatorSet.load(
      counted.backend,
      pairs.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(bls, k.secretKey).bytes })),
    );
    const scheme = new MultisigQcScheme(countedSet);
    const digest = digestOf(7);
    const before = counted.pairings(); // loading the set checked the proofs of possession
    const agg = scheme.newAggregator(digest, { sharesVerified: true });
    let qc: QuorumCertificate | undefined;
    for (const i of [0, 2, 3]) {
      const out = agg.add(i, scheme.signShare(pairs[i]!.secretKey, digest));
      if (out.status === 'certified') qc = out.certificate;
    }
    assert.equal(counted.pairings(), before);
    assert.ok(qc);
    assert.equal(reason(() => new MultisigQcScheme(set).verify(qc!, digest)), 'accepted');
  });

  it('by default still checks the combination, and drops a bad share', () => {
    const scheme = new MultisigQcScheme(set);
    const digest = digestOf(8);
    const agg = scheme.newAggregator(digest);
    agg.add(0, scheme.signShare(pairs[0]!.secretKey, digest));
    agg.add(1, scheme.signShare(pairs[1]!.secretKey, digest));
    const bad = agg.add(2, scheme.signShare(pairs[2]!.secretKey, digestOf(9)));
    assert.equal(bad.status, 'rejected');
    assert.ok(agg.faulty.has(2));
  });
});
