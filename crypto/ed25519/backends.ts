/**
 * Ed25519 signing and verification behind one interface, with two interchangeable engines:
 * libsodium (sodium-native) and OpenSSL (node:crypto). Whatever the engine, verify() applies the
 * libsodium-pinned acceptance rule of ./rule.ts first, so replicas running different backends
 * accept exactly the same signatures; sign() is RFC 8032 deterministic, so both engines emit the
 * same bytes for the same key and message.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import sodium from 'sodium-native';
import { CryptoArgumentError } from '../errors.js';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES, ed25519PrecheckFailure } from './rule.js';

export type Ed25519BackendName = 'sodium' | 'node';

export interface Ed25519Backend {
  readonly name: Ed25519BackendName;
  /** RFC 8032 signature (64 bytes); byte-identical across backends. Throws on a foreign key. */
  sign(secretKey: Ed25519SecretKey, message: Uint8Array): Uint8Array;
  /** True iff the signature is valid under ./rule.ts + libsodium's equation. Never throws. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export interface Ed25519Keypair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Ed25519SecretKey;
}

// RFC 8410 DER wrappers around a raw 32-byte key: the only variable part is the key itself, so
// a fixed prefix is both the cheapest and the least ambiguous way to hand raw keys to OpenSSL.
const SPKI_ED25519_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00);
const PKCS8_ED25519_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
);

interface SecretKeyState {
  readonly publicKey: Uint8Array;
  /** libsodium's 64-byte layout: seed || public key. The seed is its first half. */
  readonly sodiumSecretKey: Uint8Array;
  /** Built on first use so that sodium-only nodes never pay for OpenSSL key parsing. */
  nodePrivateKey: KeyObject | undefined;
}

let stateOf!: (key: Ed25519SecretKey) => SecretKeyState;

/**
 * An ed25519 signing key. Opaque on purpose: the seed lives in an ES private field, so it never
 * shows up in logs, JSON or `util.inspect`, and only this module's backends can read it.
 */
export class Ed25519SecretKey {
  readonly #state: SecretKeyState;

  private constructor(state: SecretKeyState) {
    this.#state = state;
  }

