import * as blst from '@chainsafe/blst';
import { BlsDecodeError, type BlsDecodeReason, CryptoArgumentError } from '../errors.js';
import { checkPointFlags, checkSecretKeyBytes } from './encoding.js';
import type { BlsBackend, BlsPublicKey, BlsSecretKey, BlsSignature, BlsSignatureSet } from './types.js';

class BlstSecretKey implements BlsSecretKey {
  readonly backend = 'blst' as const;
  constructor(readonly native: blst.SecretKey) {}
  toBytes(): Uint8Array {
    return this.native.toBytes();
  }
}

class BlstPublicKey implements BlsPublicKey {
  readonly backend = 'blst' as const;
  constructor(
    readonly native: blst.PublicKey,
    readonly bytes: Uint8Array,
  ) {}
}

class BlstSignature implements BlsSignature {
  readonly backend = 'blst' as const;
  constructor(
    readonly native: blst.Signature,
    readonly bytes: Uint8Array,
    readonly isInfinity: boolean,
  ) {}
}

function mine<T>(value: unknown, cls: abstract new (...args: never[]) => T, what: string): T {
  if (!(value instanceof cls)) throw new CryptoArgumentError(`${what} was not created by the blst backend`);
  return value;
}

/** Maps blst's error codes onto our reasons; anything unknown is treated as not on the curve. */
function reasonOf(err: unknown): BlsDecodeReason {
  const code = (err as { code?: unknown })?.code;
  switch (code) {
    case 'BLST_POINT_NOT_IN_GROUP':
      return 'not-in-subgroup';
    case 'BLST_PK_IS_INFINITY':
      return 'infinity';
    default:
      return 'not-on-curve';
  }
}

function pk(native: blst.PublicKey): BlstPublicKey {
  return new BlstPublicKey(native, native.toBytes(true));
}

function sig(native: blst.Signature, isInfinity = false): BlstSignature {
  return new BlstSignature(native, native.toBytes(true), isInfinity);
}

/** Native backend: supranational/blst through @chainsafe/blst (napi-rs, prebuilt binaries). */
export function createBlstBackend(): BlsBackend {
  return {
    name: 'blst',
    secretKeyFromBytes(bytes) {
      checkSecretKeyBytes(bytes);
      return new BlstSecretKey(blst.SecretKey.fromBytes(bytes));
    },
    publicKeyFromSecretKey(secretKey) {
      return pk(mine(secretKey, BlstSecretKey, 'secret key').native.toPublicKey());
    },
    publicKeyFromBytes(bytes) {
      if (checkPointFlags(bytes, 'public key')) throw new BlsDecodeError('public key', 'infinity');
      try {
        return new BlstPublicKey(blst.PublicKey.fromBytes(bytes, true), Uint8Array.from(bytes));
      } catch (err) {
        throw new BlsDecodeError('public key', reasonOf(err));
      }
    },
    signatureFromBytes(bytes) {
      const isInfinity = checkPointFlags(bytes, 'signature');
      try {
        // Group-check now so that every later use can skip it.
        return new BlstSignature(blst.Signature.fromBytes(bytes, true, false), Uint8Array.from(bytes), isInfinity);
      } catch (err) {
        throw new BlsDecodeError('signature', reasonOf(err));
      }
    },
    sign(secretKey, message) {
      return sig(mine(secretKey, BlstSecretKey, 'secret key').native.sign(message));
    },
    verify(publicKey, message, signature) {
      const s = mine(signature, BlstSignature, 'signature');
      if (s.isInfinity) return false;
      return blst.verify(message, mine(publicKey, BlstPublicKey, 'public key').native, s.native, false, false);
    },
    aggregatePublicKeys(publicKeys) {
      if (publicKeys.length === 0) throw new CryptoArgumentError('cannot aggregate zero public keys');
      return pk(
        blst.aggregatePublicKeys(
          publicKeys.map((k) => mine(k, BlstPublicKey, 'public key').native),
          false,
        ),
      );
    },
    aggregateSignatures(signatures) {
      if (signatures.length === 0) throw new CryptoArgumentError('cannot aggregate zero signatures');
      const natives = signatures.map((s) => mine(s, BlstSignature, 'signature').native);
      const out = blst.aggregateSignatures(natives, false);
      const bytes = out.toBytes(true);
      return new BlstSignature(out, bytes, bytes[0] === 0xc0 && bytes.every((b, i) => i === 0 || b === 0));
    },
    fastAggregateVerify(publicKeys, message, signature) {
      const s = mine(signature, BlstSignature, 'signature');
      if (publicKeys.length === 0 || s.isInfinity) return false;
      const natives = publicKeys.map((k) => mine(k, BlstPublicKey, 'public key').native);
      return blst.fastAggregateVerify(message, natives, s.native, false);
    },
    aggregateVerify(publicKeys, messages, signature) {
      const s = mine(signature, BlstSignature, 'signature');
      if (publicKeys.length === 0 || publicKeys.length !== messages.length || s.isInfinity) return false;
      const natives = publicKeys.map((k) => mine(k, BlstPublicKey, 'public key').native);
      return blst.aggregateVerify([...messages], natives, s.native, false, false);
    },
    verifyBatch(sets: readonly BlsSignatureSet[]) {
      if (sets.length === 0) return false;
      const natives: blst.SignatureSet[] = [];
      for (const set of sets) {
        const s = mine(set.signature, BlstSignature, 'signature');
        if (s.isInfinity) return false;
        natives.push({ msg: set.message, pk: mine(set.publicKey, BlstPublicKey, 'public key').native, sig: s.native });
      }
      // blst draws the random scalars itself (64-bit, per set).
      return blst.verifyMultipleAggregateSignatures(natives, false, false);
    },
    signatureToUncompressed(signature) {
      return mine(signature, BlstSignature, 'signature').native.toBytes(false);
    },
  };
}
