/**
 * The canonical, versioned wire codec for consensus traffic.
 *
 * Why hand-rolled fixed-width/length-prefixed fields instead of protobuf (protons):
 *   - no schema compiler step in the build, and nothing generated to keep in sync;
 *   - exact byte control: every field has one encoding (fixed-width big-endian integers, fixed
 *     32-byte ids, length-prefixed byte strings, 0/1 presence flags), so `encode(decode(x))`
 *     reproduces `x` byte for byte. Protobuf allows several encodings of one message (field
 *     order, non-minimal varints, unknown fields, repeated scalar packing), which would let a
 *     peer produce distinct byte strings (distinct gossipsub message ids) for one message;
 *   - every length and count is checked against a hard limit AND against the bytes actually
 *     remaining before anything is allocated, so a hostile count cannot make us allocate.
 *
 * Layout: envelope = u8 version || u8 kind || body, the body running to the end of the message.
 * Integers are unsigned big-endian; u64 values must be <= Number.MAX_SAFE_INTEGER because the
 * consensus types carry them as JS numbers. Byte strings are u32 length || bytes.
 */
import { EncodingError } from '../crypto/errors.js';
import type { Block, ConsensusMessage, ExecutedState, QuorumCert, SignedTimeout, SignedVote, TimeoutCert, VoteData } from '../protocol/types.js';

export const WIRE_VERSION = 1;

/** Largest encoded gossip/direct message (proposals included). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/**
 * Largest question on the sync protocol (a sync-request or a snapshot-request: a few integers).
 * The protocol's streams read no more than this, so a peer cannot park megabytes in each.
 */
export const MAX_SYNC_ASK_BYTES = 64;
/** Sync responses carry many blocks; they get their own, larger cap (the responder pages). */
export const MAX_SYNC_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Matches node/consensus/replica.ts MAX_SYNC_BLOCKS (imported there as a value; types only here). */
export const MAX_SYNC_BLOCKS = 10_000;
export const MAX_PAYLOAD_COMMANDS = 10_000;
export const MAX_COMMAND_BYTES = 64 * 1024;
/** An encoded crypto/qc certificate: signer bitmap plus one aggregate or threshold signature. */
export const MAX_CERT_BYTES = 16 * 1024;
/** One BLS (96-byte G2) or ed25519 (64-byte) signature, with headroom for a threshold share tag. */
export const MAX_SIGNATURE_BYTES = 256;
/** Bitmap bytes and per-signer entries in a timeout certificate: bounds the validator set. */
export const MAX_VALIDATORS = 4096;
export const MAX_BITMAP_BYTES = MAX_VALIDATORS / 8;
/**
 * State sync ships an application snapshot in chunks of exactly this size (the last one may be
 * shorter), so a peer cannot stretch a transfer into millions of tiny requests, and each chunk
 * stays far below the response cap next to its proof.
 */
export const MAX_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Largest snapshot a node will assemble: 1 GiB, i.e. at most 1024 chunk requests. */
export const MAX_SNAPSHOT_BYTES = 1024 * MAX_SNAPSHOT_CHUNK_BYTES;
/** Blocks in a snapshot's certificate (the blocks above it up to a certified header). */
export const MAX_SNAPSHOT_PROOF_BLOCKS = 64;

const ID_BYTES = 32;

export type WireKind =
  | 'proposal'
  | 'vote'
  | 'timeout'
  | 'sync-request'
  | 'sync-response'
  | 'sync-pruned'
  | 'snapshot-request'
  | 'snapshot-chunk'
  | 'snapshot-none'
  | 'compact-proposal'
  | 'request-fetch'
  | 'request-fetch-reply';

const KIND_CODES: Readonly<Record<WireKind, number>> = {
  proposal: 1,
  vote: 2,
  timeout: 3,
  'sync-request': 4,
  'sync-response': 5,
  'sync-pruned': 6,
  'snapshot-request': 7,
  'snapshot-chunk': 8,
  'snapshot-none': 9,
  'compact-proposal': 10,
  'request-fetch': 11,
  'request-fetch-reply': 12,
};
const CODE_KINDS: ReadonlyMap<number, WireKind> = new Map(
  (Object.entries(KIND_CODES) as [WireKind, number][]).map(([k, c]) => [c, k]),
);

