import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { inspect } from 'node:util';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import sodium from 'sodium-native';
import {
  type Ed25519Backend,
  Ed25519SecretKey,
  ed25519Backend,
  ed25519KeypairFromSeed,
  ed25519NodeKeyCacheSize,
} from '../../crypto/ed25519/backends.js';
import { type Ed25519Rejection, ed25519PrecheckFailure } from '../../crypto/ed25519/rule.js';
import { CryptoArgumentError } from '../../crypto/errors.js';

// ---------------------------------------------------------------------------------------------
// Independent reference arithmetic. Nothing below reuses crypto/ed25519: constants come from
// noble or are derived from their definitions, so a wrong table in rule.ts cannot hide here.
// ---------------------------------------------------------------------------------------------

const Point = ed25519.Point;
const B = Point.BASE;
const P = 2n ** 255n - 19n;
const L = Point.Fn.ORDER;
const Y_MASK = 2n ** 255n - 1n;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function leInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function leBytes(value: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  assert.equal(v, 0n, 'value does not fit');
  return out;
}

const yField = (encoding: Uint8Array): bigint => leInt(encoding) & Y_MASK;

function withSignBit(encoding: Uint8Array, sign: boolean): Uint8Array {
  const out = encoding.slice();
  out[31] = (out[31]! & 0x7f) | (sign ? 0x80 : 0);
  return out;
}

/** RFC 8032 k = SHA-512(R || A || M) mod L. */
function challenge(r: Uint8Array, publicKey: Uint8Array, message: Uint8Array): bigint {
  return leInt(createHash('sha512').update(r).update(publicKey).update(message).digest()) % L;
}

/** RFC 8032 5.1.5 secret scalar (clamped, not reduced). */
function secretScalar(seed: Uint8Array): bigint {
  const h = createHash('sha512').update(seed).digest();
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  return leInt(h.subarray(0, 32));
}

/**
 * The ref10 decoder shared by libsodium and OpenSSL: y is taken mod p (no canonicity check) and a
 * sign bit on x = 0 is silently ignored. Returns null off the curve.
 */
function decodeLenient(encoding: Uint8Array): EdwardsPoint | null {
  const sign = (encoding[31]! & 0x80) !== 0;
  const canonicalY = leBytes(yField(encoding) % P);
  try {
    return Point.fromBytes(withSignBit(canonicalY, sign));
  } catch {
    if (!sign) return null;
    try {
      const point = Point.fromBytes(canonicalY);
      return point.toAffine().x === 0n ? point : null;
    } catch {
      return null;
    }
  }
}

/**
 * What libsodium's and OpenSSL's verifiers compute once all prechecks are skipped: S < L, A
 * decodes, and the canonical encoding of [S]B - [k]A equals the R bytes (cofactorless). A
 * forgery that passes this but is rejected by a backend is rejected because of the precheck.
 */
function equationWithoutPrechecks(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const s = leInt(signature.subarray(32));
  if (s >= L) return false;
  const a = decodeLenient(publicKey);
  if (a === null) return false;
  const r = signature.subarray(0, 32);
  const rCheck = B.multiplyUnsafe(s).subtract(a.multiplyUnsafe(challenge(r, publicKey, message)));
  return hex(rCheck.toBytes()) === hex(r);
}

const TORSION = ED25519_TORSION_SUBGROUP.map(unhex);
/** y (mod p) of the 8 points of order dividing 8. */
const SMALL_ORDER_Y = new Set(TORSION.map((e) => yField(e) % P));
const ORDER_8 = Point.fromBytes(unhex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));

/**
 * The rule restated arithmetically from libsodium's open.c: a point encoding "has small order"
 * when its y field, reduced mod p, is the y of a small-order point (sign bit irrelevant).
 */
function referenceRule(publicKey: Uint8Array, signature: Uint8Array): Ed25519Rejection | null {
  if (signature.length !== 64) return 'signature-length';
  if (publicKey.length !== 32) return 'public-key-length';
  const r = signature.subarray(0, 32);
  if (leInt(signature.subarray(32)) >= L) return 'non-canonical-s';
  if (SMALL_ORDER_Y.has(yField(r) % P)) return 'small-order-r';
  if (yField(publicKey) >= P) return 'non-canonical-public-key';
  if (SMALL_ORDER_Y.has(yField(publicKey) % P)) return 'small-order-public-key';
  if (yField(r) >= P) return 'non-canonical-r';
  return null;
}

