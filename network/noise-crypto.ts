/**
 * Noise's cipher (ChaCha20-Poly1305, IETF) through libsodium, for every connection the host
 * makes: the transport messages and the handshake's encrypted payloads; its hash, HKDF and
 * X25519 stay noise's defaults.
 *
 * Why: noise's default seals a message under 1,200 bytes in AssemblyScript and a longer one with
 * node:crypto, whose cipher object per message costs ~16 us before it touches a byte. libsodium
 * does it in one native call (bench on this machine, sealing: 100 B 1.74 -> 0.79 us, 1,100 B
 * 8.4 -> 1.3 us, 2,000 B 17.4 -> 2.2 us, 30 KB 31 -> 20.5 us), on both ends of every frame of
 * every vote, proposal, relay batch and client session. It is the same cipher, so a peer on
 * noise's defaults interoperates (tested both ways).
 */
import type { ICryptoInterface } from '@chainsafe/libp2p-noise';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import sodium from 'sodium-native';

const TAG_BYTES = 16;

/** One contiguous view of what may be a list of chunks (a copy only when it is a list). */
function contiguous(data: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray();
}

/** Whether `a` and `b` share memory without starting at the same byte (libsodium allows only exact in-place). */
function overlapsElsewhere(a: Uint8Array, b: Uint8Array): boolean {
  if (a.buffer !== b.buffer || a.byteOffset === b.byteOffset) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

export const sodiumNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
    const m = contiguous(plaintext);
    const out = new Uint8Array(m.byteLength + TAG_BYTES);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, m, ad, null, nonce, k);
    return out;
  },
  chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
    const c = contiguous(ciphertext);
    if (c.byteLength < TAG_BYTES) throw new Error('Invalid chacha20poly1305 decryption');
    const length = c.byteLength - TAG_BYTES;
    // noise hands a `dst` that starts where the ciphertext does (decryption in place, which
    // libsodium allows) or a fresh buffer; anything else gets its own output.
    const out = dst !== undefined && dst.byteLength >= length && !overlapsElsewhere(dst, c) ? dst.subarray(0, length) : new Uint8Array(length);
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, c, ad, nonce, k);
    } catch {
      throw new Error('Invalid chacha20poly1305 decryption');
    }
    return out;
  },
};
