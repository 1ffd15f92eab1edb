import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import fc from 'fast-check';
import { BLS_BACKEND_NAMES, blsBackend, blsKeyGen, generateBlsKeyPair, popProve, popVerify } from '../../crypto/bls/index.js';
import { BlsDecodeError, CryptoArgumentError } from '../../crypto/errors.js';

const require = createRequire(import.meta.url);
const enc = new TextEncoder();
const Fp = bls12_381.fields.Fp;
const Fp2 = bls12_381.fields.Fp2;

function be48(v: bigint): Uint8Array {
  const out = new Uint8Array(48);
  for (let i = 47; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** First x >= 1 whose curve right-hand side is (or is not) a square: on / off the curve. */
function g1Encoding(onCurve: boolean): Uint8Array {
  for (let x = 1n; ; x++) {
    const rhs = Fp.add(Fp.mul(Fp.sqr(x), x), 4n);
    if ((Fp.pow(rhs, (Fp.ORDER - 1n) / 2n) === 1n) === onCurve) {
      const bytes = be48(x);
      bytes[0]! |= 0x80;
      return bytes;
    }
  }
}

function g2Encoding(onCurve: boolean): Uint8Array {
  for (let c = 1n; ; c++) {
    const x = Fp2.create({ c0: c, c1: 0n });
    const rhs = Fp2.add(Fp2.mul(Fp2.sqr(x), x), Fp2.create({ c0: 4n, c1: 4n }));
    let square = true;
    try {
      Fp2.sqrt(rhs);
    } catch {
      square = false;
    }
    if (square === onCurve) {
      const bytes = new Uint8Array(96);
      bytes.set(be48(c), 48); // x = c1 || c0 in the ZCash encoding; c1 = 0 here
      bytes[0]! |= 0x80;
      return bytes;
    }
  }
}

function decodeReason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BlsDecodeError, `expected BlsDecodeError, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('decoding was expected to fail');
}

for (const name of BLS_BACKEND_NAMES) {
  describe(`BLS backend ${name}`, () => {
    const bls = blsBackend(name);
    const alice = generateBlsKeyPair(bls, new Uint8Array(32).fill(1));
    const bob = generateBlsKeyPair(bls, new Uint8Array(32).fill(2));
    const msg = enc.encode('vsmr test message');

    it('signs and verifies; a different message or key fails', () => {
      const sig = bls.sign(alice.secretKey, msg);
      assert.equal(sig.bytes.length, 96);
      assert.equal(alice.publicKey.bytes.length, 48);
      assert.ok(bls.verify(alice.publicKey, msg, sig));
      assert.ok(!bls.verify(alice.publicKey, enc.encode('other'), sig));
      assert.ok(!bls.verify(bob.publicKey, msg, sig));
    });

    it('keeps messages apart when the same backend signs and verifies many (noble memoises hashes)', () => {
      // Views into one buffer at different offsets, more of them than any memo holds, then the
      // first again: each signature verifies under its own message only.
      const buffer = new Uint8Array(96).map((_, i) => i);
      const messages = Array.from({ length: 40 }, (_, i) => buffer.subarray(i, i + 32));
      messages.push(new Uint8Array(300).fill(9));
      const sigs = messages.map((m) => bls.sign(alice.secretKey, m));
      for (let i = 0; i < messages.length; i++) {
        assert.ok(bls.verify(alice.publicKey, messages[i]!, sigs[i]!), `message ${i}`);
        assert.ok(!bls.verify(alice.publicKey, messages[(i + 1) % messages.length]!, sigs[i]!), `message ${i} against the next one`);
      }
      assert.ok(bls.verify(alice.publicKey, messages[0]!, sigs[0]!));
    });

    it('round-trips keys and signatures through bytes', () => {
      const sig = bls.sign(alice.secretKey, msg);
      const pk2 = bls.publicKeyFromBytes(alice.publicKey.bytes);
      const sig2 = bls.signatureFromBytes(sig.bytes);
      assert.ok(bls.verify(pk2, msg, sig2));
      assert.deepEqual(bls.secretKeyFromBytes(alice.secretKey.toBytes()).toBytes(), alice.secretKey.toBytes());
    });

    it('decodes strictly, with the reason as a typed error', () => {
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(new Uint8Array(47))), 'length');
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(new Uint8Array(96))), 'length');
      const uncompressed = Uint8Array.from(alice.publicKey.bytes);
      uncompressed[0]! &= 0x7f;
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(uncompressed)), 'flags');
      const infinity = new Uint8Array(48);
      infinity[0] = 0xc0;
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(infinity)), 'infinity');
      const dirtyInfinity = Uint8Array.from(infinity);
      dirtyInfinity[47] = 1;
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(dirtyInfinity)), 'flags');
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(g1Encoding(false))), 'not-on-curve');
      assert.equal(decodeReason(() => bls.publicKeyFromBytes(g1Encoding(true))), 'not-in-subgroup');
      assert.equal(decodeReason(() => bls.signatureFromBytes(new Uint8Array(48))), 'length');
      assert.equal(decodeReason(() => bls.signatureFromBytes(g2Encoding(false))), 'not-on-curve');
      assert.equal(decodeReason(() => bls.signatureFromBytes(g2Encoding(true))), 'not-in-subgroup');
      assert.equal(decodeReason(() => bls.secretKeyFromBytes(new Uint8Array(32))), 'bad-scalar');
      assert.equal(decodeReason(() => bls.secretKeyFromBytes(new Uint8Array(32).fill(0xff))), 'bad-scalar');
    });

    it('accepts the infinity signature as an encoding but verifies nothing with it', () => {
      const inf = new Uint8Array(96);
      inf[0] = 0xc0;
      const sig = bls.signatureFromBytes(inf);
      assert.ok(sig.isInfinity);
      assert.ok(!bls.verify(alice.publicKey, msg, sig));
      assert.ok(!bls.fastAggregateVerify([alice.publicKey], msg, sig));
    });

    it('aggregates: fast-aggregate-verify, aggregate-verify and batch verify', () => {
      const keys = [alice, bob, generateBlsKeyPair(bls, new Uint8Array(32).fill(3))];
      const sigs = keys.map((k) => bls.sign(k.secretKey, msg));
      const agg = bls.aggregateSignatures(sigs);
      const pks = keys.map((k) => k.publicKey);
      assert.ok(bls.fastAggregateVerify(pks, msg, agg));
      assert.ok(!bls.fastAggregateVerify(pks.slice(0, 2), msg, agg));
      assert.ok(!bls.fastAggregateVerify([], msg, agg));
      const msgs = keys.map((_, i) => enc.encode(`message ${i}`));
      const distinct = bls.aggregateSignatures(keys.map((k, i) => bls.sign(k.secretKey, msgs[i]!)));
      assert.ok(bls.aggregateVerify(pks, msgs, distinct));
      assert.ok(!bls.aggregateVerify(pks, [...msgs].reverse(), distinct));
      const sets = keys.map((k, i) => ({ publicKey: k.publicKey, message: msgs[i]!, signature: bls.sign(k.secretKey, msgs[i]!) }));
      assert.ok(bls.verifyBatch(sets));
      const swapped = [...sets];
      swapped[1] = { ...sets[1]!, signature: sets[2]!.signature };
      assert.ok(!bls.verifyBatch(swapped));
      assert.throws(() => bls.aggregateSignatures([]), CryptoArgumentError);
      assert.throws(() => bls.aggregatePublicKeys([]), CryptoArgumentError);
    });

    it('proves possession; a proof for another key or a plain signature does not pass', () => {
      const pop = popProve(bls, alice.secretKey);
      assert.ok(popVerify(bls, alice.publicKey, pop));
      assert.ok(!popVerify(bls, bob.publicKey, pop));
      assert.ok(!popVerify(bls, alice.publicKey, bls.sign(alice.secretKey, alice.publicKey.bytes)));
    });

    it('refuses objects made by the other backend', () => {
      const other = blsBackend(name === 'blst' ? 'noble' : 'blst');
      const foreign = generateBlsKeyPair(other, new Uint8Array(32).fill(9));
      assert.throws(() => bls.sign(foreign.secretKey, msg), CryptoArgumentError);
    });
  });
}

describe('BLS backends agree', () => {
  const blst = blsBackend('blst');
  const noble = blsBackend('noble');

  it('KeyGen matches blst`s own implementation of the IETF KeyGen', () => {
    const native = require('@chainsafe/blst') as { SecretKey: { fromKeygen(ikm: Uint8Array): { toBytes(): Uint8Array } } };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 64 }), (ikm) => {
        assert.deepEqual(blsKeyGen(ikm), native.SecretKey.fromKeygen(ikm).toBytes());
      }),
      { numRuns: 50 },
    );
  });

  it('byte for byte on random keys and messages, and each verifies the other`s output', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (ikm, message) => {
        const a = generateBlsKeyPair(blst, ikm);
        const b = generateBlsKeyPair(noble, ikm);
        assert.deepEqual(a.publicKey.bytes, b.publicKey.bytes);
        const sa = blst.sign(a.secretKey, message);
        const sb = noble.sign(b.secretKey, message);
        assert.deepEqual(sa.bytes, sb.bytes);
        assert.ok(noble.verify(noble.publicKeyFromBytes(a.publicKey.bytes), message, noble.signatureFromBytes(sa.bytes)));
        assert.ok(blst.verify(blst.publicKeyFromBytes(b.publicKey.bytes), message, blst.signatureFromBytes(sb.bytes)));
        assert.deepEqual(popProve(blst, a.secretKey).bytes, popProve(noble, b.secretKey).bytes);
      }),
      { numRuns: 8 },
    );
  });

  it('aggregate identically', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 5 }), (ikms) => {
        const msg = enc.encode('agg');
        const sigs = ikms.map((ikm) => blst.sign(generateBlsKeyPair(blst, ikm).secretKey, msg).bytes);
        const a = blst.aggregateSignatures(sigs.map((s) => blst.signatureFromBytes(s)));
        const b = noble.aggregateSignatures(sigs.map((s) => noble.signatureFromBytes(s)));
        assert.deepEqual(a.bytes, b.bytes);
      }),
      { numRuns: 5 },
    );
  });
});
