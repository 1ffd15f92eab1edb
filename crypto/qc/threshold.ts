import { randomBytes } from 'node:crypto';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { BLS_CURVE_ORDER } from '../bls/encoding.js';
import { type G1Point, type G2Point, NobleSignature } from '../bls/noble-backend.js';
import type { BlsBackend, BlsPublicKey, BlsSecretKey, BlsSignature } from '../bls/types.js';
import { bigintFromBE, bytesEqual, uintBE } from '../bytes.js';
import { CryptoArgumentError, CryptoError, QcVerifyError, ValidatorSetError } from '../errors.js';
import { quorumSize } from './quorum.js';
import type { AggregatorOptions, QcAggregator, QcScheme, QuorumCertificate, ShareOutcome } from './types.js';

const Fr = bls12_381.fields.Fr;
const G1 = bls12_381.G1.Point;
const G2 = bls12_381.G2.Point;

/**
 * Public part of a (q, n) threshold key: Feldman commitments C_j = a_j * G1 to the
 * coefficients of the dealer's polynomial f. The group key is C_0 = f(0) * G1, and validator
 * i (share x = i + 1) has share key f(x) * G1 = sum_j C_j * x^j, so anyone holding the
 * commitments can check a share or a partial signature without trusting the dealer.
 */
export interface ThresholdPublicSetup {
  readonly n: number;
  readonly threshold: number;
  /** Compressed G1 points, `threshold` of them; commitments[0] is the group public key. */
  readonly commitments: readonly Uint8Array[];
}

export interface ThresholdDeal {
  readonly setup: ThresholdPublicSetup;
  /** 32-byte secret shares, index i for validator i. Each goes to its validator only. */
  readonly shares: readonly Uint8Array[];
}

function randomScalar(): bigint {
  for (;;) {
    // 48 bytes reduced mod r: bias below 2^-128.
    const v = bigintFromBE(randomBytes(48)) % BLS_CURVE_ORDER;
    if (v !== 0n) return v;
  }
}

/** Evaluates the commitment polynomial at x: sum_j C_j * x^j (Horner). */
function commitmentAt(commitments: readonly G1Point[], x: bigint): G1Point {
  let acc = G1.ZERO;
  for (let j = commitments.length - 1; j >= 0; j--) acc = acc.multiplyUnsafe(x).add(commitments[j]!);
  return acc;
}

/**
 * Trusted-dealer Shamir sharing with Feldman commitments. A dealer is the simplest honest
 * setup for a devnet and for benchmarks; a DKG would replace this function, not its outputs.
 */
export function dealThresholdKeys(n: number, threshold: number = quorumSize(n)): ThresholdDeal {
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) throw new CryptoArgumentError(`n must be in [1, 65535], got ${n}`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) throw new CryptoArgumentError(`threshold must be in [1, n], got ${threshold}`);
  const coefficients = Array.from({ length: threshold }, randomScalar);
  const shares: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const x = BigInt(i + 1);
    let y = 0n;
    for (let j = coefficients.length - 1; j >= 0; j--) y = Fr.add(Fr.mul(y, x), coefficients[j]!);
    shares.push(uintBE(y, 32));
  }
  const commitments = coefficients.map((a) => G1.BASE.multiply(a).toBytes(true));
  return { setup: { n, threshold, commitments }, shares };
}

function decodeCommitments(setup: ThresholdPublicSetup): G1Point[] {
  if (setup.commitments.length !== setup.threshold || setup.threshold < 1 || setup.threshold > setup.n) {
    throw new ValidatorSetError(`threshold setup needs exactly ${setup.threshold} commitments, got ${setup.commitments.length}`);
  }
  return setup.commitments.map((c, j) => {
    try {
      const p = G1.fromBytes(c);
      if (p.is0()) throw new ValidatorSetError(`commitment ${j} is the point at infinity`);
      return p;
    } catch (err) {
      if (err instanceof ValidatorSetError) throw err;
      throw new ValidatorSetError(`commitment ${j} is not a valid G1 point`);
    }
  });
}

