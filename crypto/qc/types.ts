import type { BlsSecretKey } from '../bls/types.js';

/** The QC forms, in the order the CLI lists them (multisig, the default, first). */
export const QC_KINDS = ['multisig', 'threshold'] as const;
export type QcKind = (typeof QC_KINDS)[number];

/**
 * A quorum certificate over a 32-byte digest (the caller's domain-tagged hash of what was
 * voted for). `signers` is the bitmap for the multi-signature form and null for the threshold
 * form, whose single signature under the group key does not say who signed.
 */
export interface QuorumCertificate {
  readonly kind: QcKind;
  readonly n: number;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
  readonly signers: Uint8Array | null;
}

/** Outcome of offering one vote share to an aggregator. */
export type ShareOutcome =
  | { readonly status: 'pending'; readonly collected: number }
  | { readonly status: 'certified'; readonly certificate: QuorumCertificate }
  | { readonly status: 'duplicate' }
  | { readonly status: 'rejected'; readonly reason: string };

/** Collects vote shares for one digest until they form a certificate. */
export interface QcAggregator {
  readonly digest: Uint8Array;
  /** Signers whose shares were found invalid; they are not asked again for this digest. */
  readonly faulty: ReadonlySet<number>;
  readonly certificate: QuorumCertificate | undefined;
  add(signer: number, share: Uint8Array): ShareOutcome;
}

export interface AggregatorOptions {
  /**
   * Every share offered has already passed verifyShare (the consensus core checks each vote on
   * arrival, to attribute bad ones): the combined certificate is then valid by construction and
   * is not checked again. Default false: optimistic aggregation, one check of the combination.
   */
  readonly sharesVerified?: boolean;
}

/**
 * The two certificate forms behind one interface, so the node and the benchmarks can swap
 * them. `signShare` takes the key that the form signs with: a validator's BLS key for the
 * multi-signature form, its Shamir share key for the threshold form.
 */
export interface QcScheme {
  readonly kind: QcKind;
  readonly n: number;
  readonly quorum: number;
  signShare(secretKey: BlsSecretKey, digest: Uint8Array): Uint8Array;
  verifyShare(signer: number, digest: Uint8Array, share: Uint8Array): boolean;
  newAggregator(digest: Uint8Array, options?: AggregatorOptions): QcAggregator;
  /** Throws QcVerifyError with the specific reason; returns normally when valid. */
  verify(qc: QuorumCertificate, expectedDigest?: Uint8Array): void;
}
