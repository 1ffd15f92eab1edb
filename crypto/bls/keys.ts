import { randomBytes } from 'node:crypto';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { CryptoArgumentError } from '../errors.js';
import { BLS_CURVE_ORDER } from './encoding.js';
import type { BlsBackend, BlsPublicKey, BlsSecretKey, BlsSignature } from './types.js';

const KEYGEN_SALT = new TextEncoder().encode('BLS-SIG-KEYGEN-SALT-');

/**
 * KeyGen of draft-irtf-cfrg-bls-signature-05 §2.3 (HKDF-SHA-256, L = 48). Implemented once,
 * outside the backends, so that the same seed gives the same key whichever backend is used.
 */
export function blsKeyGen(ikm: Uint8Array, keyInfo: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (ikm.length < 32) throw new CryptoArgumentError('BLS KeyGen needs at least 32 bytes of input keying material');
  const L = 48;
  let salt: Uint8Array = KEYGEN_SALT;
  for (;;) {
    salt = sha256(salt);
    const prk = extract(sha256, concatBytes(ikm, Uint8Array.of(0)), salt);
    const okm = expand(sha256, prk, concatBytes(keyInfo, Uint8Array.of(0, L)), L);
    let sk = 0n;
    for (const b of okm) sk = (sk << 8n) | BigInt(b);
    sk %= BLS_CURVE_ORDER;
    if (sk !== 0n) {
      const out = new Uint8Array(32);
      for (let i = 31; i >= 0; i--) {
        out[i] = Number(sk & 0xffn);
        sk >>= 8n;
      }
      return out;
    }
  }
}

export interface BlsKeyPair {
  readonly secretKey: BlsSecretKey;
  readonly publicKey: BlsPublicKey;
}

/** A fresh key pair from 32 bytes of OS randomness, or deterministically from `ikm`. */
export function generateBlsKeyPair(backend: BlsBackend, ikm: Uint8Array = randomBytes(32)): BlsKeyPair {
  const secretKey = backend.secretKeyFromBytes(blsKeyGen(ikm));
  return { secretKey, publicKey: backend.publicKeyFromSecretKey(secretKey) };
}

/**
 * The message a proof of possession signs: `u8 11 || "vsmr/pop/v1" || u8 0 || pk`.
 * It has the shape of the project's domain prefix with an empty chain id, which no
 * chain-bound message can have, so a PoP can never be replayed as a vote or anything else.
 * Like Ethereum's deposit signature it uses the signing DST: that keeps PoP generation and
 * checking on the native backend (the blst binding exposes no second DST), and the domain tag
 * gives the separation the IETF draft gets from its separate PoP DST.
 */
export function popMessage(publicKey: Uint8Array): Uint8Array {
  const tag = new TextEncoder().encode('vsmr/pop/v1');
  return concatBytes(Uint8Array.of(tag.length), tag, Uint8Array.of(0), publicKey);
}

export function popProve(backend: BlsBackend, secretKey: BlsSecretKey): BlsSignature {
  return backend.sign(secretKey, popMessage(backend.publicKeyFromSecretKey(secretKey).bytes));
}

export function popVerify(backend: BlsBackend, publicKey: BlsPublicKey, proof: BlsSignature): boolean {
  return backend.verify(publicKey, popMessage(publicKey.bytes), proof);
}