export type SyncRequest = { readonly type: 'sync-request'; readonly fromHeight: number };
export type SyncResponse = { readonly type: 'sync-response'; readonly blocks: readonly Block[]; readonly highQc: QuorumCert };
/** Answer to a sync-request reaching below what the responder still holds: fetch a snapshot. */
export type SyncPruned = { readonly type: 'sync-pruned'; readonly lowestHeight: number };
/** `height` 0 asks for the responder's latest snapshot; chunks of it then name its height. */
export type SnapshotRequest = { readonly type: 'snapshot-request'; readonly height: number; readonly offset: number };
/**
 * The blocks above a snapshot at `height` up to one whose header carries an executed state at
 * or above it, and the QC certifying that last block: what makes the snapshot checkable.
 */
export interface SnapshotProof {
  readonly blocks: readonly Block[];
  readonly qc: QuorumCert;
}
/** Bytes `offset..offset+data.length` of a `total`-byte snapshot; the first chunk carries the proof. */
export type SnapshotChunk = {
  readonly type: 'snapshot-chunk';
  readonly height: number;
  readonly total: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly proof?: SnapshotProof;
};
/** No snapshot (or not the one asked for, or not certified yet) at the responder. */
export type SnapshotNone = { readonly type: 'snapshot-none' };
/**
 * One request of a compact proposal's payload: its id (SHA-256 of its bytes), for a request the
 * receivers are expected to hold already, or its bytes.
 */
export type PayloadRef = { readonly id: Uint8Array } | { readonly bytes: Uint8Array };
/** A block whose payload names requests by id where it can (node/runtime/compact-proposals.ts). */
export interface CompactBlock extends Omit<Block, 'payload'> {
  readonly payload: readonly PayloadRef[];
}
/** A proposal on the wire with its payload as references: rebuilt into a `proposal` on receipt. */
export type CompactProposal = { readonly type: 'compact-proposal'; readonly block: CompactBlock; readonly tc?: TimeoutCert };
/** Asks a proposal's sender for the requests of block `blockId` with these ids. */
export type RequestFetch = { readonly type: 'request-fetch'; readonly blockId: Uint8Array; readonly ids: readonly Uint8Array[] };
/** The answer, in the order asked: a request's bytes, or an empty array for one the sender does not hold. */
export type RequestFetchReply = { readonly type: 'request-fetch-reply'; readonly requests: readonly Uint8Array[] };
export type WireMessage =
  | ConsensusMessage
  | SyncRequest
  | SyncResponse
  | SyncPruned
  | SnapshotRequest
  | SnapshotChunk
  | SnapshotNone
  | CompactProposal
  | RequestFetch
  | RequestFetchReply;

export interface Envelope {
  readonly version: number;
  readonly kind: WireKind;
  readonly body: Uint8Array;
}

/** Bytes from a peer that are not a canonical encoding; the peer should be penalised. */
export class WireDecodeError extends EncodingError {
  constructor(detail: string) {
    super(`wire decode: ${detail}`);
  }
}

/** A local value that cannot be put on the wire (a programming error, not a peer's fault). */
export class WireEncodeError extends EncodingError {
  constructor(detail: string) {
    super(`wire encode: ${detail}`);
  }
}

