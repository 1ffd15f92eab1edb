import { resultName } from './result.js';

/** Where a request ended up: what `client submit` reports and a proof bundle starts from. */
export interface CommitReceipt {
  readonly height: number;
  readonly position: number;
  /**
   * A Result code. One this build does not know is kept as it came (resultName says
   * UNKNOWN(n)): the log accepts any u8 for the same reason (log-proof.ts), so a client older
   * than its validator still reads, and verifies, receipts with codes added since.
   */
  readonly result: number;
  readonly resultName: string;
}

/** What the `submit` protocol answers, as UTF-8 JSON: a client needs no codec to read it. */
export type SubmitReply =
  | ({ readonly status: 'committed' } & CommitReceipt)
  | { readonly status: 'rejected' | 'ignored'; readonly reason: string }
  | { readonly status: 'timeout' };

/*
 * Replies to a `submit-batch` frame, one per request in the frame's order, in binary (a batch
 * answers hundreds of requests, and JSON text per receipt was measurable there):
 *
 *   u8  version (= 1)
 *   u16 count                           0 when the validator refused the frame itself
 *   count x entry, by its first byte:
 *     0 committed: u64 height || u64 position || u8 result code
 *     1 rejected / 2 ignored: u8 len || reason (1..255 bytes of printable ASCII)
 *     3 timeout
 */
export const SUBMIT_REPLIES_VERSION = 1;
/** As protocol/request-batch.ts MAX_BATCH_REQUESTS: one reply per request. */
export const MAX_SUBMIT_REPLIES = 1024;

/** Bytes that are not a canonical batch of submit replies. The only error decodeSubmitReplies throws. */
export class SubmitRepliesDecodeError extends Error {
  readonly code = 'SUBMIT_REPLIES_DECODE';
  constructor(detail: string) {
    super(`invalid submit replies: ${detail}`);
    this.name = 'SubmitRepliesDecodeError';
  }
}

const STATUS_CODES = { committed: 0, rejected: 1, ignored: 2, timeout: 3 } as const;
const REASON_RE = /^[\x20-\x7e]{1,255}$/;

export function encodeSubmitReplies(replies: readonly SubmitReply[]): Uint8Array {
  if (replies.length > MAX_SUBMIT_REPLIES) throw new RangeError(`at most ${MAX_SUBMIT_REPLIES} replies`);
  let size = 3;
  for (const r of replies) {
    if (r.status === 'committed') size += 1 + 8 + 8 + 1;
    else if (r.status === 'timeout') size += 1;
    else {
      // Reasons are our own verdict labels; anything else is a bug here, not peer input.
      if (!REASON_RE.test(r.reason)) throw new RangeError(`reason must be 1..255 printable ASCII: ${JSON.stringify(r.reason)}`);
      size += 2 + r.reason.length;
    }
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = SUBMIT_REPLIES_VERSION;
  view.setUint16(1, replies.length);
  let at = 3;
  for (const r of replies) {
    out[at++] = STATUS_CODES[r.status];
    if (r.status === 'committed') {
      view.setBigUint64(at, BigInt(r.height));
      view.setBigUint64(at + 8, BigInt(r.position));
      out[at + 16] = r.result;
      at += 17;
    } else if (r.status !== 'timeout') {
      out[at++] = r.reason.length;
      for (let i = 0; i < r.reason.length; i++) out[at++] = r.reason.charCodeAt(i);
    }
  }
  return out;
}

/** Inverse of encodeSubmitReplies; throws SubmitRepliesDecodeError (and nothing else) for any other bytes. */
export function decodeSubmitReplies(bytes: Uint8Array): SubmitReply[] {
  const fail = (d: string) => new SubmitRepliesDecodeError(d);
  if (!(bytes instanceof Uint8Array)) throw fail('input is not a Uint8Array');
  if (bytes.length < 3) throw fail(`truncated: ${bytes.length} bytes`);
  if (bytes[0] !== SUBMIT_REPLIES_VERSION) throw fail(`unknown version ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(1);
  if (count > MAX_SUBMIT_REPLIES) throw fail(`${count} replies, limit ${MAX_SUBMIT_REPLIES}`);
  const out: SubmitReply[] = [];
  let at = 3;
  const need = (n: number) => {
    if (at + n > bytes.length) throw fail(`truncated at offset ${at}`);
  };
  for (let i = 0; i < count; i++) {
    need(1);
    const status = bytes[at++]!;
    if (status === STATUS_CODES.committed) {
      need(17);
      const height = view.getBigUint64(at);
      const position = view.getBigUint64(at + 8);
      const result = bytes[at + 16]!;
      at += 17;
      if (height > BigInt(Number.MAX_SAFE_INTEGER) || position > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`reply ${i}: height or position out of range`);
      out.push({ status: 'committed', height: Number(height), position: Number(position), result, resultName: resultName(result) });
    } else if (status === STATUS_CODES.rejected || status === STATUS_CODES.ignored) {
      need(1);
      const len = bytes[at++]!;
      need(len);
      let reason = '';
      for (let k = 0; k < len; k++) reason += String.fromCharCode(bytes[at + k]!);
      at += len;
      if (!REASON_RE.test(reason)) throw fail(`reply ${i}: reason is not 1..255 printable ASCII`);
      out.push({ status: status === STATUS_CODES.rejected ? 'rejected' : 'ignored', reason });
    } else if (status === STATUS_CODES.timeout) {
      out.push({ status: 'timeout' });
    } else throw fail(`reply ${i}: unknown status ${status}`);
  }
  if (at !== bytes.length) throw fail(`${bytes.length - at} trailing bytes`);
  return out;
}
