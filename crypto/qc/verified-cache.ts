import type { BlsSecretKey } from '../bls/types.js';
import { bytesEqual, bytesToHex } from '../bytes.js';
import type { AggregatorOptions, QcAggregator, QcScheme, QuorumCertificate } from './types.js';

/** Certificates remembered by default: a few hundred rounds' worth, tens of kilobytes. */
export const DEFAULT_VERIFIED_QC_CAPACITY = 1024;

/**
 * A QcScheme that remembers the certificates it has found valid (and those its aggregators
 * formed), so the same QC costs one pairing per process however often it comes back: as a
 * proposal's parent, inside timeouts and TCs, in sync answers, in gossiped client certificates.
 * Only successes are remembered, keyed by every byte the check depends on (kind, n, digest,
 * signature, bitmap), so a hit is exactly a certificate that verified before. Bounded, oldest
 * out first.
 */
export class VerifiedQcCache implements QcScheme {
  readonly kind: QcScheme['kind'];
  readonly n: number;
  readonly quorum: number;
  readonly #inner: QcScheme;
  readonly #capacity: number;
  readonly #valid = new Set<string>();
  #hits = 0;

  constructor(inner: QcScheme, capacity = DEFAULT_VERIFIED_QC_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#inner = inner;
    this.#capacity = capacity;
    this.kind = inner.kind;
    this.n = inner.n;
    this.quorum = inner.quorum;
  }

  /** Verifications answered from memory so far (for tests and metrics). */
  get hits(): number {
    return this.#hits;
  }

  signShare(secretKey: BlsSecretKey, digest: Uint8Array): Uint8Array {
    return this.#inner.signShare(secretKey, digest);
  }

  verifyShare(signer: number, digest: Uint8Array, share: Uint8Array): boolean {
    return this.#inner.verifyShare(signer, digest, share);
  }

  newAggregator(digest: Uint8Array, options?: AggregatorOptions): QcAggregator {
    const inner = this.#inner.newAggregator(digest, options);
    return {
      digest: inner.digest,
      get faulty() {
        return inner.faulty;
      },
      get certificate() {
        return inner.certificate;
      },
      add: (signer, share) => {
        const out = inner.add(signer, share);
        if (out.status === 'certified') this.#remember(out.certificate);
        return out;
      },
    };
  }

  verify(qc: QuorumCertificate, expectedDigest?: Uint8Array): void {
    const key = certificateKey(qc);
    if (key !== undefined && this.#valid.has(key) && (expectedDigest === undefined || bytesEqual(expectedDigest, qc.digest))) {
      this.#hits++;
      return;
    }
    this.#inner.verify(qc, expectedDigest);
    if (key !== undefined) this.#remember(qc, key);
  }

  #remember(qc: QuorumCertificate, key = certificateKey(qc)): void {
    if (key === undefined || this.#valid.has(key)) return;
    this.#valid.add(key);
    if (this.#valid.size > this.#capacity) this.#valid.delete(this.#valid.values().next().value!);
  }
}

/** Undefined for a structurally broken certificate: those always go to the real check. */
function certificateKey(qc: QuorumCertificate): string | undefined {
  if (!(qc.digest instanceof Uint8Array) || !(qc.signature instanceof Uint8Array)) return undefined;
  if (qc.signers !== null && !(qc.signers instanceof Uint8Array)) return undefined;
  return `${qc.kind}:${qc.n}:${bytesToHex(qc.digest)}:${bytesToHex(qc.signature)}:${qc.signers === null ? '-' : bytesToHex(qc.signers)}`;
}