// ---------------------------------------------------------------- writer

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(private readonly limit: number) {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
  }

  // Callers must take the offset before touching this.buf/this.view: reserve may reallocate them.
  private reserve(n: number): number {
    const at = this.len;
    const need = at + n;
    if (need > this.limit) throw new WireEncodeError(`message exceeds ${this.limit} bytes`);
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.min(this.limit, Math.max(need, this.buf.length * 2)));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.len = need;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.buf[at] = v;
  }

  u32(v: number, what: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new WireEncodeError(`${what} is not a u32`);
    const at = this.reserve(4);
    this.view.setUint32(at, v);
  }

  u64(v: number, what: string): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new WireEncodeError(`${what} is not a safe non-negative integer`);
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v));
  }

  fixed(b: Uint8Array, n: number, what: string): void {
    if (!(b instanceof Uint8Array) || b.length !== n) throw new WireEncodeError(`${what} must be ${n} bytes`);
    const at = this.reserve(n);
    this.buf.set(b, at);
  }

  bytes(b: Uint8Array, max: number, what: string): void {
    if (!(b instanceof Uint8Array) || b.length > max) throw new WireEncodeError(`${what} longer than ${max} bytes`);
    this.u32(b.length, what);
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }

  count(n: number, max: number, what: string): void {
    if (n > max) throw new WireEncodeError(`${what}: ${n} > ${max}`);
    this.u32(n, what);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

// ---------------------------------------------------------------- reader

class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private take(n: number, what: string): number {
    if (n > this.buf.length - this.pos) throw new WireDecodeError(`truncated ${what}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.buf[this.take(1, what)]!;
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what));
  }

  u64(what: string): number {
    const v = this.view.getBigUint64(this.take(8, what));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireDecodeError(`${what} out of range`);
    return Number(v);
  }

  fixed(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.buf.slice(at, at + n);
  }

  bytes(max: number, what: string): Uint8Array {
    const n = this.u32(what);
    if (n > max) throw new WireDecodeError(`${what} longer than ${max} bytes`);
    return this.fixed(n, what);
  }

  /** A count whose items take at least `minItemBytes` each: refused before any allocation. */
  count(max: number, minItemBytes: number, what: string): number {
    const n = this.u32(what);
    if (n > max) throw new WireDecodeError(`${what}: ${n} > ${max}`);
    if (n * minItemBytes > this.remaining()) throw new WireDecodeError(`truncated ${what}`);
    return n;
  }

  flag(what: string): boolean {
    const b = this.u8(what);
    if (b > 1) throw new WireDecodeError(`${what} flag must be 0 or 1`);
    return b === 1;
  }

  remaining(): number {
    return this.buf.length - this.pos;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new WireDecodeError(`${this.buf.length - this.pos} trailing bytes`);
  }
}

// ---------------------------------------------------------------- structures

const VOTE_DATA_BYTES = ID_BYTES + 8 + 8 + ID_BYTES + 8;
const QC_MIN_BYTES = VOTE_DATA_BYTES + 4;
const BLOCK_MIN_BYTES = ID_BYTES + 8 + 8 + QC_MIN_BYTES + 4 + 4 + 8 + 3 * ID_BYTES;

function writeVoteData(w: Writer, v: VoteData): void {
  w.fixed(v.blockId, ID_BYTES, 'vote.blockId');
  w.u64(v.round, 'vote.round');
  w.u64(v.height, 'vote.height');
  w.fixed(v.parentId, ID_BYTES, 'vote.parentId');
  w.u64(v.parentRound, 'vote.parentRound');
}

function readVoteData(r: Reader): VoteData {
  const blockId = r.fixed(ID_BYTES, 'vote.blockId');
  const round = r.u64('vote.round');
  const height = r.u64('vote.height');
  const parentId = r.fixed(ID_BYTES, 'vote.parentId');
  const parentRound = r.u64('vote.parentRound');
  return { blockId, round, height, parentId, parentRound };
}

function writeQc(w: Writer, qc: QuorumCert): void {
  writeVoteData(w, qc.vote);
  w.bytes(qc.certificate, MAX_CERT_BYTES, 'qc.certificate');
}

function readQc(r: Reader): QuorumCert {
  const vote = readVoteData(r);
  const certificate = r.bytes(MAX_CERT_BYTES, 'qc.certificate');
  return { vote, certificate };
}

function writeExecuted(w: Writer, e: ExecutedState): void {
  w.u64(e.height, 'executed.height');
  w.fixed(e.blockId, ID_BYTES, 'executed.blockId');
  w.fixed(e.stateRoot, ID_BYTES, 'executed.stateRoot');
  w.fixed(e.logRoot, ID_BYTES, 'executed.logRoot');
}

function readExecuted(r: Reader): ExecutedState {
  const height = r.u64('executed.height');
  const blockId = r.fixed(ID_BYTES, 'executed.blockId');
  const stateRoot = r.fixed(ID_BYTES, 'executed.stateRoot');
  const logRoot = r.fixed(ID_BYTES, 'executed.logRoot');
  return { height, blockId, stateRoot, logRoot };
}

/**
 * A block's fields around its payload, which a full block and a compact one write differently:
 * id, round, height, parent QC, author, then the payload (count-prefixed entries), then the
 * executed state.
 */
function writeBlockWith<P>(w: Writer, b: Omit<Block, 'payload'> & { readonly payload: readonly P[] }, writeEntry: (entry: P) => void): void {
  w.fixed(b.id, ID_BYTES, 'block.id');
  w.u64(b.round, 'block.round');
  w.u64(b.height, 'block.height');
  writeQc(w, b.parentQc);
  w.u32(b.author, 'block.author');
  w.count(b.payload.length, MAX_PAYLOAD_COMMANDS, 'block.payload');
  for (const entry of b.payload) writeEntry(entry);
  writeExecuted(w, b.executed);
}

function readBlockWith<P>(r: Reader, minEntryBytes: number, readEntry: () => P): Omit<Block, 'payload'> & { payload: P[] } {
  const id = r.fixed(ID_BYTES, 'block.id');
  const round = r.u64('block.round');
  const height = r.u64('block.height');
  const parentQc = readQc(r);
  const author = r.u32('block.author');
  const n = r.count(MAX_PAYLOAD_COMMANDS, minEntryBytes, 'block.payload');
  const payload: P[] = [];
  for (let i = 0; i < n; i++) payload.push(readEntry());
  const executed = readExecuted(r);
  return { id, round, height, parentQc, author, payload, executed };
}

function writeBlock(w: Writer, b: Block): void {
  writeBlockWith(w, b, (c) => w.bytes(c, MAX_COMMAND_BYTES, 'block.command'));
}

/**
 * What a decoded payload entry counts against a message's budget at least (readBlock): every
 * entry is an object on the heap whatever its length, and a request is never shorter than this.
 */
export const MIN_ENTRY_CHARGE = 64;

/** Bytes of payload entries a message of many blocks may still decode, each charged at least MIN_ENTRY_CHARGE. */
interface EntryBudget {
  left: number;
}

/**
 * A block; with `budget`, each payload entry is charged max(its length and prefix,
 * MIN_ENTRY_CHARGE) against it. Honest entries are requests, never shorter than the charge, so
 * an answer that fits on the wire fits its budget; a sync answer of empty commands (4 bytes
 * each on the wire) would otherwise decode into some 8 million arrays.
 */
function readBlock(r: Reader, budget?: EntryBudget): Block {
  return readBlockWith(r, 4, () => {
    const entry = r.bytes(MAX_COMMAND_BYTES, 'block.command');
    if (budget !== undefined) {
      budget.left -= Math.max(4 + entry.length, MIN_ENTRY_CHARGE);
      if (budget.left < 0) throw new WireDecodeError(`payload entries past the message's budget (each counts at least ${MIN_ENTRY_CHARGE} bytes)`);
    }
    return entry;
  });
}

