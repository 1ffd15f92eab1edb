import assert from 'node:assert/strict';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import fc from 'fast-check';
import { Uint8ArrayList } from 'uint8arraylist';
import { sodiumNoiseCrypto } from '../../network/noise-crypto.js';

const flat = (x: Uint8Array | Uint8ArrayList) => (x instanceof Uint8Array ? x : x.subarray());
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
// Both sides of noise's 1,200-byte switch between its two default implementations.
const message = fc.uint8Array({ maxLength: 3000 });
// Noise's associated data is its 32-byte handshake hash or nothing; its own cipher refuses more.
const ad = fc.uint8Array({ maxLength: 32 });

describe('network/noise-crypto: the noise cipher through libsodium', () => {
  it("interoperates with noise's own cipher both ways, from one buffer or a list of chunks", () => {
    fc.assert(
      fc.property(key, nonce, ad, message, fc.nat({ max: 3000 }), (k, n, a, m, cut) => {
        const sealed = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(m, n, a, k));
        assert.deepEqual(flat(defaultCrypto.chaCha20Poly1305Encrypt(m, n, a, k)), sealed, "the same bytes as noise's");
        assert.deepEqual([...flat(defaultCrypto.chaCha20Poly1305Decrypt(sealed, n, a, k))], [...m]);
        const at = Math.min(cut, sealed.length);
        const list = new Uint8ArrayList(sealed.slice(0, at), sealed.slice(at));
        assert.deepEqual([...flat(sodiumNoiseCrypto.chaCha20Poly1305Decrypt(list, n, a, k))], [...m]);
        const mAt = Math.min(cut, m.length);
        assert.deepEqual(flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(new Uint8ArrayList(m.slice(0, mAt), m.slice(mAt)), n, a, k)), sealed);
      }),
    );
  });

  it('decrypts in place into the `dst` noise hands it, and never into memory that overlaps elsewhere', () => {
    fc.assert(
      fc.property(key, nonce, message, (k, n, m) => {
        const sealed = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(m, n, new Uint8Array(0), k));
        const frame = sealed.slice();
        const out = flat(sodiumNoiseCrypto.chaCha20Poly1305Decrypt(frame, n, new Uint8Array(0), k, frame.subarray(0, frame.length - 16)));
        assert.deepEqual([...out], [...m]);
        assert.equal(out.buffer, frame.buffer, 'in place, as noise asks');
        if (m.length > 1) {
          const shifted = sealed.slice();
          const dst = new Uint8Array(shifted.buffer, 1, m.length);
          const out2 = flat(sodiumNoiseCrypto.chaCha20Poly1305Decrypt(shifted, n, new Uint8Array(0), k, dst));
          assert.deepEqual([...out2], [...m]);
          assert.notEqual(out2.buffer, shifted.buffer, 'an overlapping dst at another offset is not written');
        }
      }),
    );
  });

  it('refuses a tampered message, a wrong key and a frame shorter than its tag, as noise does', () => {
    fc.assert(
      fc.property(key, nonce, message, fc.nat(), (k, n, m, pos) => {
        const sealed = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(m, n, new Uint8Array(0), k)).slice();
        sealed[pos % sealed.length]! ^= 1;
        assert.throws(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, n, new Uint8Array(0), k), /Invalid chacha20poly1305 decryption/);
        assert.throws(() => defaultCrypto.chaCha20Poly1305Decrypt(sealed, n, new Uint8Array(0), k));
      }),
    );
    const k = new Uint8Array(32);
    const sealed = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(Uint8Array.of(1, 2, 3), new Uint8Array(12), new Uint8Array(0), k));
    assert.throws(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, new Uint8Array(12), new Uint8Array(0), new Uint8Array(32).fill(1)), /Invalid/);
    assert.throws(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(new Uint8Array(15), new Uint8Array(12), new Uint8Array(0), k), /Invalid/);
  });
});
