import { randomBytes } from 'node:crypto';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { BlsDecodeError, CryptoArgumentError } from '../errors.js';
import { checkPointFlags, checkSecretKeyBytes } from './encoding.js';
import { BLS_SIG_DST, type BlsBackend, type BlsPublicKey, type BlsSecretKey, type BlsSignature } from './types.js';

type Fp = bigint;
type Fp2 = ReturnType<typeof bls12_381.fields.Fp2.create>;
export type G1Point = WeierstrassPoint<Fp>;
export type G2Point = WeierstrassPoint<Fp2>;

const bls = bls12_381.longSignatures;
const G1 = bls12_381.G1.Point;
const G2 = bls12_381.G2.Point;

class NobleSecretKey implements BlsSecretKey {
  readonly backend = 'noble' as const;
  constructor(
    private readonly bytes: Uint8Array,
    readonly scalar: bigint,
  ) {}
  toBytes(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export class NoblePublicKey implements BlsPublicKey {
  readonly backend = 'noble' as const;
  constructor(
    readonly point: G1Point,
    readonly bytes: Uint8Array,
  ) {}
}

export class NobleSignature implements BlsSignature {
  readonly backend = 'noble' as const;
  constructor(
    readonly point: G2Point,
    readonly bytes: Uint8Array,
  ) {}
  get isInfinity(): boolean {
    return this.point.is0();
  }
}

function mine<T>(value: unknown, cls: abstract new (...args: never[]) => T, what: string): T {
  if (!(value instanceof cls)) throw new CryptoArgumentError(`${what} was not created by the noble backend`);
  return value;
}

/** Hashes a message onto G2 under the proof-of-possession ciphersuite's DST. */
export function hashToG2(message: Uint8Array): G2Point {
  return bls.hash(message, BLS_SIG_DST);
}

/**
 * noble 2.x's Point.fromBytes ends in assertValidity(), which checks the curve equation and
 * prime-order subgroup membership (a scalar multiplication: 2.3 ms of a 3.6 ms G2 decode here).
 * Checking isTorsionFree() again after it doubled that cost. test/crypto/bls.test.ts decodes
 * on-curve points outside the subgroup in G1 and G2 and requires `not-in-subgroup`, so a later
 * noble that stopped checking would fail there.
 */
function decodeFailure(err: unknown): 'not-in-subgroup' | 'not-on-curve' {
  return err instanceof Error && /subgroup|torsion/i.test(err.message) ? 'not-in-subgroup' : 'not-on-curve';
}

/** Messages up to this size are memoised by HashToG2Memo; consensus digests are 32 bytes. */
const MEMO_MAX_MESSAGE_BYTES = 256;
/** Points kept; a replica needs the last few rounds' vote digests, nothing older. */
const MEMO_ENTRIES = 32;

/**
 * Hash-to-curve is the largest single step of a noble signature (about 20 ms of a 30 ms sign
 * and of a 55 ms verify on the bench machine), and consensus hashes each message twice or more:
 * a replica signs its vote on a block's digest and then verifies the QC on that same digest
 * when the next proposal carries it, and the leader checks the votes on the digest it signed
 * itself. Points are immutable, so one hashed point serves every later use. Bounded FIFO, per
 * backend instance (no state shared between backends): a flood of distinct messages (a TC of many
 * timeout digests) only evicts, costing time, never correctness. Keyed by the message alone:
 * hashToG2 has one DST (proofs of possession use the signing DST by design, see keys.ts).
 */
class HashToG2Memo {
  readonly #points = new Map<string, G2Point>();

  hash(message: Uint8Array): G2Point {
    if (message.length > MEMO_MAX_MESSAGE_BYTES) return hashToG2(message);
    const key = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('latin1');
    let point = this.#points.get(key);
    if (point === undefined) {
      point = hashToG2(message);
      if (this.#points.size >= MEMO_ENTRIES) this.#points.delete(this.#points.keys().next().value!);
      this.#points.set(key, point);
    }
    return point;
  }
}

export function nobleSignatureFromPoint(point: G2Point): NobleSignature {
  return new NobleSignature(point, point.is0() ? INFINITY_G2 : point.toBytes(true));
}

export function noblePublicKeyFromPoint(point: G1Point): NoblePublicKey {
  if (point.is0()) throw new BlsDecodeError('public key', 'infinity');
  return new NoblePublicKey(point, point.toBytes(true));
}

const INFINITY_G2 = (() => {
  const b = new Uint8Array(96);
  b[0] = 0xc0;
  return b;
})();

/** Random non-zero 64-bit scalar, as blst uses for batch verification. */
function randomScalar(): bigint {
  for (;;) {
    const r = randomBytes(8).readBigUInt64BE(0);
    if (r !== 0n) return r;
  }
}

/** Pairing check e(-G1, sig) * prod e(pk_i, H_i) == 1, the form all verifications reduce to. */
function pairingHolds(signature: G2Point, pairs: { g1: G1Point; g2: G2Point }[]): boolean {
  const all = [{ g1: G1.BASE.negate(), g2: signature }, ...pairs];
  const gt = bls12_381.pairingBatch(all, true);
  return bls12_381.fields.Fp12.eql(gt, bls12_381.fields.Fp12.ONE);
}

/** Pure-JS backend: @noble/curves (audited, no native code); 20-40x slower than blst. */
export function createNobleBackend(): BlsBackend {
  const memo = new HashToG2Memo();
  return {
    name: 'noble',
    secretKeyFromBytes(bytes) {
      const scalar = checkSecretKeyBytes(bytes);
      return new NobleSecretKey(Uint8Array.from(bytes), scalar);
    },
    publicKeyFromSecretKey(secretKey) {
      return noblePublicKeyFromPoint(G1.BASE.multiply(mine(secretKey, NobleSecretKey, 'secret key').scalar));
    },
    publicKeyFromBytes(bytes) {
      if (checkPointFlags(bytes, 'public key')) throw new BlsDecodeError('public key', 'infinity');
      let point: G1Point;
      try {
        // fromBytes runs assertValidity: the curve equation and the subgroup check (decodeFailure).
        point = G1.fromBytes(bytes);
      } catch (err) {
        throw new BlsDecodeError('public key', decodeFailure(err));
      }
      return new NoblePublicKey(point, Uint8Array.from(bytes));
    },
    signatureFromBytes(bytes) {
      if (checkPointFlags(bytes, 'signature')) return new NobleSignature(G2.ZERO, Uint8Array.from(bytes));
      let point: G2Point;
      try {
        point = G2.fromBytes(bytes);
      } catch (err) {
        throw new BlsDecodeError('signature', decodeFailure(err));
      }
      return new NobleSignature(point, Uint8Array.from(bytes));
    },
    sign(secretKey, message) {
      const sk = mine(secretKey, NobleSecretKey, 'secret key');
      return nobleSignatureFromPoint(memo.hash(message).multiply(sk.scalar));
    },
    verify(publicKey, message, signature) {
      const s = mine(signature, NobleSignature, 'signature');
      if (s.isInfinity) return false;
      const p = mine(publicKey, NoblePublicKey, 'public key');
      return pairingHolds(s.point, [{ g1: p.point, g2: memo.hash(message) }]);
    },
    aggregatePublicKeys(publicKeys) {
      if (publicKeys.length === 0) throw new CryptoArgumentError('cannot aggregate zero public keys');
      let acc = G1.ZERO;
      for (const k of publicKeys) acc = acc.add(mine(k, NoblePublicKey, 'public key').point);
      return noblePublicKeyFromPoint(acc);
    },
    aggregateSignatures(signatures) {
      if (signatures.length === 0) throw new CryptoArgumentError('cannot aggregate zero signatures');
      let acc = G2.ZERO;
      for (const s of signatures) acc = acc.add(mine(s, NobleSignature, 'signature').point);
      return nobleSignatureFromPoint(acc);
    },
    fastAggregateVerify(publicKeys, message, signature) {
      const s = mine(signature, NobleSignature, 'signature');
      if (publicKeys.length === 0 || s.isInfinity) return false;
      let acc = G1.ZERO;
      for (const k of publicKeys) acc = acc.add(mine(k, NoblePublicKey, 'public key').point);
      if (acc.is0()) return false;
      return pairingHolds(s.point, [{ g1: acc, g2: memo.hash(message) }]);
    },
    aggregateVerify(publicKeys, messages, signature) {
      const s = mine(signature, NobleSignature, 'signature');
      if (publicKeys.length === 0 || publicKeys.length !== messages.length || s.isInfinity) return false;
      const pairs = publicKeys.map((k, i) => ({
        g1: mine(k, NoblePublicKey, 'public key').point,
        g2: memo.hash(messages[i]!),
      }));
      return pairingHolds(s.point, pairs);
    },
    verifyBatch(sets) {
      if (sets.length === 0) return false;
      let sigAcc = G2.ZERO;
      const pairs: { g1: G1Point; g2: G2Point }[] = [];
      for (const set of sets) {
        const s = mine(set.signature, NobleSignature, 'signature');
        if (s.isInfinity) return false;
        const r = randomScalar();
        sigAcc = sigAcc.add(s.point.multiply(r));
        pairs.push({ g1: mine(set.publicKey, NoblePublicKey, 'public key').point.multiply(r), g2: memo.hash(set.message) });
      }
      return pairingHolds(sigAcc, pairs);
    },
    signatureToUncompressed(signature) {
      return mine(signature, NobleSignature, 'signature').point.toBytes(false);
    },
  };
}