/** Feldman check a validator runs on the share it received: share * G1 == sum_j C_j x^j. */
export function verifyDealtShare(setup: ThresholdPublicSetup, index: number, share: Uint8Array): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= setup.n || share.length !== 32) return false;
  const s = bigintFromBE(share);
  if (s === 0n || s >= BLS_CURVE_ORDER) return false;
  return G1.BASE.multiply(s).equals(commitmentAt(decodeCommitments(setup), BigInt(index + 1)));
}

/** Lagrange coefficients at x = 0 for the share points x_i = index_i + 1. */
export function lagrangeAtZero(indices: readonly number[]): bigint[] {
  const xs = indices.map((i) => BigInt(i + 1));
  return xs.map((xi, a) => {
    let num = 1n;
    let den = 1n;
    xs.forEach((xj, b) => {
      if (a === b) return;
      num = Fr.mul(num, xj);
      den = Fr.mul(den, Fr.sub(xj, xi));
    });
    return Fr.div(num, den);
  });
}

/**
 * The Lagrange weights at x = 0 as small integers over one common denominator:
 * lambda_i = weights[i] / denominator (mod r). For share points 1..n the exact rational
 * lambda_i = prod_{j != i} x_j / (x_j - x_i) has a numerator and denominator far below r for
 * the quorums of small and medium chains (for consecutive signers the weights are integers,
 * denominator 1), so sum_i weights[i] * sigma_i costs a few short scalar multiplications and
 * the division one full one, where weights reduced mod r cost a full one each.
 */
