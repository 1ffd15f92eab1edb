/**
 * One BLS12-381 interface, two backends (native blst, pure-JS noble). Ciphersuite
 * BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_: public keys in G1 (48 bytes compressed),
 * signatures in G2 (96 bytes compressed). Objects are created by, and only usable with, the
 * backend that decoded them; every decode is strict so that a value that exists is valid.
 */

export const BLS_SIG_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
export const BLS_PUBLIC_KEY_BYTES = 48;
export const BLS_SIGNATURE_BYTES = 96;
export const BLS_SECRET_KEY_BYTES = 32;

export type BlsBackendName = 'blst' | 'noble';
export const BLS_BACKEND_NAMES: readonly BlsBackendName[] = ['blst', 'noble'];

export interface BlsSecretKey {
  readonly backend: BlsBackendName;
  /** 32-byte big-endian scalar; handle with care. */
  toBytes(): Uint8Array;
}

export interface BlsPublicKey {
  readonly backend: BlsBackendName;
  /** Compressed G1 encoding (48 bytes). */
  readonly bytes: Uint8Array;
}

export interface BlsSignature {
  readonly backend: BlsBackendName;
  /** Compressed G2 encoding (96 bytes). */
  readonly bytes: Uint8Array;
  /** The point at infinity decodes (aggregation of nothing), but verifies nothing. */
  readonly isInfinity: boolean;
}

export interface BlsSignatureSet {
  readonly publicKey: BlsPublicKey;
  readonly message: Uint8Array;
  readonly signature: BlsSignature;
}

export interface BlsBackend {
  readonly name: BlsBackendName;
  /** Rejects anything but 32 bytes encoding 0 < sk < r. */
  secretKeyFromBytes(bytes: Uint8Array): BlsSecretKey;
  publicKeyFromSecretKey(secretKey: BlsSecretKey): BlsPublicKey;
  /** KeyValidate: length, flags, on curve, in subgroup, not infinity. */
  publicKeyFromBytes(bytes: Uint8Array): BlsPublicKey;
  /** Length, flags, on curve, in subgroup; infinity is accepted as an encoding. */
  signatureFromBytes(bytes: Uint8Array): BlsSignature;
  sign(secretKey: BlsSecretKey, message: Uint8Array): BlsSignature;
  verify(publicKey: BlsPublicKey, message: Uint8Array, signature: BlsSignature): boolean;
  /** Plain point addition: safe only for keys whose proofs of possession were checked. */
  aggregatePublicKeys(publicKeys: readonly BlsPublicKey[]): BlsPublicKey;
  aggregateSignatures(signatures: readonly BlsSignature[]): BlsSignature;
  /** One message, many signers (proof-of-possession scheme). False on an empty key list. */
  fastAggregateVerify(publicKeys: readonly BlsPublicKey[], message: Uint8Array, signature: BlsSignature): boolean;
  /** Distinct messages, one aggregate signature. */
  aggregateVerify(publicKeys: readonly BlsPublicKey[], messages: readonly Uint8Array[], signature: BlsSignature): boolean;
  /**
   * Many independent (key, message, signature) sets checked together with random 64-bit
   * scalars: one multi-pairing instead of one per set. A false result says only that some set
   * is bad; the caller falls back to checking one by one to find it.
   */
  verifyBatch(sets: readonly BlsSignatureSet[]): boolean;
  /**
   * The 192-byte uncompressed encoding (x.c1 || x.c0 || y.c1 || y.c0, ZCash flags). Lets code
   * that needs G2 arithmetic the backend lacks (threshold combination) take an already-checked
   * point without paying for decompression and a subgroup check again.
   */
  signatureToUncompressed(signature: BlsSignature): Uint8Array;
}