  static {
    stateOf = (key) => {
      // A brand check, not instanceof: Object.create(Ed25519SecretKey.prototype) passes instanceof.
      if (typeof key !== 'object' || key === null || !(#state in key)) {
        throw new CryptoArgumentError('not an Ed25519SecretKey');
      }
      return key.#state;
    };
  }

  /** Deterministic: the same 32-byte seed always gives the same key (RFC 8032 section 5.1.5). */
  static fromSeed(seed: Uint8Array): Ed25519SecretKey {
    if (!(seed instanceof Uint8Array) || seed.length !== ED25519_SEED_BYTES) {
      throw new CryptoArgumentError(`ed25519 seed must be ${ED25519_SEED_BYTES} bytes`);
    }
    const publicKey = new Uint8Array(ED25519_PUBLIC_KEY_BYTES);
    const sodiumSecretKey = new Uint8Array(64);
    sodium.crypto_sign_seed_keypair(publicKey, sodiumSecretKey, seed);
    return new Ed25519SecretKey({ publicKey, sodiumSecretKey, nodePrivateKey: undefined });
  }

  /** A copy, so callers cannot corrupt the key the backends sign with. */
  get publicKey(): Uint8Array {
    return this.#state.publicKey.slice();
  }

  toJSON(): { publicKey: string } {
    return { publicKey: Buffer.from(this.#state.publicKey).toString('hex') };
  }
}

export function ed25519KeypairFromSeed(seed: Uint8Array): Ed25519Keypair {
  const secretKey = Ed25519SecretKey.fromSeed(seed);
  return { publicKey: secretKey.publicKey, secretKey };
}

function assertMessage(message: Uint8Array): void {
  if (!(message instanceof Uint8Array)) throw new CryptoArgumentError('ed25519 message must be a Uint8Array');
}

/** Shape checks that the type system cannot enforce on values coming off the wire. */
function wellTyped(publicKey: unknown, message: unknown, signature: unknown): boolean {
  return publicKey instanceof Uint8Array && message instanceof Uint8Array && signature instanceof Uint8Array;
}

const sodiumBackend: Ed25519Backend = {
  name: 'sodium',
  sign(secretKey, message) {
    const state = stateOf(secretKey);
    assertMessage(message);
    const signature = new Uint8Array(ED25519_SIGNATURE_BYTES);
    sodium.crypto_sign_detached(signature, message, state.sodiumSecretKey);
    return signature;
  },
  verify(publicKey, message, signature) {
    if (!wellTyped(publicKey, message, signature)) return false;
    if (ed25519PrecheckFailure(publicKey, signature) !== null) return false;
    try {
      return sodium.crypto_sign_verify_detached(signature, message, publicKey) === true;
    } catch {
      return false;
    }
  },
};

/**
 * Parsed public keys for the node backend. OpenSSL 3's DER decoder makes building a KeyObject
 * cost about half as much as the verification itself, and clients sign many requests with one key.
 * Insertion-ordered Map used as an LRU: a hit moves the key to the back, eviction drops the front.
 * Only keys that passed the precheck get in, and the size is capped, so an attacker spraying
 * fresh keys only evicts entries, it cannot grow memory.
 */
const NODE_KEY_CACHE_LIMIT = 4096;

class KeyObjectCache {
  readonly #entries = new Map<string, KeyObject>();

  constructor(readonly limit: number) {}

  get(publicKey: Uint8Array): KeyObject {
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1');
    const hit = this.#entries.get(id);
    if (hit !== undefined) {
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      return hit;
    }
    const key = nodePublicKey(publicKey);
    if (this.#entries.size >= this.limit) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(id, key);
    return key;
  }

  get size(): number {
    return this.#entries.size;
  }
}

function nodePublicKey(publicKey: Uint8Array): KeyObject {
  const der = new Uint8Array(SPKI_ED25519_PREFIX.length + ED25519_PUBLIC_KEY_BYTES);
  der.set(SPKI_ED25519_PREFIX, 0);
  der.set(publicKey, SPKI_ED25519_PREFIX.length);
  return createPublicKey({ key: Buffer.from(der.buffer), format: 'der', type: 'spki' });
}

function nodePrivateKey(state: SecretKeyState): KeyObject {
  if (state.nodePrivateKey === undefined) {
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + ED25519_SEED_BYTES);
    der.set(PKCS8_ED25519_PREFIX, 0);
    der.set(state.sodiumSecretKey.subarray(0, ED25519_SEED_BYTES), PKCS8_ED25519_PREFIX.length);
    state.nodePrivateKey = createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
    der.fill(0);
  }
  return state.nodePrivateKey;
}

const nodeKeyCache = new KeyObjectCache(NODE_KEY_CACHE_LIMIT);

const nodeBackend: Ed25519Backend = {
  name: 'node',
  sign(secretKey, message) {
    const key = nodePrivateKey(stateOf(secretKey));
    assertMessage(message);
    const signature = nodeSign(null, message, key);
    // Plain Uint8Array, like the sodium backend, so results compare equal across backends.
    return new Uint8Array(signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.byteLength));
  },
  verify(publicKey, message, signature) {
    if (!wellTyped(publicKey, message, signature)) return false;
    // OpenSSL's ossl_ed25519_verify checks neither small-order points nor a non-canonical A.
    // Recent Node releases add their own small-order blocklist in front of it, older ones do not,
    // so without the precheck the verdict would depend on the Node version.
    if (ed25519PrecheckFailure(publicKey, signature) !== null) return false;
    try {
      return nodeVerify(null, message, nodeKeyCache.get(publicKey), signature);
    } catch {
      // OpenSSL refusing to parse the key (e.g. y not on the curve) is just an invalid signature.
      return false;
    }
  },
};

const BACKENDS: Readonly<Record<Ed25519BackendName, Ed25519Backend>> = { sodium: sodiumBackend, node: nodeBackend };

/** Shared instances, so every caller of the node backend shares one KeyObject cache. */
export function ed25519Backend(name: Ed25519BackendName = 'sodium'): Ed25519Backend {
  const backend = Object.hasOwn(BACKENDS, name) ? BACKENDS[name] : undefined;
  if (backend === undefined) throw new CryptoArgumentError(`unknown ed25519 backend: ${String(name)}`);
  return backend;
}

/** For tests and metrics: how many parsed public keys the node backend currently holds. */
export function ed25519NodeKeyCacheSize(): number {
  return nodeKeyCache.size;
}
