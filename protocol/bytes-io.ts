/**
 * Cursor-style reading and writing of the app layer's canonical encodings (commands, state
 * proofs, snapshots). Every multi-byte integer is big-endian; every read is bounds-checked and
 * reports through the caller's error factory, so each decoder throws only its own typed error.
 */
export type DecodeFailure = (detail: string) => Error;

/**
 * `u32 count || (u32 len || item)*` in one buffer: the payload hash's input (protocol/block.ts)
 * and the validation pool's batch framing. Items must be Uint8Arrays under 4 GiB each.
 */
export function lengthPrefixedList(items: readonly Uint8Array[]): Uint8Array {
  let total = 4;
  for (const item of items) total += 4 + item.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, items.length);
  let at = 4;
  for (const item of items) {
    view.setUint32(at, item.length);
    out.set(item, at + 4);
    at += 4 + item.length;
  }
  return out;
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #fail: DecodeFailure;
  #offset = 0;

  constructor(bytes: Uint8Array, fail: DecodeFailure) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#fail = fail;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #need(n: number, what: string): number {
    if (n > this.remaining) {
      throw this.#fail(`truncated: ${what} needs ${n} bytes at offset ${this.#offset}, ${this.remaining} left`);
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  u8(what: string): number {
    return this.#view.getUint8(this.#need(1, what));
  }

  u16(what: string): number {
    return this.#view.getUint16(this.#need(2, what));
  }

  u32(what: string): number {
    return this.#view.getUint32(this.#need(4, what));
  }

  u64(what: string): bigint {
    return this.#view.getBigUint64(this.#need(8, what));
  }

  /** A u64 that must fit a JS number exactly (counts, indexes, heights). */
  u53(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.#fail(`${what} ${v} exceeds 2^53-1`);
    return Number(v);
  }

  /** A copy, so decoded objects never alias (and pin) the caller's buffer. */
  bytes(n: number, what: string): Uint8Array {
    const at = this.#need(n, what);
    return this.#bytes.slice(at, at + n);
  }

  /** Canonical encodings have exactly one length: trailing bytes are an error, not padding. */
  end(): void {
    if (this.remaining !== 0) throw this.#fail(`${this.remaining} trailing bytes at offset ${this.#offset}`);
  }
}

/**
 * Big-endian writes into one buffer that doubles as it fills: no object per field, and each
 * write copies its bytes at once (a caller may reuse an array it has written). A count known
 * only after its items can be reserved and patched (a snapshot's, written as it streams).
 */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(initialBytes = 256) {
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  // Each write takes its offset first: #room may replace the buffer and its view.
  #room(n: number): number {
    const at = this.#at;
    if (at + n > this.#buf.length) {
      const grown = new Uint8Array(Math.max(2 * this.#buf.length, at + n));
      grown.set(this.#buf.subarray(0, at));
      this.#buf = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#at = at + n;
    return at;
  }

  u8(v: number): this {
    const at = this.#room(1);
    this.#buf[at] = v;
    return this;
  }

  u16(v: number): this {
    const at = this.#room(2);
    this.#view.setUint16(at, v);
    return this;
  }

  u32(v: number): this {
    const at = this.#room(4);
    this.#view.setUint32(at, v);
    return this;
  }

  u64(v: number | bigint): this {
    const at = this.#room(8);
    this.#view.setBigUint64(at, BigInt(v));
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.#room(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** Room for a u64 written later with patchU64; its offset. */
  reserveU64(): number {
    return this.#room(8);
  }

  patchU64(at: number, v: number | bigint): void {
    this.#view.setBigUint64(at, BigInt(v));
  }

  /** The bytes written, in an array of their own size. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }
}

/** Unsigned lexicographic byte order: the order of the entries in a snapshot. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}