// A payload reference: u8 tag (0 = a 32-byte id, 1 = length-prefixed request bytes).
const PAYLOAD_REF_MIN_BYTES = 1 + 4;

function writeCompactBlock(w: Writer, b: CompactBlock): void {
  writeBlockWith(w, b, (ref) => {
    if ('id' in ref) {
      w.u8(0);
      w.fixed(ref.id, ID_BYTES, 'block.payload.id');
    } else {
      w.u8(1);
      w.bytes(ref.bytes, MAX_COMMAND_BYTES, 'block.command');
    }
  });
}

function readCompactBlock(r: Reader): CompactBlock {
  return readBlockWith(r, PAYLOAD_REF_MIN_BYTES, (): PayloadRef => {
    const tag = r.u8('block.payload tag');
    if (tag === 0) return { id: r.fixed(ID_BYTES, 'block.payload.id') };
    if (tag === 1) return { bytes: r.bytes(MAX_COMMAND_BYTES, 'block.command') };
    throw new WireDecodeError(`block.payload tag must be 0 or 1, not ${tag}`);
  });
}

function writeTc(w: Writer, tc: TimeoutCert): void {
  w.u64(tc.round, 'tc.round');
  w.bytes(tc.signers, MAX_BITMAP_BYTES, 'tc.signers');
  w.count(tc.highQcRounds.length, MAX_VALIDATORS, 'tc.highQcRounds');
  for (const h of tc.highQcRounds) w.u64(h, 'tc.highQcRound');
  writeQc(w, tc.highestQc);
  w.bytes(tc.certificate, MAX_CERT_BYTES, 'tc.certificate');
}

