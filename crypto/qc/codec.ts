import { EncodingError } from '../errors.js';
import { bitmapBytes } from './bitmap.js';
import type { QcKind, QuorumCertificate } from './types.js';

/**
 * Canonical QC bytes:
 *   u8 version (1) || u8 kind (1 multisig, 2 threshold) || u16 BE n || digest[32] || sig[96]
 *   || bitmap[ceil(n/8)] (multisig only)
 * Decoding is strict: exact length, known version and kind, n in [1, 65535].
 */
export const QC_CODEC_VERSION = 1;
const KIND_CODE: Record<QcKind, number> = { multisig: 1, threshold: 2 };
const HEADER = 4;
const DIGEST = 32;
const SIGNATURE = 96;
export const MAX_QC_VALIDATORS = 0xffff;

export function encodedQcSize(kind: QcKind, n: number): number {
  return HEADER + DIGEST + SIGNATURE + (kind === 'multisig' ? bitmapBytes(n) : 0);
}

export function encodeQc(qc: QuorumCertificate): Uint8Array {
  if (qc.n < 1 || qc.n > MAX_QC_VALIDATORS) throw new EncodingError(`QC validator count ${qc.n} out of range`);
  if (qc.digest.length !== DIGEST) throw new EncodingError(`QC digest must be ${DIGEST} bytes`);
  if (qc.signature.length !== SIGNATURE) throw new EncodingError(`QC signature must be ${SIGNATURE} bytes`);
  const out = new Uint8Array(encodedQcSize(qc.kind, qc.n));
  out[0] = QC_CODEC_VERSION;
  out[1] = KIND_CODE[qc.kind];
  out[2] = qc.n >> 8;
  out[3] = qc.n & 0xff;
  out.set(qc.digest, HEADER);
  out.set(qc.signature, HEADER + DIGEST);
  if (qc.kind === 'multisig') {
    if (!qc.signers || qc.signers.length !== bitmapBytes(qc.n)) throw new EncodingError('multisig QC needs a bitmap of ceil(n/8) bytes');
    out.set(qc.signers, HEADER + DIGEST + SIGNATURE);
  }
  return out;
}

export function decodeQc(bytes: Uint8Array): QuorumCertificate {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER + DIGEST + SIGNATURE) {
    throw new EncodingError(`QC too short: ${bytes?.length ?? 0} bytes`);
  }
  if (bytes[0] !== QC_CODEC_VERSION) throw new EncodingError(`unknown QC version ${bytes[0]}`);
  const kind: QcKind | undefined = bytes[1] === 1 ? 'multisig' : bytes[1] === 2 ? 'threshold' : undefined;
  if (kind === undefined) throw new EncodingError(`unknown QC kind ${bytes[1]}`);
  const n = (bytes[2]! << 8) | bytes[3]!;
  if (n < 1) throw new EncodingError('QC validator count is zero');
  const expected = encodedQcSize(kind, n);
  if (bytes.length !== expected) throw new EncodingError(`QC of kind ${kind} with n = ${n} must be ${expected} bytes, got ${bytes.length}`);
  return {
    kind,
    n,
    digest: bytes.slice(HEADER, HEADER + DIGEST),
    signature: bytes.slice(HEADER + DIGEST, HEADER + DIGEST + SIGNATURE),
    signers: kind === 'multisig' ? bytes.slice(HEADER + DIGEST + SIGNATURE) : null,
  };
}
