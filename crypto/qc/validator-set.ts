import { popVerify } from '../bls/keys.js';
import type { BlsBackend, BlsPublicKey } from '../bls/types.js';
import { bytesToHex } from '../bytes.js';
import { CryptoError, ValidatorSetError } from '../errors.js';
import { maxFaulty, quorumSize } from './quorum.js';

/** What genesis says about one validator's consensus key. */
export interface ValidatorKeyInfo {
  /** Compressed G1 public key, 48 bytes. */
  readonly publicKey: Uint8Array;
  /** Proof of possession of the matching secret key, 96 bytes. */
  readonly proofOfPossession: Uint8Array;
}

/**
 * The ordered BLS keys of the validators. Loading checks every proof of possession once;
 * after that, same-message aggregation over these keys is safe against rogue keys, so QC
 * verification can add keys and do a single pairing check.
 */
export class ValidatorSet {
  readonly n: number;
  readonly f: number;
  readonly quorum: number;

  private constructor(
    readonly backend: BlsBackend,
    readonly publicKeys: readonly BlsPublicKey[],
  ) {
    this.n = publicKeys.length;
    this.f = maxFaulty(this.n);
    this.quorum = quorumSize(this.n);
  }

  /** The only loader for production use: strict key decoding, PoP check, no duplicates. */
  static load(backend: BlsBackend, validators: readonly ValidatorKeyInfo[]): ValidatorSet {
    if (validators.length === 0) throw new ValidatorSetError('a validator set needs at least one validator');
    const keys = validators.map((v, i) => {
      let key: BlsPublicKey;
      try {
        key = backend.publicKeyFromBytes(v.publicKey);
      } catch (err) {
        if (err instanceof CryptoError) throw new ValidatorSetError(`public key: ${err.message}`, i);
        throw err;
      }
      let ok = false;
      try {
        ok = popVerify(backend, key, backend.signatureFromBytes(v.proofOfPossession));
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
      }
      if (!ok) throw new ValidatorSetError('proof of possession does not verify', i);
      return key;
    });
    ValidatorSet.rejectDuplicates(keys);
    return new ValidatorSet(backend, keys);
  }

  /**
   * UNSAFE: skips proofs of possession. Exists to demonstrate (in tests) the rogue-key forgery
   * that PoPs prevent, and for benchmarks on keys generated in-process. Never for genesis data.
   */
  static loadWithoutProofsOfPossession(backend: BlsBackend, publicKeys: readonly Uint8Array[]): ValidatorSet {
    if (publicKeys.length === 0) throw new ValidatorSetError('a validator set needs at least one validator');
    const keys = publicKeys.map((pk) => backend.publicKeyFromBytes(pk));
    ValidatorSet.rejectDuplicates(keys);
    return new ValidatorSet(backend, keys);
  }

  private static rejectDuplicates(keys: readonly BlsPublicKey[]): void {
    const seen = new Map<string, number>();
    keys.forEach((k, i) => {
      const hex = bytesToHex(k.bytes);
      const prior = seen.get(hex);
      if (prior !== undefined) throw new ValidatorSetError(`duplicate public key (same as validator ${prior})`, i);
      seen.set(hex, i);
    });
  }

  publicKey(index: number): BlsPublicKey {
    const key = this.publicKeys[index];
    if (key === undefined) throw new ValidatorSetError(`no validator with index ${index} (n = ${this.n})`);
    return key;
  }
}
