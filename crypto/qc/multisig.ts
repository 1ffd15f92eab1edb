import type { BlsBackend, BlsPublicKey, BlsSecretKey, BlsSignature } from '../bls/types.js';
import { bytesEqual } from '../bytes.js';
import { CryptoError, QcVerifyError } from '../errors.js';
import { bitmapBytes, bitmapFromIndices, bitmapIndices, firstBitPast } from './bitmap.js';
import type { AggregatorOptions, QcAggregator, QcScheme, QuorumCertificate, ShareOutcome } from './types.js';
import type { ValidatorSet } from './validator-set.js';

const DIGEST_BYTES = 32;

function checkDigest(digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_BYTES) {
    throw new QcVerifyError('malformed', `digest must be ${DIGEST_BYTES} bytes`);
  }
}

/**
 * Multi-signature QC: the aggregate of the signers' own BLS signatures plus a bitmap of who
 * signed. Verification follows Aptos' ValidatorVerifier: structural checks first (cheap,
 * reject early), then one aggregate public key and a single pairing check.
 */
export class MultisigQcScheme implements QcScheme {
  readonly kind = 'multisig' as const;
  readonly n: number;
  readonly quorum: number;
  private readonly backend: BlsBackend;

  constructor(readonly validators: ValidatorSet) {
    this.n = validators.n;
    this.quorum = validators.quorum;
    this.backend = validators.backend;
  }

  signShare(secretKey: BlsSecretKey, digest: Uint8Array): Uint8Array {
    checkDigest(digest);
    return this.backend.sign(secretKey, digest).bytes;
  }

  verifyShare(signer: number, digest: Uint8Array, share: Uint8Array): boolean {
    if (!Number.isInteger(signer) || signer < 0 || signer >= this.n) return false;
    try {
      return this.backend.verify(this.validators.publicKey(signer), digest, this.backend.signatureFromBytes(share));
    } catch (err) {
      if (err instanceof CryptoError) return false;
      throw err;
    }
  }

  newAggregator(digest: Uint8Array, options: AggregatorOptions = {}): QcAggregator {
    checkDigest(digest);
    return new MultisigAggregator(this, digest, options.sharesVerified === true);
  }

  verify(qc: QuorumCertificate, expectedDigest?: Uint8Array): void {
    if (qc.kind !== 'multisig') throw new QcVerifyError('wrong-kind', `expected a multisig QC, got ${qc.kind}`);
    checkDigest(qc.digest);
    if (expectedDigest && !bytesEqual(expectedDigest, qc.digest)) throw new QcVerifyError('digest-mismatch', 'QC certifies a different digest');
    const bitmap = qc.signers;
    if (!bitmap || qc.n !== this.n || bitmap.length !== bitmapBytes(this.n)) {
      throw new QcVerifyError('bitmap-length', `bitmap must be ${bitmapBytes(this.n)} bytes for n = ${this.n}`);
    }
    const past = firstBitPast(bitmap, this.n);
    if (past >= 0) throw new QcVerifyError('bitmap-overflow', `bit ${past} set but n = ${this.n}`);
    const signers = bitmapIndices(bitmap);
    if (signers.length < this.quorum) throw new QcVerifyError('below-quorum', `${signers.length} signers, quorum is ${this.quorum}`);
    let signature: BlsSignature;
    try {
      signature = this.backend.signatureFromBytes(qc.signature);
    } catch (err) {
      if (err instanceof CryptoError) throw new QcVerifyError('bad-signature', err.message);
      throw err;
    }
    if (!this.verifySubset(signers, qc.digest, signature)) {
      throw new QcVerifyError('bad-signature', 'aggregate signature does not verify under the signers');
    }
  }

  /** @internal one aggregate key, one pairing check. */
  verifySubset(signers: readonly number[], digest: Uint8Array, signature: BlsSignature): boolean {
    const keys: BlsPublicKey[] = signers.map((i) => this.validators.publicKey(i));
    return this.backend.fastAggregateVerify(keys, digest, signature);
  }

  /** @internal */
  get blsBackend(): BlsBackend {
    return this.backend;
  }
}

/**
 * Optimistic aggregation: shares are not verified on arrival. Once q are in, they are
 * aggregated and checked once; only if that fails does bisection hunt down the bad shares,
 * which are dropped (their signers marked faulty) while collection goes on, so one bad share
 * costs O(log n) extra checks and never stalls the certificate.
 */
class MultisigAggregator implements QcAggregator {
  private readonly shares = new Map<number, BlsSignature>();
  private readonly faultySigners = new Set<number>();
  private result: QuorumCertificate | undefined;

  constructor(
    private readonly scheme: MultisigQcScheme,
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
    if (!Number.isInteger(signer) || signer < 0 || signer >= this.scheme.n) {
      return { status: 'rejected', reason: `signer ${signer} is not a validator` };
    }
    if (this.faultySigners.has(signer)) return { status: 'rejected', reason: `signer ${signer} already sent an invalid share` };
    if (this.shares.has(signer)) return { status: 'duplicate' };
    let signature: BlsSignature;
    try {
      signature = this.scheme.blsBackend.signatureFromBytes(share);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      this.faultySigners.add(signer);
      return { status: 'rejected', reason: err.message };
    }
    this.shares.set(signer, signature);
    if (this.shares.size < this.scheme.quorum) return { status: 'pending', collected: this.shares.size };
    return this.tryCertify(signer);
  }

  private tryCertify(lastSigner: number): ShareOutcome {
    const signers = [...this.shares.keys()].sort((a, b) => a - b);
    const backend = this.scheme.blsBackend;
    const aggregate = (ids: readonly number[]) => backend.aggregateSignatures(ids.map((i) => this.shares.get(i)!));
    const all = aggregate(signers);
    // Aggregates of valid signatures on one message are valid: nothing left to check.
    if (this.sharesVerified) return this.certify(signers, all);
    if (this.scheme.verifySubset(signers, this.digest, all)) return this.certify(signers, all);

    const bad = this.findBad(signers);
    for (const i of bad) {
      this.shares.delete(i);
      this.faultySigners.add(i);
    }
    const good = signers.filter((i) => !bad.includes(i));
    // Valid aggregates over one message add up to a valid aggregate: no re-check needed.
    if (good.length >= this.scheme.quorum) return this.certify(good, aggregate(good));
    if (bad.includes(lastSigner)) return { status: 'rejected', reason: `share from signer ${lastSigner} does not verify` };
    return { status: 'pending', collected: this.shares.size };
  }

  private findBad(signers: readonly number[]): number[] {
    const backend = this.scheme.blsBackend;
    const check = (ids: readonly number[]) =>
      this.scheme.verifySubset(ids, this.digest, backend.aggregateSignatures(ids.map((i) => this.shares.get(i)!)));
    const bisect = (ids: readonly number[]): number[] => {
      if (ids.length === 1) return [ids[0]!];
      const mid = ids.length >> 1;
      const left = ids.slice(0, mid);
      const right = ids.slice(mid);
      return [...(check(left) ? [] : bisect(left)), ...(check(right) ? [] : bisect(right))];
    };
    return bisect(signers);
  }

  private certify(signers: readonly number[], signature: BlsSignature): ShareOutcome {
    this.result = {
      kind: 'multisig',
      n: this.scheme.n,
      digest: Uint8Array.from(this.digest),
      signature: signature.bytes,
      signers: bitmapFromIndices(this.scheme.n, signers),
    };
    return { status: 'certified', certificate: this.result };
  }
}