export function lagrangeWeights(indices: readonly number[]): { weights: bigint[]; denominator: bigint } {
  const xs = indices.map((i) => BigInt(i + 1));
  const fractions = xs.map((xi, a) => {
    let num = 1n;
    let den = 1n;
    xs.forEach((xj, b) => {
      if (a === b) return;
      num *= xj;
      den *= xj - xi;
    });
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = gcd(num < 0n ? -num : num, den);
    return { num: num / g, den: den / g };
  });
  const denominator = fractions.reduce((acc, f) => (acc / gcd(acc, f.den)) * f.den, 1n);
  return { weights: fractions.map((f) => f.num * (denominator / f.den)), denominator };
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Weights past this size gain nothing over reduced ones (a full multiplication each). */
const SHORT_WEIGHT_BITS = 128;

/**
 * sigma = sum_i lambda_i * sigma_i in G2, on noble (the blst binding has no scalar
 * multiplication; bench/results/crypto.json has the cost, "threshold combine"). Everything here
 * is public (partials and coefficients), so the variable-time multiplication is safe to use.
 * With short integer weights it is sum_i w_i * sigma_i, then one multiplication by the inverse
 * of the common denominator; otherwise each lambda_i is reduced mod r first. A generic
 * multi-scalar multiplication was 4x slower than either for the handful of points of a quorum.
 */
function lagrangeCombine(indices: readonly number[], points: readonly G2Point[]): G2Point {
  const { weights, denominator } = lagrangeWeights(indices);
  const short = weights.every((w) => (w < 0n ? -w : w) < 1n << BigInt(SHORT_WEIGHT_BITS)) && denominator < 1n << BigInt(SHORT_WEIGHT_BITS);
  if (!short) return weightedSum(points, weights.map((w) => Fr.div(Fr.create(w), Fr.create(denominator))));
  const sum = weightedSum(points, weights);
  return denominator === 1n ? sum : mulSigned(sum, Fr.inv(Fr.create(denominator)));
}

/** Below this many points, one multiplication per point beats the bucket method's overhead. */
const BUCKET_METHOD_FROM = 8;

/**
 * sum_i k_i * p_i for integers k_i (any sign). Each scalar is first brought to its smaller
 * signed form mod r, the sign moved onto the point; then Pippenger's bucket method over
 * c-bit windows of the longest scalar: about (bits / c) * (points + 2^c) additions instead of
 * bits additions per point. Short Lagrange weights (tens of bits) make it cheap.
 */
function weightedSum(points: readonly G2Point[], scalars: readonly bigint[]): G2Point {
  if (points.length < BUCKET_METHOD_FROM) return points.reduce((acc, p, i) => acc.add(mulSigned(p, scalars[i]!)), G2.ZERO);
  const signed = points.map((p, i) => {
    const { m, negate } = signedResidue(scalars[i]!);
    return { p: negate ? p.negate() : p, m };
  });
  const bits = signed.reduce((b, { m }) => Math.max(b, m.toString(2).length), 1);
  const c = Math.max(2, Math.floor(Math.log2(points.length)) - 1);
  const mask = (1n << BigInt(c)) - 1n;
  let acc = G2.ZERO;
  for (let window = Math.ceil(bits / c) - 1; window >= 0; window--) {
    for (let k = 0; k < c; k++) acc = acc.double();
    const buckets: (G2Point | undefined)[] = new Array(1 << c);
    const shift = BigInt(window * c);
    for (const { p, m } of signed) {
      const d = Number((m >> shift) & mask);
      if (d !== 0) buckets[d] = buckets[d] ? buckets[d]!.add(p) : p;
    }
    // sum_d d * bucket_d as a running sum from the top bucket down.
    let running = G2.ZERO;
    let windowSum = G2.ZERO;
    for (let d = buckets.length - 1; d >= 1; d--) {
      if (buckets[d]) running = running.add(buckets[d]!);
      windowSum = windowSum.add(running);
    }
    acc = acc.add(windowSum);
  }
  return acc;
}

/** k mod r as a magnitude m <= r / 2 and a sign: k = -m (mod r) when `negate` (fewer bits). */
function signedResidue(k: bigint): { m: bigint; negate: boolean } {
  const m = ((k % BLS_CURVE_ORDER) + BLS_CURVE_ORDER) % BLS_CURVE_ORDER;
  return m > BLS_CURVE_ORDER >> 1n ? { m: BLS_CURVE_ORDER - m, negate: true } : { m, negate: false };
}

/** k * p for any integer k. */
function mulSigned(p: G2Point, k: bigint): G2Point {
  const { m, negate } = signedResidue(k);
  if (m === 0n) return G2.ZERO;
  const out = p.multiplyUnsafe(m);
  return negate ? out.negate() : out;
}

/** Combines partial signatures given as bytes (each decoded and checked by noble). */
export function combinePartialSignatures(indices: readonly number[], partials: readonly Uint8Array[]): Uint8Array {
  if (indices.length === 0 || indices.length !== partials.length) throw new CryptoArgumentError('need one partial signature per index');
  if (new Set(indices).size !== indices.length) throw new CryptoArgumentError('duplicate share index');
  const points = partials.map((p) => G2.fromBytes(p) as G2Point);
  return lagrangeCombine(indices, points).toBytes(true);
}

/**
 * G2 point of a signature the backend has already decoded strictly (on curve, in subgroup):
 * rebuilt from its affine coordinates with no second decompression or subgroup check, which
 * would otherwise dominate the cost of a combination.
 */
function checkedG2Point(backend: BlsBackend, signature: BlsSignature): G2Point {
  if (signature instanceof NobleSignature) return signature.point;
  const raw = backend.signatureToUncompressed(signature);
  if ((raw[0]! & 0x40) !== 0) return G2.ZERO;
  const fp = (from: number) => bigintFromBE(from === 0 ? Uint8Array.of(raw[0]! & 0x1f, ...raw.subarray(1, 48)) : raw.subarray(from, from + 48));
  const Fp2 = bls12_381.fields.Fp2;
  return G2.fromAffine({ x: Fp2.create({ c0: fp(48), c1: fp(0) }), y: Fp2.create({ c0: fp(144), c1: fp(96) }) });
}

/** Lagrange combination of partials that `backend` has already decoded (and so checked). */
export function combineCheckedPartials(backend: BlsBackend, indices: readonly number[], partials: readonly BlsSignature[]): Uint8Array {
  if (indices.length === 0 || indices.length !== partials.length) throw new CryptoArgumentError('need one partial signature per index');
  if (new Set(indices).size !== indices.length) throw new CryptoArgumentError('duplicate share index');
  const points = partials.map((p) => checkedG2Point(backend, p));
  return lagrangeCombine(indices, points).toBytes(true);
}

/**
 * Threshold QC: one 96-byte signature that plain BLS `verify` accepts under the 48-byte group
 * key, whoever the q signers were. Smaller than the multi-signature form and constant in n,
 * at the price of a dealer (or DKG) and a costlier combination step.
 */
export class ThresholdQcScheme implements QcScheme {
  readonly kind = 'threshold' as const;
  readonly n: number;
  readonly quorum: number;
  readonly groupPublicKey: BlsPublicKey;
  readonly #commitments: readonly G1Point[];
  /**
   * Share keys, derived on first use: each costs q G1 multiplications, so deriving all n up
   * front grew as n * q (seconds at a few hundred validators) for every genesis parse, while a
   * client needs none of them and a validator only those of signers it must check one by one.
   */
  readonly #shareKeys: (BlsPublicKey | undefined)[];

  constructor(
    readonly backend: BlsBackend,
    setup: ThresholdPublicSetup,
  ) {
    const commitments = decodeCommitments(setup);
    this.n = setup.n;
    this.quorum = setup.threshold;
    this.#commitments = commitments;
    this.#shareKeys = new Array(setup.n);
    try {
      this.groupPublicKey = backend.publicKeyFromBytes(setup.commitments[0]!);
    } catch (err) {
      if (err instanceof CryptoError) throw new ValidatorSetError(`threshold setup: ${err.message}`);
      throw err;
    }
  }

  /** Validator `index`'s share key, sum_j C_j * (index + 1)^j; ValidatorSetError if it is not a valid key. */
  sharePublicKey(index: number): BlsPublicKey {
    if (!Number.isInteger(index) || index < 0 || index >= this.n) throw new CryptoArgumentError(`no share ${index} (n = ${this.n})`);
    const known = this.#shareKeys[index];
    if (known) return known;
    try {
      const key = this.backend.publicKeyFromBytes(commitmentAt(this.#commitments, BigInt(index + 1)).toBytes(true));
      this.#shareKeys[index] = key;
      return key;
    } catch (err) {
      if (err instanceof CryptoError) throw new ValidatorSetError(`threshold setup: share ${index}: ${err.message}`);
      throw err;
    }
  }

  signShare(shareKey: BlsSecretKey, digest: Uint8Array): Uint8Array {
    if (digest.length !== 32) throw new CryptoArgumentError('digest must be 32 bytes');
    return this.backend.sign(shareKey, digest).bytes;
  }

  verifyShare(signer: number, digest: Uint8Array, share: Uint8Array): boolean {
    if (!Number.isInteger(signer) || signer < 0 || signer >= this.n) return false;
    try {
      return this.backend.verify(this.sharePublicKey(signer), digest, this.backend.signatureFromBytes(share));
    } catch (err) {
      if (err instanceof CryptoError) return false;
      throw err;
    }
  }

  newAggregator(digest: Uint8Array, options: AggregatorOptions = {}): QcAggregator {
    if (digest.length !== 32) throw new CryptoArgumentError('digest must be 32 bytes');
    return new ThresholdAggregator(this, digest, options.sharesVerified === true);
  }

  verify(qc: QuorumCertificate, expectedDigest?: Uint8Array): void {
    if (qc.kind !== 'threshold') throw new QcVerifyError('wrong-kind', `expected a threshold QC, got ${qc.kind}`);
    if (qc.digest.length !== 32) throw new QcVerifyError('malformed', 'digest must be 32 bytes');
    if (qc.n !== this.n) throw new QcVerifyError('malformed', `QC is for n = ${qc.n}, the set has ${this.n}`);
    if (qc.signers !== null) throw new QcVerifyError('malformed', 'threshold QC carries no bitmap');
    if (expectedDigest && !bytesEqual(expectedDigest, qc.digest)) throw new QcVerifyError('digest-mismatch', 'QC certifies a different digest');
    let signature: BlsSignature;
    try {
      signature = this.backend.signatureFromBytes(qc.signature);
    } catch (err) {
      if (err instanceof CryptoError) throw new QcVerifyError('bad-signature', err.message);
      throw err;
    }
    if (!this.backend.verify(this.groupPublicKey, qc.digest, signature)) {
      throw new QcVerifyError('bad-signature', 'signature does not verify under the group key');
    }
  }
}

/**
 * Collects partial signatures; at q it combines the first q and checks the result once under
 * the group key. On failure it checks those q partials one by one against their share keys,
 * drops the bad ones and waits for replacements.
 */
class ThresholdAggregator implements QcAggregator {
  private readonly partials = new Map<number, BlsSignature>();
  private readonly faultySigners = new Set<number>();
  private result: QuorumCertificate | undefined;

  constructor(
    private readonly scheme: ThresholdQcScheme,
    readonly digest: Uint8Array,
    private readonly sharesVerified: boolean,
  ) {}

  get faulty(): ReadonlySet<number> {
    return this.faultySigners;
  }

  get certificate(): QuorumCertificate | undefined {
    return this.result;
  }

  add(signer: number, share: Uint8Array): ShareOutcome {
    if (this.result) return { status: 'certified', certificate: this.result };
    if (!Number.isInteger(signer) || signer < 0 || signer >= this.scheme.n) return { status: 'rejected', reason: `signer ${signer} is not a validator` };
    if (this.faultySigners.has(signer)) return { status: 'rejected', reason: `signer ${signer} already sent an invalid share` };
    if (this.partials.has(signer)) return { status: 'duplicate' };
    try {
      this.partials.set(signer, this.scheme.backend.signatureFromBytes(share));
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      this.faultySigners.add(signer);
      return { status: 'rejected', reason: err.message };
    }
    while (this.partials.size >= this.scheme.quorum) {
      const chosen = [...this.partials.keys()].sort((a, b) => a - b).slice(0, this.scheme.quorum);
      const combined = combineCheckedPartials(
        this.scheme.backend,
        chosen,
        chosen.map((i) => this.partials.get(i)!),
      );
      const signature = this.scheme.backend.signatureFromBytes(combined);
      // Interpolating verified partials of a consistent setup yields the group signature.
      if (this.sharesVerified || this.scheme.backend.verify(this.scheme.groupPublicKey, this.digest, signature)) {
        this.result = { kind: 'threshold', n: this.scheme.n, digest: Uint8Array.from(this.digest), signature: combined, signers: null };
        return { status: 'certified', certificate: this.result };
      }
      let dropped = 0;
      for (const i of chosen) {
        if (!this.scheme.backend.verify(this.scheme.sharePublicKey(i), this.digest, this.partials.get(i)!)) {
          this.partials.delete(i);
          this.faultySigners.add(i);
          dropped++;
        }
      }
      // Every partial valid yet the combination invalid means the setup itself is inconsistent.
      if (dropped === 0) throw new CryptoError('threshold shares verify but do not combine: inconsistent setup', 'THRESHOLD_SETUP');
      if (this.faultySigners.has(signer)) return { status: 'rejected', reason: `partial signature from ${signer} does not verify` };
    }
    return { status: 'pending', collected: this.partials.size };
  }
}