function readTc(r: Reader): TimeoutCert {
  const round = r.u64('tc.round');
  const signers = r.bytes(MAX_BITMAP_BYTES, 'tc.signers');
  const n = r.count(MAX_VALIDATORS, 8, 'tc.highQcRounds');
  const highQcRounds: number[] = [];
  for (let i = 0; i < n; i++) highQcRounds.push(r.u64('tc.highQcRound'));
  const highestQc = readQc(r);
  const certificate = r.bytes(MAX_CERT_BYTES, 'tc.certificate');
  return { round, signers, highQcRounds, highestQc, certificate };
}

function writeOptionalTc(w: Writer, tc: TimeoutCert | undefined): void {
  w.u8(tc === undefined ? 0 : 1);
  if (tc !== undefined) writeTc(w, tc);
}

function readOptionalTc(r: Reader): TimeoutCert | undefined {
  return r.flag('tc present') ? readTc(r) : undefined;
}

function writeSignedVote(w: Writer, v: SignedVote): void {
  writeVoteData(w, v.vote);
  w.u32(v.signer, 'vote.signer');
  w.bytes(v.signature, MAX_SIGNATURE_BYTES, 'vote.signature');
}

function readSignedVote(r: Reader): SignedVote {
  const vote = readVoteData(r);
  const signer = r.u32('vote.signer');
  const signature = r.bytes(MAX_SIGNATURE_BYTES, 'vote.signature');
  return { vote, signer, signature };
}

function writeSignedTimeout(w: Writer, t: SignedTimeout): void {
  w.u64(t.round, 'timeout.round');
  w.u64(t.highQcRound, 'timeout.highQcRound');
  w.u32(t.signer, 'timeout.signer');
  w.bytes(t.signature, MAX_SIGNATURE_BYTES, 'timeout.signature');
}

function readSignedTimeout(r: Reader): SignedTimeout {
  const round = r.u64('timeout.round');
  const highQcRound = r.u64('timeout.highQcRound');
  const signer = r.u32('timeout.signer');
  const signature = r.bytes(MAX_SIGNATURE_BYTES, 'timeout.signature');
  return { round, highQcRound, signer, signature };
}

// ---------------------------------------------------------------- envelope

function limitFor(kind: WireKind): number {
  return kind === 'sync-response' || kind === 'snapshot-chunk' ? MAX_SYNC_RESPONSE_BYTES : MAX_MESSAGE_BYTES;
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  if (env.version !== WIRE_VERSION) throw new WireEncodeError(`unsupported version ${env.version}`);
  const code = KIND_CODES[env.kind];
  if (code === undefined) throw new WireEncodeError(`unknown kind ${String(env.kind)}`);
  if (env.body.length + 2 > limitFor(env.kind)) throw new WireEncodeError(`message exceeds ${limitFor(env.kind)} bytes`);
  const out = new Uint8Array(2 + env.body.length);
  out[0] = env.version;
  out[1] = code;
  out.set(env.body, 2);
  return out;
}

