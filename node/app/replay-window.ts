/**
 * Deterministic replay protection: which sequence numbers of one client have committed.
 *
 * A signed request stays valid until its expiry, so anyone who saw it can submit it again. The
 * consensus core refuses to propose a request it saw commit, but only from memory (the last
 * 100k, and nothing after a restart), and the validation cache forgets too; neither is part of
 * the replicated state. Without this record, a replayed transfer would move the funds twice.
 *
 * The rule is the IPsec anti-replay window (RFC 4303 §3.4.3), kept in the application state so
 * that every replica applies it identically and a snapshot carries it:
 *   - `high` is the highest sequence of the client that committed;
 *   - bit d of the bitmap says whether sequence high - d committed (bit 0, `high` itself, is
 *     always set);
 *   - a sequence above `high` moves the window; one inside it commits once; one at or below
 *     high - WINDOW is refused as too old, since the record no longer knows about it.
 * Gaps are allowed, so a client with many requests in flight is not held up when they commit
 * out of order or one of them never does.
 *
 * Record encoding (the value stored at the client's replay key): u64 high || WINDOW/8 bytes of
 * bitmap, bit d at byte d >> 3, mask 1 << (d & 7).
 */

/** Sequences tracked below the highest one. */
export const REPLAY_WINDOW = 1024;
export const REPLAY_RECORD_BYTES = 8 + REPLAY_WINDOW / 8;
const WINDOW_BIG = BigInt(REPLAY_WINDOW);

export interface ReplayRecord {
  readonly high: bigint;
  /** REPLAY_WINDOW bits; bit d = sequence high - d. */
  readonly bitmap: Uint8Array;
}

export function encodeReplayRecord(r: ReplayRecord): Uint8Array {
  const out = new Uint8Array(REPLAY_RECORD_BYTES);
  new DataView(out.buffer).setBigUint64(0, r.high);
  out.set(r.bitmap, 8);
  return out;
}

/** null for bytes that no sequence of commits could have stored (wrong length, bit 0 clear). */
export function decodeReplayRecord(bytes: Uint8Array): ReplayRecord | null {
  if (bytes.length !== REPLAY_RECORD_BYTES || (bytes[8]! & 1) === 0) return null;
  const high = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0);
  return { high, bitmap: bytes.slice(8) };
}

/**
 * Marks `sequence` as committed in `record` (undefined: the client's first). Returns the new
 * record, or null when the sequence is a replay: already committed, or too old to tell.
 */
export function admitSequence(record: ReplayRecord | undefined, sequence: bigint): ReplayRecord | null {
  if (record === undefined) return { high: sequence, bitmap: withBit(new Uint8Array(REPLAY_WINDOW / 8), 0) };
  if (sequence > record.high) {
    const shift = sequence - record.high;
    const bitmap = shift >= WINDOW_BIG ? new Uint8Array(REPLAY_WINDOW / 8) : shifted(record.bitmap, Number(shift));
    return { high: sequence, bitmap: withBit(bitmap, 0) };
  }
  const d = record.high - sequence;
  if (d >= WINDOW_BIG) return null;
  const bit = Number(d);
  if ((record.bitmap[bit >> 3]! & (1 << (bit & 7))) !== 0) return null;
  return { high: record.high, bitmap: withBit(record.bitmap.slice(), bit) };
}

function withBit(bitmap: Uint8Array, d: number): Uint8Array {
  bitmap[d >> 3]! |= 1 << (d & 7);
  return bitmap;
}

/** A fresh bitmap with every bit moved from d to d + by (bits pushed past the window drop). */
function shifted(bitmap: Uint8Array, by: number): Uint8Array {
  const out = new Uint8Array(bitmap.length);
  const bytes = by >> 3;
  const bits = by & 7;
  for (let i = bitmap.length - 1; i >= bytes; i--) {
    const lo = bitmap[i - bytes]! << bits;
    const carry = bits === 0 || i - bytes - 1 < 0 ? 0 : bitmap[i - bytes - 1]! >> (8 - bits);
    out[i] = (lo | carry) & 0xff;
  }
  return out;
}

/** Whether a request with `sequence` would commit as a replay now (already committed, or too old). */
export function isReplay(record: ReplayRecord | undefined, sequence: bigint): boolean {
  return admitSequence(record, sequence) === null;
}
