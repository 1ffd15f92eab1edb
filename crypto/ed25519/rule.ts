/**
 * The single acceptance rule for client ed25519 signatures.
 *
 * Replicas must agree bit-for-bit on which client requests carry a valid signature, otherwise a
 * crafted signature splits the honest replicas (some execute the request, some drop it). Ed25519
 * libraries famously disagree on the edge cases (non-canonical encodings, small-order points,
 * cofactored vs cofactorless equation), so the rule is pinned to one reference: libsodium's
 * strict `crypto_sign_verify_detached` (>= 1.0.18, built without ED25519_COMPAT), i.e.
 * `_crypto_sign_ed25519_verify_detached` in src/libsodium/crypto_sign/ed25519/ref10/open.c.
 *
 * libsodium, in order:
 *   1. rejects S >= L                    (`sc25519_is_canonical`)
 *   2. rejects small-order R             (`ge25519_has_small_order(sig)`)
 *   3. rejects a non-canonical A, y >= p (`ge25519_is_canonical(pk)`, sign bit ignored)
 *   4. rejects small-order A             (`ge25519_has_small_order(pk)`)
 *   5. rejects A that is not on the curve (decoding), then checks the cofactorless equation by
 *      recomputing R' = [S]B - [k]A, encoding it canonically and comparing the 32 bytes of R.
 *
 * libsodium has no explicit canonicity check for R: a non-canonical R can never equal the
 * canonical encoding of R', so step 5 rejects it implicitly. We make that explicit as the last
 * step ('non-canonical-r'); it changes no outcome for libsodium or OpenSSL (both compare bytes),
 * but keeps a future backend that compares decoded points instead of bytes on the same rule.
 * Mixed-order points (prime-order part plus torsion) are NOT rejected: libsodium does not check
 * subgroup membership, so neither may we.
 *
 * This function covers steps 1-4 plus the R encoding: everything that depends only on the
 * encodings. Curve decoding of A and the group equation are left to the backend library, which
 * implements exactly that part of libsodium (sodium-native is libsodium; OpenSSL's
 * `ossl_ed25519_verify` has the same cofactorless byte-comparing equation and S < L check).
 *
 * Everything here is variable-time on purpose: public keys and signatures are public.
 */

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const ED25519_SEED_BYTES = 32;

/** Why a signature is refused before the curve equation is even evaluated. Stable for metrics. */
export type Ed25519Rejection =
  | 'signature-length'
  | 'public-key-length'
  | 'non-canonical-s'
  | 'small-order-r'
  | 'non-canonical-public-key'
  | 'small-order-public-key'
  | 'non-canonical-r';

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const GROUP_ORDER_LE = Uint8Array.of(
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
);

function repeat(first: number, fill: number, last: number): Uint8Array {
  const out = new Uint8Array(32).fill(fill);
  out[0] = first;
  out[31] = last;
  return out;
}

/**
 * libsodium's `ge25519_has_small_order` table, byte for byte. The comparison ignores the sign
 * bit (bit 255), so these 7 rows stand for 14 encodings: the 8 canonical small-order points plus
 * the non-canonical ones (y = p, y = p + 1, and x = 0 with the sign bit set), all of which the
 * reference decoder accepts as small-order points.
 */
const SMALL_ORDER_BLOCKLIST: readonly Uint8Array[] = [
  // 0 (order 4)
  repeat(0x00, 0x00, 0x00),
  // 1 (order 1, the identity)
  repeat(0x01, 0x00, 0x00),
  // order 8
  Uint8Array.of(
    0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
    0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
  ),
  // order 8
  Uint8Array.of(
    0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
    0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
  ),
  // p - 1 (order 2)
  repeat(0xec, 0xff, 0x7f),
  // p, a non-canonical 0 (order 4)
  repeat(0xed, 0xff, 0x7f),
  // p + 1, a non-canonical 1 (order 1)
  repeat(0xee, 0xff, 0x7f),
];

/** `sc25519_is_canonical`: S < L, little-endian. */
function scalarIsCanonical(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = GROUP_ORDER_LE[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/**
 * `ge25519_is_canonical`: false iff the 255-bit y field is >= p = 2^255 - 19. Like libsodium it
 * ignores the sign bit, so the "negative zero" encodings (x = 0, sign set) count as canonical
 * here; they only exist for y = 1 and y = -1 and are caught by the small-order blocklist.
 */
function pointIsCanonical(bytes: Uint8Array, offset: number): boolean {
  if ((bytes[offset + 31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) {
    if (bytes[offset + i] !== 0xff) return true;
  }
  return bytes[offset]! < 0xed;
}

/** `ge25519_has_small_order`: bytes 0..30 exact, byte 31 compared without its sign bit. */
function hasSmallOrder(bytes: Uint8Array, offset: number): boolean {
  const last = bytes[offset + 31]! & 0x7f;
  for (const entry of SMALL_ORDER_BLOCKLIST) {
    if (last !== entry[31]) continue;
    let i = 0;
    while (i < 31 && bytes[offset + i] === entry[i]) i++;
    if (i === 31) return true;
  }
  return false;
}

/**
 * Returns why libsodium's strict verifier would refuse this (public key, signature) pair without
 * evaluating the curve equation, or null when only the equation (and curve decoding of A) is
 * left to decide. The checks run in libsodium's order so the reported reason is the one
 * libsodium would have stopped at. Never throws.
 */
export function ed25519PrecheckFailure(publicKey: Uint8Array, signature: Uint8Array): Ed25519Rejection | null {
  // libsodium's C API has fixed-size buffers; bindings (sodium-native included) accept a longer
  // signature and silently ignore the tail, which would make trailing garbage "valid".
  if (signature.length !== ED25519_SIGNATURE_BYTES) return 'signature-length';
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return 'public-key-length';
  if (!scalarIsCanonical(signature)) return 'non-canonical-s';
  if (hasSmallOrder(signature, 0)) return 'small-order-r';
  if (!pointIsCanonical(publicKey, 0)) return 'non-canonical-public-key';
  if (hasSmallOrder(publicKey, 0)) return 'small-order-public-key';
  if (!pointIsCanonical(signature, 0)) return 'non-canonical-r';
  return null;
}