/** Splits off the header; `body` is a view into `bytes` (no copy). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (!(bytes instanceof Uint8Array)) throw new WireDecodeError('not a byte array');
  if (bytes.length < 2) throw new WireDecodeError('truncated envelope');
  const version = bytes[0]!;
  if (version !== WIRE_VERSION) throw new WireDecodeError(`unsupported version ${version}`);
  const kind = CODE_KINDS.get(bytes[1]!);
  if (kind === undefined) throw new WireDecodeError(`unknown kind ${bytes[1]}`);
  if (bytes.length > limitFor(kind)) throw new WireDecodeError(`message exceeds ${limitFor(kind)} bytes`);
  return { version, kind, body: bytes.subarray(2) };
}

/** Encodes a message into its one canonical envelope. Throws WireEncodeError on values off the wire's range. */
export function encodeMessage(msg: WireMessage): Uint8Array {
  const w = new Writer(limitFor(msg.type));
  w.u8(WIRE_VERSION);
  w.u8(KIND_CODES[msg.type]);
  switch (msg.type) {
    case 'proposal':
      writeBlock(w, msg.block);
      writeOptionalTc(w, msg.tc);
      break;
    case 'vote':
      writeSignedVote(w, msg.vote);
      break;
    case 'timeout':
      writeSignedTimeout(w, msg.timeout);
      writeQc(w, msg.highQc);
      writeOptionalTc(w, msg.tc);
      break;
    case 'sync-request':
      w.u64(msg.fromHeight, 'fromHeight');
      break;
    case 'sync-response':
      w.count(msg.blocks.length, MAX_SYNC_BLOCKS, 'sync.blocks');
      for (const b of msg.blocks) writeBlock(w, b);
      writeQc(w, msg.highQc);
      break;
    case 'sync-pruned':
      w.u64(msg.lowestHeight, 'lowestHeight');
      break;
    case 'snapshot-request':
      w.u64(msg.height, 'snapshot.height');
      w.u64(msg.offset, 'snapshot.offset');
      break;
    case 'snapshot-chunk':
      w.u64(msg.height, 'snapshot.height');
      w.u64(msg.total, 'snapshot.total');
      w.u64(msg.offset, 'snapshot.offset');
      w.bytes(msg.data, MAX_SNAPSHOT_CHUNK_BYTES, 'snapshot.data');
      w.u8(msg.proof === undefined ? 0 : 1);
      if (msg.proof !== undefined) {
        w.count(msg.proof.blocks.length, MAX_SNAPSHOT_PROOF_BLOCKS, 'snapshot.proof.blocks');
        for (const b of msg.proof.blocks) writeBlock(w, b);
        writeQc(w, msg.proof.qc);
      }
      break;
    case 'snapshot-none':
      break;
    case 'compact-proposal':
      writeCompactBlock(w, msg.block);
      writeOptionalTc(w, msg.tc);
      break;
    case 'request-fetch':
      w.fixed(msg.blockId, ID_BYTES, 'fetch.blockId');
      w.count(msg.ids.length, MAX_PAYLOAD_COMMANDS, 'fetch.ids');
      for (const id of msg.ids) w.fixed(id, ID_BYTES, 'fetch.id');
      break;
    case 'request-fetch-reply':
      w.count(msg.requests.length, MAX_PAYLOAD_COMMANDS, 'fetch.requests');
      for (const req of msg.requests) w.bytes(req, MAX_COMMAND_BYTES, 'fetch.request');
      break;
    default:
      throw new WireEncodeError(`unknown message type ${String((msg as { type: unknown }).type)}`);
  }
  return w.finish();
}