/** libsodium itself, no precheck: sodium-native asserts sizes, so a throw is a rejection. */
function rawSodium(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** node:crypto itself, no precheck. */
function rawNode(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const spki = concat(unhex('302a300506032b6570032100'), publicKey);
    return nodeVerify(null, message, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), signature);
  } catch {
    return false;
  }
}

const sodiumBackend = ed25519Backend('sodium');
const nodeBackend = ed25519Backend('node');
const BACKENDS: readonly Ed25519Backend[] = [sodiumBackend, nodeBackend];

const verdicts = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean[] =>
  BACKENDS.map((b) => b.verify(publicKey, message, signature));

interface Forgery {
  readonly label: string;
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * A signature under a small-order public key Q that satisfies the cofactorless equation without
 * any secret: R = [S]B - [c]Q and retry S until [k]Q = [c]Q (about 1 in ord(Q) tries).
 */
function forgeForSmallOrderKey(publicKey: Uint8Array, message: Uint8Array): Uint8Array {
  const q = decodeLenient(publicKey);
  if (q === null || !q.isSmallOrder()) throw new Error(`${hex(publicKey)} is not a small-order encoding`);
  for (let s = 1n; s < 1000n; s++) {
    for (let c = 0n; c < 8n; c++) {
      const r = B.multiplyUnsafe(s).subtract(q.multiplyUnsafe(c)).toBytes();
      if (q.multiplyUnsafe(challenge(r, publicKey, message)).equals(q.multiplyUnsafe(c))) {
        return concat(r, leBytes(s));
      }
    }
  }
  throw new Error('no forgery found');
}

/**
 * Key holder with scalar a signing under the mixed-order key A = [a]B + T (T of order 8) with
 * nonce point R = [r]B - [c]T: retries messages until k = c (mod 8), so [S]B = R + [k]A holds
 * exactly with S = r + k*a. With r = 0, R is the pure small-order point -[c]T.
 */
function signWithTorsion(seed: Uint8Array, r: bigint, c: bigint, label: string): Forgery {
  const a = secretScalar(seed) % L;
  const publicKey = B.multiplyUnsafe(a).add(ORDER_8).toBytes();
  const rPoint = B.multiplyUnsafe(r).subtract(ORDER_8.multiplyUnsafe(c));
  const rBytes = rPoint.toBytes();
  for (let i = 0; i < 10_000; i++) {
    const message = utf8(`${label} #${i}`);
    const k = challenge(rBytes, publicKey, message);
    if (k % 8n === c) {
      return { label, publicKey, message, signature: concat(rBytes, leBytes((r + k * a) % L)) };
    }
  }
  throw new Error('no message found');
}

// Arbitraries biased towards the encodings the rule cares about.
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const messageArb = fc.uint8Array({ maxLength: 200 });
const pointEncodingArb = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.tuple(fc.constantFrom(...TORSION), fc.boolean()).map(([e, sign]) => withSignBit(e, sign)),
  // Every non-canonical y (p .. 2^255 - 1) and the values just below p.
  fc
    .tuple(fc.integer({ min: -3, max: 18 }), fc.boolean())
    .map(([d, sign]) => withSignBit(leBytes(P + BigInt(d)), sign)),
  // Near misses of small-order encodings: one byte off.
  fc
    .tuple(fc.constantFrom(...TORSION), fc.nat(31), fc.integer({ min: 1, max: 255 }))
    .map(([e, i, x]) => {
      const out = e.slice();
      out[i] ^= x;
      return out;
    }),
);
const scalarArb = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.bigInt({ min: 0n, max: L - 1n }).map((s) => leBytes(s)),
  fc.bigInt({ min: L - 3n, max: L + 3n }).map((s) => leBytes(s)),
  fc.bigInt({ min: 0n, max: L - 1n }).map((s) => leBytes(s + L)),
);

// RFC 8032 section 7.1, TEST 1 and TEST 2.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

