import assert from 'node:assert/strict';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import fc from 'fast-check';
import { BLS_BACKEND_NAMES, type BlsBackend, type BlsKeyPair, blsBackend, generateBlsKeyPair, popProve } from '../../crypto/bls/index.js';
import { EncodingError, QcVerifyError, ValidatorSetError } from '../../crypto/errors.js';
import {
  bitmapFromIndices,
  bitmapIndices,
  combineCheckedPartials,
  combinePartialSignatures,
  dealThresholdKeys,
  decodeQc,
  lagrangeAtZero,
  lagrangeWeights,
  encodedQcSize,
  encodeQc,
  MultisigQcScheme,
  maxFaulty,
  type QuorumCertificate,
  quorumSize,
  ThresholdQcScheme,
  ValidatorSet,
  verifyDealtShare,
} from '../../crypto/qc/index.js';

const digestOf = (s: string) => new Uint8Array(32).fill(s.charCodeAt(0));

function keys(bls: BlsBackend, n: number): BlsKeyPair[] {
  return Array.from({ length: n }, (_, i) => generateBlsKeyPair(bls, new Uint8Array(32).fill(i + 1)));
}

function loadSet(bls: BlsBackend, pairs: BlsKeyPair[]): ValidatorSet {
  return ValidatorSet.load(
    bls,
    pairs.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(bls, k.secretKey).bytes })),
  );
}

