/*
 * The `submit-session` protocol: a client keeps ONE stream open to a validator and sends its
 * requests on it as they come, each frame tagged; the validator answers every request on the
 * same stream as soon as its fate is known (a verdict at once, a receipt when it commits), so a
 * command's reply never waits for the others it travelled with, and no request pays for a stream
 * of its own (a libp2p stream is a negotiation and four frames more; see docs/BENCHMARKS.md,
 * "Client sessions").
 *
 * Client -> validator, one frame per group of requests:
 *   u32 tag                             chosen by the client; its replies carry it back
 *   request batch                       protocol/request-batch.ts (1..MAX_BATCH_REQUESTS requests)
 *
 * Validator -> client, one frame per group of replies of one tag that were settled together:
 *   u32 tag
 *   u16 count                           1..MAX_SUBMIT_REPLIES; 0 when the frame was refused whole
 *   count x u16 index                   strictly increasing: positions in the tagged frame
 *   submit replies                      protocol/submit-reply.ts, `count` of them, in that order
 *
 * A refused frame (its batch did not decode) is answered with count 0 and nothing after it: the
 * client counts all of that frame's requests as refused. A tag may be used again once its frame
 * is fully answered; a frame without a tag, or with the tag of a frame still open, ends the
 * session.
 */
import { MAX_BATCH_REQUESTS } from './request-batch.js';
import { decodeSubmitReplies, encodeSubmitReplies, MAX_SUBMIT_REPLIES, type SubmitReply } from './submit-reply.js';

/** A session frame (either way) that is not canonical. The only error the decoders throw. */
export class SubmitSessionDecodeError extends Error {
  readonly code = 'SUBMIT_SESSION_DECODE';
  constructor(detail: string) {
    super(`invalid submit-session frame: ${detail}`);
    this.name = 'SubmitSessionDecodeError';
  }
}

const TAG_BYTES = 4;
const MAX_TAG = 0xffff_ffff;

function checkTag(tag: number): void {
  if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) throw new RangeError(`a session tag is a u32, not ${tag}`);
}

/** A client frame: `tag` followed by an encoded request batch (protocol/request-batch.ts). */
export function encodeSessionRequests(tag: number, batch: Uint8Array): Uint8Array {
  checkTag(tag);
  const out = new Uint8Array(TAG_BYTES + batch.length);
  new DataView(out.buffer).setUint32(0, tag);
  out.set(batch, TAG_BYTES);
  return out;
}

/** The tag and the (still encoded) request batch of a client frame; throws SubmitSessionDecodeError. */
export function decodeSessionRequests(bytes: Uint8Array): { tag: number; batch: Uint8Array } {
  if (!(bytes instanceof Uint8Array) || bytes.length < TAG_BYTES) throw new SubmitSessionDecodeError('too short for a tag');
  const tag = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  return { tag, batch: bytes.subarray(TAG_BYTES) };
}

export interface SessionReplies {
  readonly tag: number;
  /** Positions in the tagged frame, strictly increasing; empty when the frame was refused whole. */
  readonly indices: readonly number[];
  /** One per index. */
  readonly replies: readonly SubmitReply[];
}

export function encodeSessionReplies(r: SessionReplies): Uint8Array {
  checkTag(r.tag);
  const count = r.indices.length;
  if (count !== r.replies.length || count > MAX_SUBMIT_REPLIES) throw new RangeError(`${count} indices for ${r.replies.length} replies (at most ${MAX_SUBMIT_REPLIES})`);
  for (let i = 0; i < count; i++) {
    const index = r.indices[i]!;
    if (!Number.isInteger(index) || index < 0 || index >= MAX_BATCH_REQUESTS || (i > 0 && index <= r.indices[i - 1]!)) {
      throw new RangeError('reply indices must be strictly increasing positions in a batch');
    }
  }
  const replies = count === 0 ? new Uint8Array(0) : encodeSubmitReplies(r.replies);
  const out = new Uint8Array(TAG_BYTES + 2 + 2 * count + replies.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, r.tag);
  view.setUint16(TAG_BYTES, count);
  for (let i = 0; i < count; i++) view.setUint16(TAG_BYTES + 2 + 2 * i, r.indices[i]!);
  out.set(replies, TAG_BYTES + 2 + 2 * count);
  return out;
}

/** Inverse of encodeSessionReplies; throws SubmitSessionDecodeError (and nothing else) for any other bytes. */
export function decodeSessionReplies(bytes: Uint8Array): SessionReplies {
  const fail = (d: string) => new SubmitSessionDecodeError(d);
  if (!(bytes instanceof Uint8Array) || bytes.length < TAG_BYTES + 2) throw fail('too short for a tag and a count');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = view.getUint32(0);
  const count = view.getUint16(TAG_BYTES);
  if (count > MAX_SUBMIT_REPLIES) throw fail(`${count} replies, limit ${MAX_SUBMIT_REPLIES}`);
  const repliesAt = TAG_BYTES + 2 + 2 * count;
  if (bytes.length < repliesAt) throw fail(`truncated: ${count} indices need ${repliesAt} bytes`);
  if (count === 0) {
    if (bytes.length !== repliesAt) throw fail(`${bytes.length - repliesAt} trailing bytes after a refusal`);
    return { tag, indices: [], replies: [] };
  }
  const indices: number[] = [];
  for (let i = 0; i < count; i++) {
    const index = view.getUint16(TAG_BYTES + 2 + 2 * i);
    if (index >= MAX_BATCH_REQUESTS || (i > 0 && index <= indices[i - 1]!)) throw fail('reply indices are not strictly increasing positions in a batch');
    indices.push(index);
  }
  let replies: SubmitReply[];
  try {
    replies = decodeSubmitReplies(bytes.subarray(repliesAt));
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
  if (replies.length !== count) throw fail(`${count} indices for ${replies.length} replies`);
  return { tag, indices, replies };
}
