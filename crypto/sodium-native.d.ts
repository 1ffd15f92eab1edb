// sodium-native ships no typings. Only what crypto/ and network/ (and their tests) call is declared, with
// the semantics of sodium-native 5.x: functions take any ArrayBufferView, validate sizes with
// `assert` (throwing on mismatch) and throw on a non-zero libsodium status, except the verify
// functions, which return a boolean.
declare module 'sodium-native' {
  interface SodiumNative {
    readonly crypto_sign_BYTES: number;
    readonly crypto_sign_PUBLICKEYBYTES: number;
    readonly crypto_sign_SECRETKEYBYTES: number;
    readonly crypto_sign_SEEDBYTES: number;
    /** pk: 32 bytes, sk: 64 bytes (seed || pk), seed: 32 bytes. */
    crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
    /** sig: 64 bytes, sk: 64 bytes. Deterministic (RFC 8032). */
    crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
    /** Reads only the first 64 bytes of sig (a longer sig is accepted); pk must be 32 bytes. */
    crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
    /** out: 32 bytes; hashes exactly the bytes of the view `input`. */
    crypto_hash_sha256(out: Uint8Array, input: Uint8Array): void;
    /** ChaCha20-Poly1305 (IETF): c is m + 16 bytes (the tag), npub 12 bytes, k 32 bytes; nsec is always null. */
    crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
    /** m is c - 16 bytes; throws when the tag does not verify. m and c may be the same memory. */
    crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
  }
  const sodium: SodiumNative;
  export default sodium;
}