function rejection(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof QcVerifyError, `expected QcVerifyError, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('expected the QC to be rejected');
}

describe('quorum math', () => {
  it('any two quorums share at least f+1 validators, and the honest ones alone form a quorum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), (n) => {
        const f = maxFaulty(n);
        const q = quorumSize(n);
        assert.ok(3 * f + 1 <= n && n < 3 * (f + 1) + 1, 'f is the largest with 3f + 1 <= n');
        assert.ok(2 * q - n >= f + 1, 'intersection contains an honest validator');
        assert.ok(q <= n - f, 'honest validators can certify without the faulty ones');
        if (n === 3 * f + 1) assert.equal(q, 2 * f + 1);
      }),
    );
  });

  it('bitmaps round-trip any signer set', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.uniqueArray(fc.nat(n - 1)))),
        ([n, ids]) => {
          const bm = bitmapFromIndices(n, ids);
          assert.equal(bm.length, Math.ceil(n / 8));
          assert.deepEqual(
            bitmapIndices(bm),
            [...ids].sort((a, b) => a - b),
          );
        },
      ),
    );
  });
});

describe('QC codec', () => {
  const arbQc: fc.Arbitrary<QuorumCertificate> = fc.integer({ min: 1, max: 600 }).chain((n) =>
    fc.record({
      kind: fc.constantFrom('multisig' as const, 'threshold' as const),
      n: fc.constant(n),
      digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      signature: fc.uint8Array({ minLength: 96, maxLength: 96 }),
      signers: fc.uint8Array({ minLength: Math.ceil(n / 8), maxLength: Math.ceil(n / 8) }),
    }).map((r) => ({ ...r, signers: r.kind === 'multisig' ? r.signers : null })),
  );

  it('round-trips', () => {
    fc.assert(
      fc.property(arbQc, (qc) => {
        const bytes = encodeQc(qc);
        assert.equal(bytes.length, encodedQcSize(qc.kind, qc.n));
        assert.deepEqual(decodeQc(bytes), qc);
      }),
    );
  });

  it('rejects arbitrary and truncated bytes with EncodingError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeQc(bytes);
        } catch (err) {
          assert.ok(err instanceof EncodingError);
        }
      }),
    );
    fc.assert(
      fc.property(arbQc, fc.integer({ min: 1, max: 20 }), (qc, cut) => {
        const bytes = encodeQc(qc);
        assert.throws(() => decodeQc(bytes.slice(0, bytes.length - cut)), EncodingError);
        assert.throws(() => decodeQc(new Uint8Array([...bytes, 0])), EncodingError);
      }),
    );
  });
});

for (const name of BLS_BACKEND_NAMES) {
  describe(`multisig QC (${name})`, () => {
    const bls = blsBackend(name);
    const pairs = keys(bls, 4);
    const set = loadSet(bls, pairs);
    const scheme = new MultisigQcScheme(set);
    const digest = digestOf('a');

    function certify(signers: number[]): QuorumCertificate {
      const agg = scheme.newAggregator(digest);
      for (const i of signers) {
        const out = agg.add(i, scheme.signShare(pairs[i]!.secretKey, digest));
        if (out.status === 'certified') return out.certificate;
      }
      assert.fail('no certificate formed');
    }

    it('forms at quorum and verifies', () => {
      assert.equal(set.quorum, 3);
      const agg = scheme.newAggregator(digest);
      assert.equal(agg.add(0, scheme.signShare(pairs[0]!.secretKey, digest)).status, 'pending');
      assert.equal(agg.add(0, scheme.signShare(pairs[0]!.secretKey, digest)).status, 'duplicate');
      assert.equal(agg.add(2, scheme.signShare(pairs[2]!.secretKey, digest)).status, 'pending');
      const out = agg.add(3, scheme.signShare(pairs[3]!.secretKey, digest));
      assert.equal(out.status, 'certified');
      const qc = agg.certificate!;
      assert.deepEqual(bitmapIndices(qc.signers!), [0, 2, 3]);
      scheme.verify(qc, digest);
      scheme.verify(decodeQc(encodeQc(qc)));
    });

    it('drops a bad share without stalling and names its signer', () => {
      const agg = scheme.newAggregator(digest);
      agg.add(0, scheme.signShare(pairs[0]!.secretKey, digest));
      agg.add(1, scheme.signShare(pairs[1]!.secretKey, digestOf('x'))); // valid signature, wrong digest
      const third = agg.add(2, scheme.signShare(pairs[2]!.secretKey, digest));
      assert.equal(third.status, 'pending');
      assert.deepEqual([...agg.faulty], [1]);
      assert.equal(agg.add(1, scheme.signShare(pairs[1]!.secretKey, digest)).status, 'rejected');
      const out = agg.add(3, scheme.signShare(pairs[3]!.secretKey, digest));
      assert.equal(out.status, 'certified');
      scheme.verify(agg.certificate!);
      assert.equal(agg.add(9, new Uint8Array(96)).status, 'certified');
    });

    it('rejects an undecodable share at once', () => {
      const agg = scheme.newAggregator(digest);
      const out = agg.add(0, new Uint8Array(95));
      assert.equal(out.status, 'rejected');
      assert.ok(agg.faulty.has(0));
    });

    it('refuses each kind of bad certificate with its own reason', () => {
      const qc = certify([0, 1, 2]);
      assert.equal(rejection(() => scheme.verify({ ...qc, kind: 'threshold' })), 'wrong-kind');
      assert.equal(rejection(() => scheme.verify(qc, digestOf('z'))), 'digest-mismatch');
      assert.equal(rejection(() => scheme.verify({ ...qc, signers: new Uint8Array(2) })), 'bitmap-length');
      assert.equal(rejection(() => scheme.verify({ ...qc, signers: Uint8Array.of(0b0001_0111) })), 'bitmap-overflow');
      assert.equal(rejection(() => scheme.verify({ ...qc, signers: Uint8Array.of(0b0000_0011) })), 'below-quorum');
      assert.equal(rejection(() => scheme.verify({ ...qc, signers: Uint8Array.of(0b0000_1011) })), 'bad-signature');
      const flipped = Uint8Array.from(qc.signature);
      flipped[50]! ^= 1;
      assert.equal(rejection(() => scheme.verify({ ...qc, signature: flipped })), 'bad-signature');
      assert.equal(rejection(() => scheme.verify({ ...qc, digest: digestOf('b') })), 'bad-signature');
    });
  });
}

describe('validator set loading and the rogue-key attack', () => {
  const bls = blsBackend('blst');
  const honest = keys(bls, 3);
  const digest = digestOf('r');

  // The attacker publishes pk_rogue = sk_a * G - sum(honest pks): the aggregate of all four keys
  // is then sk_a * G, so the attacker alone can sign "for" everyone.
  const G1 = bls12_381.G1.Point;
  const attackerSk = 0x1234567890abcdefn;
  const honestSum = honest.reduce((acc, k) => acc.add(G1.fromBytes(k.publicKey.bytes)), G1.ZERO);
  const roguePk = G1.BASE.multiply(attackerSk).subtract(honestSum).toBytes(true);
  const attacker = bls.secretKeyFromBytes(Uint8Array.from(Buffer.from(attackerSk.toString(16).padStart(64, '0'), 'hex')));
  const forged: QuorumCertificate = {
    kind: 'multisig',
    n: 4,
    digest,
    signature: bls.sign(attacker, digest).bytes,
    signers: bitmapFromIndices(4, [0, 1, 2, 3]),
  };

  it('is accepted when proofs of possession are skipped', () => {
    const unsafe = ValidatorSet.loadWithoutProofsOfPossession(bls, [...honest.map((k) => k.publicKey.bytes), roguePk]);
    new MultisigQcScheme(unsafe).verify(forged);
  });

  it('is stopped by the loader that checks proofs of possession', () => {
    const entries = [
      ...honest.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(bls, k.secretKey).bytes })),
      // The best the attacker can offer: a PoP made with the key it does hold.
      { publicKey: roguePk, proofOfPossession: popProve(bls, attacker).bytes },
    ];
    assert.throws(() => ValidatorSet.load(bls, entries), (err: unknown) => err instanceof ValidatorSetError && err.index === 3);
  });

  it('rejects duplicate keys and bad key bytes with the validator index', () => {
    const pop = (k: BlsKeyPair) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(bls, k.secretKey).bytes });
    assert.throws(
      () => ValidatorSet.load(bls, [pop(honest[0]!), pop(honest[1]!), pop(honest[0]!)]),
      (err: unknown) => err instanceof ValidatorSetError && err.index === 2,
    );
    assert.throws(
      () => ValidatorSet.load(bls, [pop(honest[0]!), { publicKey: new Uint8Array(48), proofOfPossession: new Uint8Array(96) }]),
      (err: unknown) => err instanceof ValidatorSetError && err.index === 1,
    );
    assert.throws(() => ValidatorSet.load(bls, []), ValidatorSetError);
  });
});

for (const name of BLS_BACKEND_NAMES) {
  describe(`threshold QC (${name})`, () => {
    const bls = blsBackend(name);
    const n = 7;
    const deal = dealThresholdKeys(n);
    const q = quorumSize(n);
    const scheme = new ThresholdQcScheme(bls, deal.setup);
    const shareKeys = deal.shares.map((s) => bls.secretKeyFromBytes(s));
    const digest = digestOf('t');
    const partial = (i: number, d = digest) => scheme.signShare(shareKeys[i]!, d);

    it('deals shares every validator can check against the commitments', () => {
      assert.equal(deal.setup.commitments.length, q);
      for (const [i, s] of deal.shares.entries()) assert.ok(verifyDealtShare(deal.setup, i, s));
      const tampered = Uint8Array.from(deal.shares[0]!);
      tampered[31]! ^= 1;
      assert.ok(!verifyDealtShare(deal.setup, 0, tampered));
      assert.ok(!verifyDealtShare(deal.setup, 1, deal.shares[0]!));
    });

    it('any q partials combine to the same signature, which plain verify accepts under the group key', () => {
      const first = [0, 1, 2, 3, 4];
      const other = [2, 3, 4, 5, 6];
      const a = combinePartialSignatures(first, first.map((i) => partial(i)));
      const b = combinePartialSignatures(other, other.map((i) => partial(i)));
      assert.deepEqual(a, b);
      assert.ok(bls.verify(scheme.groupPublicKey, digest, bls.signatureFromBytes(a)));
      assert.equal(scheme.groupPublicKey.bytes.length, 48);
    });

    it('combining already-decoded partials gives the same bytes as combining from bytes', () => {
      const ids = [1, 3, 4, 5, 6];
      const bytes = ids.map((i) => partial(i));
      assert.deepEqual(
        combineCheckedPartials(
          bls,
          ids,
          bytes.map((b) => bls.signatureFromBytes(b)),
        ),
        combinePartialSignatures(ids, bytes),
      );
    });

    it('q - 1 partials do not make a valid signature', () => {
      const few = [0, 1, 2, 3];
      const sig = combinePartialSignatures(few, few.map((i) => partial(i)));
      assert.ok(!bls.verify(scheme.groupPublicKey, digest, bls.signatureFromBytes(sig)));
    });

    it('aggregates past a bad partial and verifies; tampering is refused', () => {
      const agg = scheme.newAggregator(digest);
      agg.add(0, partial(0));
      agg.add(1, partial(1, digestOf('x')));
      for (const i of [2, 3]) assert.equal(agg.add(i, partial(i)).status, 'pending');
      assert.equal(agg.add(4, partial(4)).status, 'pending', 'bad partial found and dropped');
      assert.deepEqual([...agg.faulty], [1]);
      assert.equal(agg.add(5, partial(5)).status, 'certified');
      const qc = decodeQc(encodeQc(agg.certificate!));
      scheme.verify(qc, digest);
      assert.ok(scheme.verifyShare(0, digest, partial(0)));
      assert.ok(!scheme.verifyShare(1, digest, partial(0)));
      const flipped = Uint8Array.from(qc.signature);
      flipped[70]! ^= 1;
      assert.equal(rejection(() => scheme.verify({ ...qc, signature: flipped })), 'bad-signature');
      assert.equal(rejection(() => scheme.verify({ ...qc, digest: digestOf('u') })), 'bad-signature');
      assert.equal(rejection(() => scheme.verify({ ...qc, kind: 'multisig' })), 'wrong-kind');
    });
  });
}

describe('Lagrange weights over a common denominator', () => {
  const Fr = bls12_381.fields.Fr;

  it('equal the coefficients reduced mod r, for any set of distinct signers', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { minLength: 1, maxLength: 80 }), (indices) => {
        const { weights, denominator } = lagrangeWeights(indices);
        const reduced = lagrangeAtZero(indices);
        assert.ok(denominator > 0n);
        weights.forEach((w, i) => {
          assert.equal(Fr.div(Fr.create(w), Fr.create(denominator)), reduced[i]);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('are small integers with denominator 1 for consecutive signers', () => {
    assert.deepEqual(lagrangeWeights([0, 1, 2]), { weights: [3n, -3n, 1n], denominator: 1n });
    assert.deepEqual(lagrangeWeights([0, 1, 3]), { weights: [8n, -6n, 1n], denominator: 3n });
  });

  it('combine to the group signature both for short weights and for a quorum whose weights need reducing', () => {
    const bls = blsBackend('blst');
    const n = 100;
    const q = quorumSize(n);
    const deal = dealThresholdKeys(n);
    const scheme = new ThresholdQcScheme(bls, deal.setup);
    const digest = digestOf('w');
    const partial = (i: number) => bls.signatureFromBytes(scheme.signShare(bls.secretKeyFromBytes(deal.shares[i]!), digest));
    // Consecutive signers: integer weights. Every third signer, then the rest: weights past the
    // 128-bit bound of the short path, so each is reduced mod r.
    const consecutive = Array.from({ length: q }, (_, i) => i);
    const spread = [...Array.from({ length: 34 }, (_, i) => 3 * i), ...Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 3 !== 0)].slice(0, q);
    assert.ok(lagrangeWeights(spread).weights.some((w) => w > 1n << 128n || w < -(1n << 128n)), 'the spread quorum must exercise the reduced path');
    const a = combineCheckedPartials(bls, consecutive, consecutive.map(partial));
    const b = combineCheckedPartials(bls, spread, spread.map(partial));
    assert.deepEqual(a, b);
    assert.ok(bls.verify(scheme.groupPublicKey, digest, bls.signatureFromBytes(a)));
  });
});