describe('ed25519 acceptance rule (libsodium strict verify)', () => {
  it('agrees with an arithmetic restatement of libsodium on adversarial encodings', () => {
    fc.assert(
      fc.property(pointEncodingArb, scalarArb, pointEncodingArb, (r, s, publicKey) => {
        const signature = concat(r, s);
        assert.equal(ed25519PrecheckFailure(publicKey, signature), referenceRule(publicKey, signature));
      }),
      { numRuns: 5000 },
    );
  });

  it('blocks exactly the 8 canonical + 6 non-canonical small-order encodings', () => {
    // Every encoding that could decode to a small-order point: torsion encodings and all
    // y >= p, each with both sign bits.
    const candidates = new Map<string, Uint8Array>();
    for (const e of TORSION) for (const sign of [false, true]) candidates.set(hex(withSignBit(e, sign)), withSignBit(e, sign));
    for (let d = 0n; d <= 18n; d++) {
      for (const sign of [false, true]) candidates.set(hex(withSignBit(leBytes(P + d), sign)), withSignBit(leBytes(P + d), sign));
    }
    const benignKey = ed25519KeypairFromSeed(new Uint8Array(32).fill(1)).publicKey;
    const blockedAsR = [...candidates.values()].filter(
      (r) => ed25519PrecheckFailure(benignKey, concat(r, new Uint8Array(32))) === 'small-order-r',
    );
    const smallOrderByDecoding = [...candidates.values()].filter((e) => decodeLenient(e)?.isSmallOrder() === true);
    assert.deepEqual(blockedAsR.map(hex).sort(), smallOrderByDecoding.map(hex).sort());
    assert.equal(blockedAsR.length, 14);
    assert.equal(blockedAsR.filter((e) => yField(e) < P && decodeLenient(e) !== null && hex(decodeLenient(e)!.toBytes()) === hex(e)).length, 8);
  });

  it('checks lengths first and never throws', () => {
    const ok = new Uint8Array(32).fill(9);
    assert.equal(ed25519PrecheckFailure(ok, new Uint8Array(63)), 'signature-length');
    assert.equal(ed25519PrecheckFailure(ok, new Uint8Array(65)), 'signature-length');
    assert.equal(ed25519PrecheckFailure(new Uint8Array(31), new Uint8Array(64)), 'public-key-length');
    assert.equal(ed25519PrecheckFailure(new Uint8Array(0), new Uint8Array(0)), 'signature-length');
  });

  it('never rejects a signature that raw libsodium accepts', () => {
    fc.assert(
      fc.property(seedArb, messageArb, (seed, message) => {
        const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
        const signature = sodiumBackend.sign(secretKey, message);
        assert.equal(rawSodium(publicKey, message, signature), true);
        assert.equal(ed25519PrecheckFailure(publicKey, signature), null);
      }),
      { numRuns: 200 },
    );
  });
});

