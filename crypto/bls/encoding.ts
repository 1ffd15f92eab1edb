import { BlsDecodeError } from '../errors.js';
import { BLS_PUBLIC_KEY_BYTES, BLS_SECRET_KEY_BYTES, BLS_SIGNATURE_BYTES } from './types.js';

/** Order of the G1/G2 subgroups (the scalar field modulus). */
export const BLS_CURVE_ORDER = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

const COMPRESSED = 0x80;
const INFINITY = 0x40;
const SIGN = 0x20;

/**
 * Checks the ZCash serialization flags both backends rely on, before any library sees the
 * bytes, so that the reason for a refusal is ours and identical across backends.
 * Returns true when the bytes are the canonical encoding of the point at infinity.
 */
export function checkPointFlags(bytes: Uint8Array, what: 'public key' | 'signature'): boolean {
  const expected = what === 'public key' ? BLS_PUBLIC_KEY_BYTES : BLS_SIGNATURE_BYTES;
  if (!(bytes instanceof Uint8Array) || bytes.length !== expected) {
    throw new BlsDecodeError(what, 'length', `expected ${expected} bytes, got ${bytes?.length ?? 'none'}`);
  }
  const head = bytes[0]!;
  if ((head & COMPRESSED) === 0) throw new BlsDecodeError(what, 'flags', 'only compressed encodings are accepted');
  if ((head & INFINITY) !== 0) {
    if ((head & SIGN) !== 0 || (head & 0x1f) !== 0 || bytes.some((b, i) => i > 0 && b !== 0)) {
      throw new BlsDecodeError(what, 'flags', 'infinity flag with non-zero coordinates');
    }
    return true;
  }
  return false;
}

export function checkSecretKeyBytes(bytes: Uint8Array): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length !== BLS_SECRET_KEY_BYTES) {
    throw new BlsDecodeError('secret key', 'length', `expected ${BLS_SECRET_KEY_BYTES} bytes`);
  }
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (v === 0n || v >= BLS_CURVE_ORDER) throw new BlsDecodeError('secret key', 'bad-scalar', 'must be in [1, r)');
  return v;
}
