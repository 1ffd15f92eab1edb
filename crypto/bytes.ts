import { concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { EncodingError } from './errors.js';

export { concatBytes };

/**
 * Lowercase hex of `bytes`. Through Buffer, so the result is one flat string: hex ids key maps on
 * hot paths (the core's blocks, the state tree's leaves, 60k+ entries under load), and noble's
 * bytesToHex builds a rope of two-character pieces that every map operation must flatten first.
 * Measured with 400 deletes and adds of hex keys into maps: 1.3 ms with ropes, 0.4 ms with flat
 * strings; the conversion itself 0.85 against 0.42 us.
 */
export function bytesToHex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new EncodingError('bytesToHex expects a Uint8Array');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses hex with or without a `0x` prefix; throws EncodingError on anything else. */
export function fromHex(hex: string): Uint8Array {
  const body = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (body.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(body)) {
    throw new EncodingError(`not a hex string: ${JSON.stringify(hex.slice(0, 32))}`);
  }
  return hexToBytes(body);
}

export function toHex(bytes: Uint8Array): string {
  return `0x${bytesToHex(bytes)}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Big-endian unsigned integer of the given width. */
export function uintBE(value: number | bigint, width: number): Uint8Array {
  let v = BigInt(value);
  if (v < 0n || v >= 1n << BigInt(8 * width)) throw new EncodingError(`value ${v} does not fit in ${width} bytes`);
  const out = new Uint8Array(width);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function bigintFromBE(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