describe('ed25519 backends', () => {
  it('round-trips sign/verify on both backends, and across them', () => {
    fc.assert(
      fc.property(seedArb, messageArb, (seed, message) => {
        const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
        for (const signer of BACKENDS) {
          const signature = signer.sign(secretKey, message);
          assert.equal(signature.length, 64);
          assert.deepEqual(verdicts(publicKey, message, signature), [true, true], `signed by ${signer.name}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('produces byte-identical deterministic signatures on both backends (and noble)', () => {
    fc.assert(
      fc.property(seedArb, messageArb, (seed, message) => {
        const { secretKey } = ed25519KeypairFromSeed(seed);
        const bySodium = sodiumBackend.sign(secretKey, message);
        assert.deepEqual(nodeBackend.sign(secretKey, message), bySodium);
        assert.deepEqual(sodiumBackend.sign(secretKey, message), bySodium);
        assert.equal(hex(ed25519.sign(message, seed)), hex(bySodium));
      }),
      { numRuns: 100 },
    );
  });

  it('derives the same public key as OpenSSL and the RFC 8032 scalar', () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
        const pkcs8 = concat(unhex('302e020100300506032b657004220420'), seed);
        const spki = createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })).export({
          format: 'der',
          type: 'spki',
        });
        assert.equal(hex(spki.subarray(12)), hex(publicKey));
        assert.equal(hex(B.multiplyUnsafe(secretScalar(seed) % L).toBytes()), hex(publicKey));
        assert.deepEqual(secretKey.publicKey, publicKey);
      }),
      { numRuns: 50 },
    );
  });

  for (const [i, vector] of RFC8032.entries()) {
    it(`signs RFC 8032 TEST ${i + 1} byte for byte`, () => {
      const { publicKey, secretKey } = ed25519KeypairFromSeed(unhex(vector.seed));
      const message = unhex(vector.message);
      assert.equal(hex(publicKey), vector.publicKey);
      for (const backend of BACKENDS) assert.equal(hex(backend.sign(secretKey, message)), vector.signature, backend.name);
      assert.deepEqual(verdicts(publicKey, message, unhex(vector.signature)), [true, true]);
      assert.equal(rawSodium(publicKey, message, unhex(vector.signature)), true);
    });
  }

  it('agrees with raw libsodium on single-byte mutations of valid signatures, keys and messages', () => {
    fc.assert(
      fc.property(
        seedArb,
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.constantFrom('signature', 'publicKey', 'message'),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (seed, message, target, position, xor) => {
          const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
          const signature = sodiumBackend.sign(secretKey, message);
          const inputs = { signature: signature.slice(), publicKey: publicKey.slice(), message: message.slice() };
          const mutated = inputs[target];
          mutated[position % mutated.length] ^= xor;
          const raw = rawSodium(inputs.publicKey, inputs.message, inputs.signature);
          assert.deepEqual(verdicts(inputs.publicKey, inputs.message, inputs.signature), [raw, raw]);
          if (raw) assert.equal(ed25519PrecheckFailure(inputs.publicKey, inputs.signature), null);
          // libsodium's strict verify is strongly unforgeable: no other bytes verify.
          assert.equal(raw, false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('agrees with raw libsodium (behind the precheck) on adversarial encodings', () => {
    fc.assert(
      fc.property(pointEncodingArb, scalarArb, pointEncodingArb, messageArb, (r, s, publicKey, message) => {
        const signature = concat(r, s);
        const expected = ed25519PrecheckFailure(publicKey, signature) === null && rawSodium(publicKey, message, signature);
        assert.deepEqual(verdicts(publicKey, message, signature), [expected, expected]);
      }),
      { numRuns: 500 },
    );
  });

  it('returns false, never throws, on malformed input', () => {
    const { publicKey, secretKey } = ed25519KeypairFromSeed(new Uint8Array(32).fill(3));
    const message = utf8('m');
    const signature = sodiumBackend.sign(secretKey, message);
    const bad: [unknown, unknown, unknown][] = [
      [publicKey, message, signature.subarray(0, 63)],
      [publicKey, message, new Uint8Array(0)],
      [publicKey.subarray(0, 31), message, signature],
      [concat(publicKey, new Uint8Array(1)), message, signature],
      [null, message, signature],
      [publicKey, 'm', signature],
      [publicKey, message, Array.from(signature)],
      [new Uint8Array(32).fill(0xff), message, signature],
    ];
    for (const backend of BACKENDS) {
      for (const [pk, m, sig] of bad) {
        assert.equal(backend.verify(pk as Uint8Array, m as Uint8Array, sig as Uint8Array), false, `${backend.name}`);
      }
    }
  });

  it('rejects trailing bytes after a valid signature, which raw sodium-native accepts', () => {
    const { publicKey, secretKey } = ed25519KeypairFromSeed(new Uint8Array(32).fill(4));
    const message = utf8('trailing garbage');
    const padded = concat(sodiumBackend.sign(secretKey, message), Uint8Array.of(0));
    // sodium-native passes the whole buffer and libsodium reads only 64 bytes.
    assert.equal(rawSodium(publicKey, message, padded), true);
    assert.equal(ed25519PrecheckFailure(publicKey, padded), 'signature-length');
    assert.deepEqual(verdicts(publicKey, message, padded), [false, false]);
    assert.equal(rawNode(publicKey, message, padded), false);
  });

  it('refuses bad seeds, foreign secret keys and unknown backend names', () => {
    assert.throws(() => ed25519KeypairFromSeed(new Uint8Array(31)), CryptoArgumentError);
    assert.throws(() => ed25519KeypairFromSeed(new Uint8Array(33)), CryptoArgumentError);
    const forged = Object.create(Ed25519SecretKey.prototype) as Ed25519SecretKey;
    for (const backend of BACKENDS) assert.throws(() => backend.sign(forged, utf8('x')), CryptoArgumentError);
    assert.throws(() => ed25519Backend('openssl' as 'node'), CryptoArgumentError);
    assert.equal(ed25519Backend().name, 'sodium');
    assert.equal(ed25519Backend('node'), nodeBackend);
  });

  it('keeps the seed out of JSON and inspect output', () => {
    const seed = new Uint8Array(32).fill(0xab);
    const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
    for (const text of [JSON.stringify(secretKey), inspect(secretKey, { showHidden: true, depth: 5 })]) {
      assert.ok(!text.includes(hex(seed)), text);
    }
    assert.ok(JSON.stringify(secretKey).includes(hex(publicKey)));
    // The exposed public key is a copy.
    secretKey.publicKey.fill(0);
    assert.deepEqual(secretKey.publicKey, publicKey);
  });

  it('bounds the node backend KeyObject cache', () => {
    const signature = concat(B.toBytes(), leBytes(1n));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (publicKey) => {
        nodeBackend.verify(publicKey, utf8('x'), signature);
      }),
      { numRuns: 5000 },
    );
    const size = ed25519NodeKeyCacheSize();
    assert.ok(size > 0 && size <= 4096, `cache size ${size}`);
  });
});

describe('ed25519 edge cases: rule, raw libsodium and both backends reject', () => {
  const seed = unhex('5eed000000000000000000000000000000000000000000000000000000000001');
  const message = utf8('pay 10 to bob');

  /** The forgery satisfies the bare equation, yet libsodium and both backends refuse it. */
  function assertRejectedByRule(forgery: Forgery, reason: Ed25519Rejection): void {
    const { publicKey, message: m, signature, label } = forgery;
    assert.equal(ed25519PrecheckFailure(publicKey, signature), reason, label);
    assert.equal(rawSodium(publicKey, m, signature), false, `${label}: raw libsodium`);
    assert.deepEqual(verdicts(publicKey, m, signature), [false, false], `${label}: backends`);
  }

  it('non-canonical S (S + L)', () => {
    const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
    const valid = sodiumBackend.sign(secretKey, message);
    const sPlusL = leInt(valid.subarray(32)) + L;
    assert.ok(sPlusL < 2n ** 256n);
    const signature = concat(valid.subarray(0, 32), leBytes(sPlusL));
    // Same group element as the valid S: only the canonicity check can refuse it.
    assert.equal(rawSodium(publicKey, message, valid), true);
    assert.equal(equationWithoutPrechecks(publicKey, message, valid), true);
    assertRejectedByRule({ label: 'S + L', publicKey, message, signature }, 'non-canonical-s');
    assert.equal(rawNode(publicKey, message, signature), false);
  });

  it('small-order public keys, with signatures that satisfy the cofactorless equation', () => {
    for (const publicKey of TORSION) {
      const signature = forgeForSmallOrderKey(publicKey, message);
      assert.equal(equationWithoutPrechecks(publicKey, message, signature), true);
      // A lenient (ZIP-215, cofactored) verifier takes these for valid signatures.
      assert.equal(ed25519.verify(signature, message, publicKey, { zip215: true }), true);
      assertRejectedByRule({ label: `A=${hex(publicKey)}`, publicKey, message, signature }, 'small-order-public-key');
    }
    // The identity key with the sign bit set (x = "-0") is the same point, and also blocked.
    const negativeZero = withSignBit(unhex(`01${'00'.repeat(31)}`), true);
    const signature = forgeForSmallOrderKey(negativeZero, message);
    assert.equal(equationWithoutPrechecks(negativeZero, message, signature), true);
    assertRejectedByRule({ label: 'A=-0 identity', publicKey: negativeZero, message, signature }, 'small-order-public-key');
  });

  it('small-order R: the identity, signed by the genuine holder of a prime-order key', () => {
    const { publicKey } = ed25519KeypairFromSeed(seed);
    const r = unhex(`01${'00'.repeat(31)}`);
    const s = (challenge(r, publicKey, message) * (secretScalar(seed) % L)) % L;
    const signature = concat(r, leBytes(s));
    assert.equal(equationWithoutPrechecks(publicKey, message, signature), true);
    assertRejectedByRule({ label: 'R=identity', publicKey, message, signature }, 'small-order-r');
  });

  it('small-order R: each of the 8 small-order points, under a mixed-order key', () => {
    const seen = new Set<string>();
    for (let c = 0n; c < 8n; c++) {
      const forgery = signWithTorsion(seed, 0n, c, `R=-[${c}]T`);
      seen.add(hex(forgery.signature.subarray(0, 32)));
      assert.equal(equationWithoutPrechecks(forgery.publicKey, forgery.message, forgery.signature), true);
      assertRejectedByRule(forgery, 'small-order-r');
    }
    assert.deepEqual([...seen].sort(), TORSION.map(hex).sort());
  });

  it('non-canonical public key (y >= p)', () => {
    // p + 1 encodes y = 1, the identity: the equation holds for R = [S]B, whatever the message.
    const identityPlusP = leBytes(P + 1n);
    const signature = forgeForSmallOrderKey(identityPlusP, message);
    assert.equal(equationWithoutPrechecks(identityPlusP, message, signature), true);
    assertRejectedByRule({ label: 'A=p+1', publicKey: identityPlusP, message, signature }, 'non-canonical-public-key');

    // A y >= p that reduces to a large-order point: canonicity is checked, not order.
    const onCurve = [...Array(17).keys()].map((d) => leBytes(P + 2n + BigInt(d))).filter((e) => decodeLenient(e) !== null);
    assert.ok(onCurve.length > 0);
    const { secretKey } = ed25519KeypairFromSeed(seed);
    for (const publicKey of onCurve) {
      for (const sign of [false, true]) {
        const encoded = withSignBit(publicKey, sign);
        assert.equal(decodeLenient(encoded)?.isSmallOrder(), false);
        const forgery = { label: `A=${hex(encoded)}`, publicKey: encoded, message, signature: sodiumBackend.sign(secretKey, message) };
        assertRejectedByRule(forgery, 'non-canonical-public-key');
      }
    }
  });

  it('non-canonical R (y >= p): libsodium rejects it implicitly, the rule explicitly', () => {
    const { publicKey, secretKey } = ed25519KeypairFromSeed(seed);
    const valid = sodiumBackend.sign(secretKey, message);
    for (let d = 2n; d <= 18n; d++) {
      const r = leBytes(P + d);
      if (decodeLenient(r) === null) continue;
      const signature = concat(r, valid.subarray(32));
      assertRejectedByRule({ label: `R=p+${d}`, publicKey, message, signature }, 'non-canonical-r');
    }
  });

  it('mixed-order A and R are accepted by libsodium, so by the rule and both backends too', () => {
    for (let c = 0n; c < 8n; c++) {
      const { publicKey, message: m, signature, label } = signWithTorsion(seed, 12345n + c, c, `mixed c=${c}`);
      assert.equal(decodeLenient(publicKey)?.isTorsionFree(), false);
      assert.equal(ed25519PrecheckFailure(publicKey, signature), null, label);
      assert.equal(rawSodium(publicKey, m, signature), true, label);
      assert.deepEqual(verdicts(publicKey, m, signature), [true, true], label);
      assert.equal(rawNode(publicKey, m, signature), true, label);
    }
  });

  it('node:crypto (OpenSSL) alone: whatever it accepts, the node backend follows libsodium', function (this: Mocha.Context) {
    const { publicKey } = ed25519KeypairFromSeed(seed);
    const r = unhex(`01${'00'.repeat(31)}`);
    const forgeries: Forgery[] = [
      {
        label: 'R=identity',
        publicKey,
        message,
        signature: concat(r, leBytes((challenge(r, publicKey, message) * (secretScalar(seed) % L)) % L)),
      },
      ...TORSION.map((a) => ({ label: `A=${hex(a)}`, publicKey: a, message, signature: forgeForSmallOrderKey(a, message) })),
      ...[1n, 3n, 5n].map((c) => signWithTorsion(seed, 0n, c, `R=-[${c}]T`)),
      { label: 'A=p+1', publicKey: leBytes(P + 1n), message, signature: forgeForSmallOrderKey(leBytes(P + 1n), message) },
    ];
    let acceptedByOpenSsl = 0;
    for (const forgery of forgeries) {
      // OpenSSL's ossl_ed25519_verify is exactly this equation, with no small-order or
      // canonical-A check; only Node's own blocklist (Node >= 24.x) may stop these.
      assert.equal(equationWithoutPrechecks(forgery.publicKey, forgery.message, forgery.signature), true, forgery.label);
      if (rawNode(forgery.publicKey, forgery.message, forgery.signature)) acceptedByOpenSsl++;
      assert.notEqual(ed25519PrecheckFailure(forgery.publicKey, forgery.signature), null, forgery.label);
      assert.equal(nodeBackend.verify(forgery.publicKey, forgery.message, forgery.signature), false, forgery.label);
      assert.equal(rawSodium(forgery.publicKey, forgery.message, forgery.signature), false, forgery.label);
    }
    this.test!.title += ` [raw node:crypto ${process.version}/OpenSSL ${process.versions.openssl} accepted ${acceptedByOpenSsl}/${forgeries.length}]`;
  });
});
