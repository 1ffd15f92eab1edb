/**
 * The `query` direct protocol: how a light client asks ONE replica for something it can verify
 * on its own (client/verify.ts), so it never has to trust the replica's answer.
 *
 *   request  = u8 version (1) || u8 kind || body
 *     kind 1 certificate  body = u64 height      a certified header whose executed state covers height
 *     kind 2 log          body = u64 position    the same, plus the log entry and its inclusion proof
 *     kind 3 state        body = u16 len || key  the same, plus the key's value or absence and a state proof
 *                                                (key is the state key: namespace byte || application key)
 *   response = u8 version (1) || u8 status || body
 *     status 0 ok             body = proof bundle, JSON text (protocol/bundle.ts)
 *     status 1 unavailable    body = UTF-8 reason (not certified yet, position past the log, ...)
 *     status 2 bad-request    body = UTF-8 reason
 *     status 3 busy           body = UTF-8 reason
 *
 * Both decoders enforce hard size limits and refuse trailing bytes with a QueryDecodeError.
 */
import { EncodingError } from '../crypto/errors.js';
import { MAX_BUNDLE_JSON_BYTES } from './bundle.js';
import { ByteReader, ByteWriter } from './bytes-io.js';
import { MAX_STATE_KEY_BYTES } from './state-proof.js';

export const QUERY_VERSION = 1;
export const MAX_QUERY_REQUEST_BYTES = 2 + 2 + MAX_STATE_KEY_BYTES;
export const MAX_QUERY_REASON_BYTES = 512;
export const MAX_QUERY_RESPONSE_BYTES = 2 + MAX_BUNDLE_JSON_BYTES;

export type QueryRequest =
  | { readonly kind: 'certificate'; readonly height: number }
  | { readonly kind: 'log'; readonly position: number }
  | { readonly kind: 'state'; readonly key: Uint8Array };

export type QueryStatus = 'ok' | 'unavailable' | 'bad-request' | 'busy';

export type QueryResponse =
  | { readonly status: 'ok'; readonly bundleJson: string }
  | { readonly status: Exclude<QueryStatus, 'ok'>; readonly reason: string };

export class QueryDecodeError extends EncodingError {
  constructor(
    readonly what: 'request' | 'response',
    detail: string,
  ) {
    super(`malformed query ${what}: ${detail}`);
  }
}

const KINDS = { certificate: 1, log: 2, state: 3 } as const;
const STATUSES: readonly QueryStatus[] = ['ok', 'unavailable', 'bad-request', 'busy'];

export function encodeQueryRequest(q: QueryRequest): Uint8Array {
  const w = new ByteWriter().u8(QUERY_VERSION).u8(KINDS[q.kind]);
  if (q.kind === 'certificate') w.u64(q.height);
  else if (q.kind === 'log') w.u64(q.position);
  else {
    if (q.key.length < 1 || q.key.length > MAX_STATE_KEY_BYTES) throw new RangeError(`state key of ${q.key.length} bytes`);
    w.u16(q.key.length).bytes(q.key);
  }
  return w.finish();
}

export function decodeQueryRequest(bytes: Uint8Array): QueryRequest {
  const fail = (d: string) => new QueryDecodeError('request', d);
  if (!(bytes instanceof Uint8Array)) throw fail('not bytes');
  if (bytes.length > MAX_QUERY_REQUEST_BYTES) throw fail(`${bytes.length} bytes, limit ${MAX_QUERY_REQUEST_BYTES}`);
  const r = new ByteReader(bytes, fail);
  const version = r.u8('version');
  if (version !== QUERY_VERSION) throw fail(`unknown version ${version}`);
  const kind = r.u8('kind');
  let q: QueryRequest;
  if (kind === KINDS.certificate) q = { kind: 'certificate', height: r.u53('height') };
  else if (kind === KINDS.log) q = { kind: 'log', position: r.u53('position') };
  else if (kind === KINDS.state) {
    const len = r.u16('key length');
    if (len < 1 || len > MAX_STATE_KEY_BYTES) throw fail(`key of ${len} bytes, expected 1..${MAX_STATE_KEY_BYTES}`);
    q = { kind: 'state', key: r.bytes(len, 'key') };
  } else throw fail(`unknown kind ${kind}`);
  r.end();
  return q;
}

const utf8 = new TextEncoder();

export function encodeQueryResponse(r: QueryResponse): Uint8Array {
  const body = utf8.encode(r.status === 'ok' ? r.bundleJson : r.reason.slice(0, MAX_QUERY_REASON_BYTES));
  const limit = r.status === 'ok' ? MAX_BUNDLE_JSON_BYTES : MAX_QUERY_REASON_BYTES * 4;
  if (body.length > limit) throw new RangeError(`query response body of ${body.length} bytes`);
  return new ByteWriter().u8(QUERY_VERSION).u8(STATUSES.indexOf(r.status)).bytes(body).finish();
}

export function decodeQueryResponse(bytes: Uint8Array): QueryResponse {
  const fail = (d: string) => new QueryDecodeError('response', d);
  if (!(bytes instanceof Uint8Array)) throw fail('not bytes');
  if (bytes.length > MAX_QUERY_RESPONSE_BYTES) throw fail(`${bytes.length} bytes, limit ${MAX_QUERY_RESPONSE_BYTES}`);
  if (bytes.length < 2) throw fail('truncated');
  if (bytes[0] !== QUERY_VERSION) throw fail(`unknown version ${bytes[0]}`);
  const status = STATUSES[bytes[1]!];
  if (status === undefined) throw fail(`unknown status ${bytes[1]}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(2));
  } catch {
    throw fail('body is not UTF-8');
  }
  if (status === 'ok') return { status, bundleJson: text };
  if (bytes.length - 2 > MAX_QUERY_REASON_BYTES * 4) throw fail('reason too long');
  return { status, reason: text };
}
