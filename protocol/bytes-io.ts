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

export class ByteWriter {
  readonly #parts: Uint8Array[] = [];

  u8(v: number): this {
    this.#parts.push(Uint8Array.of(v));
    return this;
  }

  u16(v: number): this {
    const out = new Uint8Array(2);
    new DataView(out.buffer).setUint16(0, v);
    this.#parts.push(out);
    return this;
  }

  u32(v: number): this {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, v);
    this.#parts.push(out);
    return this;
  }

  u64(v: number | bigint): this {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(v));
    this.#parts.push(out);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#parts.push(b);
    return this;
  }

  finish(): Uint8Array {
    // Joined by hand: a snapshot has millions of parts, too many to spread into concatBytes.
    let length = 0;
    for (const p of this.#parts) length += p.length;
    const out = new Uint8Array(length);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
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