/**
 * Decodes peer bytes. Any failure is a WireDecodeError; anything that decodes re-encodes to
 * exactly `bytes`. Decoded byte fields are copies, never views into `bytes`.
 */
export function decodeMessage(bytes: Uint8Array): WireMessage {
  const env = decodeEnvelope(bytes);
  const r = new Reader(env.body);
  let msg: WireMessage;
  switch (env.kind) {
    case 'proposal': {
      const block = readBlock(r);
      const tc = readOptionalTc(r);
      msg = tc === undefined ? { type: 'proposal', block } : { type: 'proposal', block, tc };
      break;
    }
    case 'vote':
      msg = { type: 'vote', vote: readSignedVote(r) };
      break;
    case 'timeout': {
      const timeout = readSignedTimeout(r);
      const highQc = readQc(r);
      const tc = readOptionalTc(r);
      msg = tc === undefined ? { type: 'timeout', timeout, highQc } : { type: 'timeout', timeout, highQc, tc };
      break;
    }
    case 'sync-request':
      msg = { type: 'sync-request', fromHeight: r.u64('fromHeight') };
      break;
    case 'sync-response': {
      const n = r.count(MAX_SYNC_BLOCKS, BLOCK_MIN_BYTES, 'sync.blocks');
      const blocks: Block[] = [];
      const budget = { left: MAX_SYNC_RESPONSE_BYTES };
      for (let i = 0; i < n; i++) blocks.push(readBlock(r, budget));
      msg = { type: 'sync-response', blocks, highQc: readQc(r) };
      break;
    }
    case 'sync-pruned':
      msg = { type: 'sync-pruned', lowestHeight: r.u64('lowestHeight') };
      break;
    case 'snapshot-request':
      msg = { type: 'snapshot-request', height: r.u64('snapshot.height'), offset: r.u64('snapshot.offset') };
      break;
    case 'snapshot-chunk': {
      const height = r.u64('snapshot.height');
      const total = r.u64('snapshot.total');
      const offset = r.u64('snapshot.offset');
      const data = r.bytes(MAX_SNAPSHOT_CHUNK_BYTES, 'snapshot.data');
      let proof: SnapshotProof | undefined;
      if (r.flag('snapshot.proof present')) {
        const n = r.count(MAX_SNAPSHOT_PROOF_BLOCKS, BLOCK_MIN_BYTES, 'snapshot.proof.blocks');
        const budget = { left: MAX_SYNC_RESPONSE_BYTES };
        const blocks: Block[] = [];
        for (let i = 0; i < n; i++) blocks.push(readBlock(r, budget));
        proof = { blocks, qc: readQc(r) };
      }
      msg = proof === undefined ? { type: 'snapshot-chunk', height, total, offset, data } : { type: 'snapshot-chunk', height, total, offset, data, proof };
      break;
    }
    case 'snapshot-none':
      msg = { type: 'snapshot-none' };
      break;
    case 'compact-proposal': {
      const block = readCompactBlock(r);
      const tc = readOptionalTc(r);
      msg = tc === undefined ? { type: 'compact-proposal', block } : { type: 'compact-proposal', block, tc };
      break;
    }
    case 'request-fetch': {
      const blockId = r.fixed(ID_BYTES, 'fetch.blockId');
      const n = r.count(MAX_PAYLOAD_COMMANDS, ID_BYTES, 'fetch.ids');
      const ids: Uint8Array[] = [];
      for (let i = 0; i < n; i++) ids.push(r.fixed(ID_BYTES, 'fetch.id'));
      msg = { type: 'request-fetch', blockId, ids };
      break;
    }
    case 'request-fetch-reply': {
      const n = r.count(MAX_PAYLOAD_COMMANDS, 4, 'fetch.requests');
      const requests: Uint8Array[] = [];
      for (let i = 0; i < n; i++) requests.push(r.bytes(MAX_COMMAND_BYTES, 'fetch.request'));
      msg = { type: 'request-fetch-reply', requests };
      break;
    }
  }
  r.end();
  return msg;
}
