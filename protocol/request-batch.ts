/**
 * Many signed client requests in one frame: the payload of the `request` gossip topic (requests
 * a validator admitted from its own clients, re-published as one message) and of the
 * `submit-batch` protocol (a client handing a validator many requests at once).
 *
 * Layout (integers big-endian):
 *
 *   u8  version (= 1)
 *   u16 count                          1..MAX_BATCH_REQUESTS
 *   count x ( u16 len || request )     1..MAX_REQUEST_BYTES each, protocol/request.ts encoding
 *
 * and the whole frame is at most MAX_BATCH_BYTES. Exactly one encoding per list: no empty
 * batch, no trailing bytes, lengths fixed-width. The requests themselves are not decoded here;
 * the validation pool checks each one (a forged one makes the whole gossip batch a REJECT).
 */
import { EncodingError } from '../crypto/errors.js';
import { MAX_REQUEST_BYTES } from './request.js';

export const REQUEST_BATCH_VERSION = 1;
/** Most requests per batch: a gossip batch flushes well below it, and a pool call stays short. */
export const MAX_BATCH_REQUESTS = 1024;
/** Most bytes per batch frame: far below the host's 4 MiB message limit. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** Frame bytes around the requests: version and count. */
export const BATCH_HEADER_BYTES = 3;
/** Frame bytes added per request: its length. */
export const BATCH_ENTRY_OVERHEAD = 2;

export type RequestBatchDecodeFailure = 'malformed' | 'oversized';

/** Bytes that are not the canonical encoding of a request batch. The only error decodeRequestBatch throws. */
export class RequestBatchDecodeError extends EncodingError {
  override readonly code = 'REQUEST_BATCH_DECODE';
  constructor(
    readonly failure: RequestBatchDecodeFailure,
    detail: string,
  ) {
    super(`invalid request batch (${failure}): ${detail}`);
  }
}

/** A list that cannot be encoded as a batch (empty, too many, too large); thrown by encodeRequestBatch only. */
export class RequestBatchEncodeError extends EncodingError {
  override readonly code = 'REQUEST_BATCH_ENCODE';
  constructor(detail: string) {
    super(`cannot encode request batch: ${detail}`);
  }
}

/** Size of the frame that would carry requests of these byte lengths. */
export function batchBytes(totalRequestBytes: number, count: number): number {
  return BATCH_HEADER_BYTES + count * BATCH_ENTRY_OVERHEAD + totalRequestBytes;
}

export function encodeRequestBatch(requests: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(requests) || requests.length < 1 || requests.length > MAX_BATCH_REQUESTS) {
    throw new RequestBatchEncodeError(`a batch holds 1..${MAX_BATCH_REQUESTS} requests`);
  }
  let total = 0;
  for (const r of requests) {
    if (!(r instanceof Uint8Array) || r.length < 1 || r.length > MAX_REQUEST_BYTES) {
      throw new RequestBatchEncodeError(`each request must be 1..${MAX_REQUEST_BYTES} bytes`);
    }
    total += r.length;
  }
  const size = batchBytes(total, requests.length);
  if (size > MAX_BATCH_BYTES) throw new RequestBatchEncodeError(`${size} bytes, limit ${MAX_BATCH_BYTES}`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = REQUEST_BATCH_VERSION;
  view.setUint16(1, requests.length);
  let at = BATCH_HEADER_BYTES;
  for (const r of requests) {
    view.setUint16(at, r.length);
    out.set(r, at + BATCH_ENTRY_OVERHEAD);
    at += BATCH_ENTRY_OVERHEAD + r.length;
  }
  return out;
}

const malformed = (d: string) => new RequestBatchDecodeError('malformed', d);

/**
 * Inverse of encodeRequestBatch; throws RequestBatchDecodeError (and nothing else) for any other
 * bytes. The requests are copies, so they own their memory and outlive `bytes`.
 */
export function decodeRequestBatch(bytes: Uint8Array): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) throw malformed('input is not a Uint8Array');
  if (bytes.length > MAX_BATCH_BYTES) throw new RequestBatchDecodeError('oversized', `${bytes.length} bytes, limit ${MAX_BATCH_BYTES}`);
  if (bytes.length < BATCH_HEADER_BYTES) throw malformed(`truncated: ${bytes.length} bytes`);
  if (bytes[0] !== REQUEST_BATCH_VERSION) throw malformed(`unknown version ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(1);
  if (count < 1) throw malformed('empty batch');
  if (count > MAX_BATCH_REQUESTS) throw new RequestBatchDecodeError('oversized', `${count} requests, limit ${MAX_BATCH_REQUESTS}`);
  // Each entry needs at least its length and one byte: refuse an impossible count before looping.
  if (BATCH_HEADER_BYTES + count * (BATCH_ENTRY_OVERHEAD + 1) > bytes.length) throw malformed(`truncated: ${count} requests cannot fit in ${bytes.length} bytes`);
  const out: Uint8Array[] = [];
  let at = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + BATCH_ENTRY_OVERHEAD > bytes.length) throw malformed(`truncated: length of request ${i} at offset ${at}`);
    const len = view.getUint16(at);
    if (len < 1) throw malformed(`request ${i} is empty`);
    if (len > MAX_REQUEST_BYTES) throw new RequestBatchDecodeError('oversized', `request ${i} has ${len} bytes, limit ${MAX_REQUEST_BYTES}`);
    at += BATCH_ENTRY_OVERHEAD;
    if (at + len > bytes.length) throw malformed(`truncated: request ${i} needs ${len} bytes at offset ${at}`);
    out.push(bytes.slice(at, at + len));
    at += len;
  }
  if (at !== bytes.length) throw malformed(`${bytes.length - at} trailing bytes`);
  return out;
}
