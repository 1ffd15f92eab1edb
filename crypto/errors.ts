/**
 * Typed failures of the crypto layer. Every decoder and verifier in `crypto/` reports bad input
 * through these classes (never a raw library exception), so callers can tell a malformed
 * peer message (penalise the peer) from a programming error (crash loudly).
 */

/** Why a BLS point encoding was refused. */
export type BlsDecodeReason =
  | 'length'
  | 'flags'
  | 'not-on-curve'
  | 'not-in-subgroup'
  | 'infinity'
  | 'bad-scalar';

export class CryptoError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bytes that do not decode to a valid BLS key, signature or scalar. */
export class BlsDecodeError extends CryptoError {
  constructor(
    readonly what: 'public key' | 'signature' | 'secret key',
    readonly reason: BlsDecodeReason,
    detail?: string,
  ) {
    super(`invalid BLS ${what}: ${reason}${detail ? ` (${detail})` : ''}`, `BLS_DECODE_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

/** An argument that is structurally unusable (empty aggregate, mismatched lengths, ...). */
export class CryptoArgumentError extends CryptoError {
  constructor(message: string) {
    super(message, 'CRYPTO_ARGUMENT');
  }
}

/** A validator set that cannot be loaded (bad key, bad proof of possession, duplicates). */
export class ValidatorSetError extends CryptoError {
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(index === undefined ? message : `validator ${index}: ${message}`, 'VALIDATOR_SET');
  }
}

/** Why a quorum certificate was refused; `reason` is stable for tests and metrics. */
export type QcRejectReason =
  | 'malformed'
  | 'wrong-kind'
  | 'bitmap-length'
  | 'bitmap-overflow'
  | 'below-quorum'
  | 'bad-signature'
  | 'digest-mismatch';

export class QcVerifyError extends CryptoError {
  constructor(
    readonly reason: QcRejectReason,
    detail: string,
  ) {
    super(`quorum certificate rejected: ${reason}: ${detail}`, `QC_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

/** Decoding failure of a canonical byte encoding produced by this layer. */
export class EncodingError extends CryptoError {
  constructor(message: string) {
    super(message, 'ENCODING');
  }
}
