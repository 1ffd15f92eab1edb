// sodium-native ships no typings. Only what crypto/ (and its tests) call is declared, with
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
  }
  const sodium: SodiumNative;
  export default sodium;
}
