/**
 * Canonical binary encodings of what the node keeps on disk, and the envelope that guards each
 * stored value. This is storage-local on purpose: the network wire codec may evolve (or add
 * fields) without silently changing how existing data directories are read.
 *
 * Every stored value is sealed:
 *
 *   u8 format version || u8 kind || body || checksum (8 bytes)
 *   checksum = SHA-256(u8 len(table) || table || u32 len(key) || key || version || kind || body)[0..8]
 *
 * The checksum covers the table and key as well as the value, so a value that is intact but sits
 * under the wrong key (a misdirected write, a bad copy of a data dir) is refused too. Any failure
 * to open a value, checksum or decode, is a StorageCorruptionError naming the table and key: the
 * node must stop rather than act on (or serve) bad state.
 *
 * Integers are big-endian. Bodies:
 *   VoteData      id[32] || u64 round || u64 height || parent id[32] || u64 parent round (types.ts)
 *   QuorumCert    VoteData || u32 len || certificate
 *   SignedVote    VoteData || u32 signer || u32 len || signature
 *   SafetyState   u64 lastVotedRound || u64 oneChainRound || u64 preferredRound
 *                 || u64 highestTimeoutRound || u8 hasVote (0|1) || [SignedVote]
 *                 || [u64 lastProposedRound] (absent in states written before it existed: 0)
 *   ExecutedState u64 height || block id[32] || state root[32] || log root[32] (types.ts)
 *   Block         id[32] || u64 round || u64 height || u32 author || QuorumCert || ExecutedState
 *                 || u32 n || n × (u32 len || command)
 *   TipRecord     QuorumCert || u8 hasTc (0|1) || [TC] || u32 n || n × block id[32]; the blocks
 *                 themselves are Block values beside it, keyed by id (lmdb-store.ts)
 *   CertifiedTip  QuorumCert || u8 hasTc (0|1) || [TC] || u32 n || n × (u32 len || Block): the
 *                 layout before TipRecord, still read
 */
import { ByteReader, ByteWriter } from '../../protocol/bytes-io.js';
import { sha256 } from '../../crypto/hash.js';
import { type CertifiedTip, MAX_TIP_BLOCKS } from '../consensus/messages.js';
import type { SafetyState } from '../consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert, SignedVote, TimeoutCert, VoteData } from '../../protocol/types.js';
import { encodeExecutedState, encodeVoteData } from '../../protocol/types.js';

/**
 * 3: the state tree's internal nodes are untagged SHA-256(left || right) and the state root's
 * count is a u128 (protocol/state-proof.ts, tag vsmr/state/v2). The records are laid out as in 1,
 * but the state roots a directory of format 1 (the v1 tree) or 2 (one intermediate build, whose
 * roots had a u64 count) certified are not what this build computes: it refuses such a directory
 * rather than halt later on a root mismatch.
 */
/**
 * 4 since 2026-11-27: application snapshots of format 2 (request ids in the log) and the certified
 * tip. The tip record has two kinds within it: `certifiedTip` (its blocks inline, written by the
 * first builds of format 4, still read) and `tipRecord` (its blocks by id, written since).
 */
export const STORAGE_FORMAT_VERSION = 4;
export const CHECKSUM_LENGTH = 8;
const HEADER_LENGTH = 2;

/** What a sealed value holds; checked on open so one kind is never decoded as another. */
export const ValueKind = Object.freeze({
  meta: 1,
  safetyState: 2,
  block: 3,
  executedState: 4,
  quorumCert: 5,
  snapshot: 6,
  ledger: 7,
  /** A certified tip with its blocks inline: read, no longer written (see tipRecord). */
  certifiedTip: 8,
  /** A certified tip naming its blocks by id, each block a `block` value beside it. */
  tipRecord: 9,
});
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];

/** Sanity bounds: stored data is our own, but a corrupted length must not allocate gigabytes. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;
export const MAX_SIGNATURE_BYTES = 1024;
export const MAX_PAYLOAD_COMMANDS = 1_000_000;

export class StorageError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A stored value that fails its checksum or does not decode: never returned as data. */
/**
 * What an operator can do about a StorageCorruptionError. Restoring an older copy is not it: the
 * key would forget rounds it signed in. A newer build's directory reads as corrupt to an older
 * build without being damaged.
 */
export const CORRUPT_STORE_REMEDY =
  'if a newer build wrote this directory, run that build on it; otherwise it is damaged: move it aside and start once on an empty one with vsmr start --fresh-safety-state (docs/DEPLOY.md section 6)';

export class StorageCorruptionError extends StorageError {
  constructor(
    readonly table: string,
    readonly key: string,
    readonly detail: string,
  ) {
    super(`storage corruption in table '${table}' at key '${key}': ${detail}`, 'STORAGE_CORRUPTION');
  }
}

/** Raised inside decoders; turned into StorageCorruptionError (with table and key) by openValue. */
class BodyDecodeError extends Error {}
const fail = (detail: string): Error => new BodyDecodeError(detail);

// ---- envelope --------------------------------------------------------------------------------

const utf8 = new TextEncoder();

function checksum(table: string, key: Uint8Array, header: Uint8Array, body: Uint8Array): Uint8Array {
  const t = utf8.encode(table);
  const w = new ByteWriter().u8(t.length).bytes(t).u32(key.length).bytes(key).bytes(header).bytes(body).finish();
  return sha256(w).subarray(0, CHECKSUM_LENGTH);
}

export function sealValue(table: string, key: Uint8Array, kind: ValueKind, body: Uint8Array): Uint8Array {
  const header = Uint8Array.of(STORAGE_FORMAT_VERSION, kind);
  const out = new Uint8Array(HEADER_LENGTH + body.length + CHECKSUM_LENGTH);
  out.set(header, 0);
  out.set(body, HEADER_LENGTH);
  out.set(checksum(table, key, header, body), HEADER_LENGTH + body.length);
  return out;
}

/** Verifies the envelope and returns the body (a view into `stored`). */
export function openValue(table: string, key: Uint8Array, keyLabel: string, kind: ValueKind, stored: Uint8Array): Uint8Array {
  const corrupt = (detail: string) => new StorageCorruptionError(table, keyLabel, detail);
  if (stored.length < HEADER_LENGTH + CHECKSUM_LENGTH) throw corrupt(`value of ${stored.length} bytes is shorter than its envelope`);
  const header = stored.subarray(0, HEADER_LENGTH);
  const body = stored.subarray(HEADER_LENGTH, stored.length - CHECKSUM_LENGTH);
  const sum = stored.subarray(stored.length - CHECKSUM_LENGTH);
  // Checksum first: a flipped version or kind byte is corruption, not an unknown format.
  if (Buffer.compare(checksum(table, key, header, body), sum) !== 0) throw corrupt('checksum mismatch');
  if (header[0] !== STORAGE_FORMAT_VERSION) throw corrupt(`unsupported value format version ${header[0]}`);
  if (header[1] !== kind) throw corrupt(`expected value kind ${kind}, found ${header[1]}`);
  return body;
}

/** Opens and decodes in one step, so every decode failure carries the table and key. */
export function openDecoded<T>(
  table: string,
  key: Uint8Array,
  keyLabel: string,
  kind: ValueKind,
  stored: Uint8Array,
  decode: (body: Uint8Array) => T,
): T {
  const body = openValue(table, key, keyLabel, kind, stored);
  try {
    return decode(body);
  } catch (err) {
    if (err instanceof BodyDecodeError) throw new StorageCorruptionError(table, keyLabel, err.message);
    throw err;
  }
}

// ---- bodies ----------------------------------------------------------------------------------

function writeVoteData(w: ByteWriter, v: VoteData): void {
  w.bytes(encodeVoteData(v));
}

function readVoteData(r: ByteReader): VoteData {
  const blockId = r.bytes(32, 'vote block id');
  const round = r.u53('vote round');
  const height = r.u53('vote height');
  const parentId = r.bytes(32, 'vote parent id');
  const parentRound = r.u53('vote parent round');
  return { blockId, round, height, parentId, parentRound };
}

function checkedLength(r: ByteReader, max: number, what: string): number {
  const n = r.u32(`${what} length`);
  if (n > max) throw fail(`${what} length ${n} exceeds ${max}`);
  return n;
}

function writeQc(w: ByteWriter, qc: QuorumCert): void {
  writeVoteData(w, qc.vote);
  w.u32(qc.certificate.length).bytes(qc.certificate);
}

function readQc(r: ByteReader): QuorumCert {
  const vote = readVoteData(r);
  const certificate = r.bytes(checkedLength(r, MAX_CERTIFICATE_BYTES, 'certificate'), 'certificate');
  return { vote, certificate };
}

function writeSignedVote(w: ByteWriter, v: SignedVote): void {
  writeVoteData(w, v.vote);
  w.u32(v.signer).u32(v.signature.length).bytes(v.signature);
}

function readSignedVote(r: ByteReader): SignedVote {
  const vote = readVoteData(r);
  const signer = r.u32('signer');
  const signature = r.bytes(checkedLength(r, MAX_SIGNATURE_BYTES, 'signature'), 'signature');
  return { vote, signer, signature };
}

function readExecuted(r: ByteReader): ExecutedState {
  const height = r.u53('executed height');
  const blockId = r.bytes(32, 'executed block id');
  const stateRoot = r.bytes(32, 'state root');
  const logRoot = r.bytes(32, 'log root');
  return { height, blockId, stateRoot, logRoot };
}

function check32(b: Uint8Array, what: string): void {
  if (b.length !== 32) throw new RangeError(`${what} must be 32 bytes, got ${b.length}`);
}

export function encodeQuorumCert(qc: QuorumCert): Uint8Array {
  const w = new ByteWriter();
  writeQc(w, qc);
  return w.finish();
}

export function decodeQuorumCert(body: Uint8Array): QuorumCert {
  const r = new ByteReader(body, fail);
  const qc = readQc(r);
  r.end();
  return qc;
}

export function encodeSafetyState(s: SafetyState): Uint8Array {
  const w = new ByteWriter().u64(s.lastVotedRound).u64(s.oneChainRound).u64(s.preferredRound).u64(s.highestTimeoutRound);
  if (s.lastVote === null) w.u8(0);
  else {
    w.u8(1);
    writeSignedVote(w, s.lastVote);
  }
  return w.u64(s.lastProposedRound).finish();
}

export function decodeSafetyState(body: Uint8Array): SafetyState {
  const r = new ByteReader(body, fail);
  const lastVotedRound = r.u53('lastVotedRound');
  const oneChainRound = r.u53('oneChainRound');
  const preferredRound = r.u53('preferredRound');
  const highestTimeoutRound = r.u53('highestTimeoutRound');
  const flag = r.u8('lastVote flag');
  if (flag > 1) throw fail(`lastVote flag ${flag} is not 0 or 1`);
  const lastVote = flag === 1 ? readSignedVote(r) : null;
  // A trailing field, so that data directories written before it open unchanged.
  const lastProposedRound = r.remaining > 0 ? r.u53('lastProposedRound') : 0;
  r.end();
  return { lastVotedRound, oneChainRound, preferredRound, highestTimeoutRound, lastVote, lastProposedRound };
}

export function encodeExecutedStateRecord(e: ExecutedState): Uint8Array {
  check32(e.blockId, 'executed block id');
  check32(e.stateRoot, 'state root');
  check32(e.logRoot, 'log root');
  return encodeExecutedState(e);
}

export function decodeExecutedStateRecord(body: Uint8Array): ExecutedState {
  const r = new ByteReader(body, fail);
  const e = readExecuted(r);
  r.end();
  return e;
}

export function encodeBlock(b: Block): Uint8Array {
  check32(b.id, 'block id');
  const w = new ByteWriter().bytes(b.id).u64(b.round).u64(b.height).u32(b.author);
  writeQc(w, b.parentQc);
  w.bytes(encodeExecutedStateRecord(b.executed));
  w.u32(b.payload.length);
  for (const cmd of b.payload) w.u32(cmd.length).bytes(cmd);
  return w.finish();
}

export function decodeBlock(body: Uint8Array): Block {
  const r = new ByteReader(body, fail);
  const id = r.bytes(32, 'block id');
  const round = r.u53('round');
  const height = r.u53('height');
  const author = r.u32('author');
  const parentQc = readQc(r);
  const executed = readExecuted(r);
  const n = r.u32('payload count');
  // Each command costs at least its 4-byte length, so the count is bounded by what is present.
  if (n > MAX_PAYLOAD_COMMANDS || n * 4 > r.remaining) throw fail(`payload count ${n} exceeds the ${r.remaining} bytes left`);
  const payload: Uint8Array[] = [];
  for (let i = 0; i < n; i++) payload.push(r.bytes(r.u32(`command ${i} length`), `command ${i}`));
  r.end();
  return { id, round, height, parentQc, author, payload, executed };
}

/** Bounds for a stored tip: the uncommitted chain is a few blocks, a TC at most one bit per validator. */
const MAX_TIP_VALIDATORS = 4096;

function writeTc(w: ByteWriter, tc: TimeoutCert): void {
  w.u64(tc.round).u32(tc.signers.length).bytes(tc.signers).u32(tc.highQcRounds.length);
  for (const r of tc.highQcRounds) w.u64(r);
  writeQc(w, tc.highestQc);
  w.u32(tc.certificate.length).bytes(tc.certificate);
}

function readTc(r: ByteReader): TimeoutCert {
  const round = r.u53('tc round');
  const signers = r.bytes(checkedLength(r, MAX_TIP_VALIDATORS / 8, 'tc signers'), 'tc signers');
  const count = checkedLength(r, MAX_TIP_VALIDATORS, 'tc high QC rounds');
  const highQcRounds: number[] = [];
  for (let i = 0; i < count; i++) highQcRounds.push(r.u53(`tc high QC round ${i}`));
  const highestQc = readQc(r);
  const certificate = r.bytes(checkedLength(r, MAX_CERTIFICATE_BYTES, 'tc certificate'), 'tc certificate');
  return { round, signers, highQcRounds, highestQc, certificate };
}

/**
 * A certified tip as stored: its QC and TC, and the ids of its blocks in chain order (the blocks
 * are kept by id beside it, so that one that stays in the tip for several rounds is written once).
 */
export interface TipRecord {
  readonly highQc: QuorumCert;
  readonly highTc?: TimeoutCert;
  readonly blockIds: readonly Uint8Array[];
}

function checkTipBounds(blocks: number, tc: TimeoutCert | undefined): void {
  // What the decoders would refuse is never written: a record a restart cannot read back would
  // keep the node from starting.
  if (blocks > MAX_TIP_BLOCKS) throw new RangeError(`a certified tip holds at most ${MAX_TIP_BLOCKS} blocks, not ${blocks}`);
  if (tc !== undefined && (tc.signers.length > MAX_TIP_VALIDATORS / 8 || tc.highQcRounds.length > MAX_TIP_VALIDATORS)) {
    throw new RangeError(`a certified tip's TC covers at most ${MAX_TIP_VALIDATORS} validators`);
  }
}

function writeTipHead(w: ByteWriter, highQc: QuorumCert, highTc: TimeoutCert | undefined, blocks: number): void {
  writeQc(w, highQc);
  if (highTc === undefined) w.u8(0);
  else {
    w.u8(1);
    writeTc(w, highTc);
  }
  w.u32(blocks);
}

function readTipHead(r: ByteReader): { readonly highQc: QuorumCert; readonly highTc?: TimeoutCert; readonly blocks: number } {
  const highQc = readQc(r);
  const flag = r.u8('tc flag');
  if (flag > 1) throw fail(`tc flag ${flag} is not 0 or 1`);
  const highTc = flag === 1 ? readTc(r) : undefined;
  const blocks = checkedLength(r, MAX_TIP_BLOCKS, 'tip blocks');
  return highTc === undefined ? { highQc, blocks } : { highQc, highTc, blocks };
}

export function encodeTipRecord(tip: TipRecord): Uint8Array {
  checkTipBounds(tip.blockIds.length, tip.highTc);
  const w = new ByteWriter();
  writeTipHead(w, tip.highQc, tip.highTc, tip.blockIds.length);
  for (const id of tip.blockIds) {
    check32(id, 'tip block id');
    w.bytes(id);
  }
  return w.finish();
}

export function decodeTipRecord(body: Uint8Array): TipRecord {
  const r = new ByteReader(body, fail);
  const { highQc, highTc, blocks } = readTipHead(r);
  const blockIds: Uint8Array[] = [];
  for (let i = 0; i < blocks; i++) blockIds.push(r.bytes(32, `tip block id ${i}`));
  r.end();
  return highTc === undefined ? { highQc, blockIds } : { highQc, highTc, blockIds };
}

/** The CertifiedTip layout (blocks inline) that the first builds of format 4 wrote; kept so tests can write one. */
export function encodeInlineTip(tip: CertifiedTip): Uint8Array {
  checkTipBounds(tip.blocks.length, tip.highTc);
  const w = new ByteWriter();
  writeTipHead(w, tip.highQc, tip.highTc, tip.blocks.length);
  for (const b of tip.blocks) {
    const body = encodeBlock(b);
    w.u32(body.length).bytes(body);
  }
  return w.finish();
}

export function decodeInlineTip(body: Uint8Array): CertifiedTip {
  const r = new ByteReader(body, fail);
  const { highQc, highTc, blocks: count } = readTipHead(r);
  const blocks: Block[] = [];
  for (let i = 0; i < count; i++) blocks.push(decodeBlock(r.bytes(r.u32(`tip block ${i} length`), `tip block ${i}`)));
  r.end();
  return highTc === undefined ? { blocks, highQc } : { blocks, highQc, highTc };
}

/** Identity of a data directory: which chain it belongs to. */
export interface StoreMeta {
  readonly chainId: string;
}

export function encodeStoreMeta(m: StoreMeta): Uint8Array {
  const id = utf8.encode(m.chainId);
  if (id.length === 0 || id.length > 255) throw new RangeError(`chain id must be 1..255 UTF-8 bytes, got ${id.length}`);
  return new ByteWriter().u8(id.length).bytes(id).finish();
}

export function decodeStoreMeta(body: Uint8Array): StoreMeta {
  const r = new ByteReader(body, fail);
  const id = r.bytes(r.u8('chain id length'), 'chain id');
  r.end();
  let chainId: string;
  try {
    chainId = new TextDecoder('utf-8', { fatal: true }).decode(id);
  } catch {
    throw fail('chain id is not valid UTF-8');
  }
  return { chainId };
}

/** Snapshots are opaque app bytes (node/app/snapshot.ts); the envelope alone guards them. */
export function decodeOpaque(body: Uint8Array): Uint8Array {
  return body.slice();
}

/** u64 big-endian height keys: byte order equals numeric order, so ranges scan in height order. */
export function heightKey(height: number): Uint8Array {
  if (!Number.isSafeInteger(height) || height < 0) throw new RangeError(`height ${height} is not a non-negative safe integer`);
  return new ByteWriter().u64(height).finish();
}

export function heightFromKey(key: Uint8Array): number {
  const r = new ByteReader(key, fail);
  const h = r.u53('height key');
  r.end();
  return h;
}

/** Where the committed ledger stands: the top height and the lowest height still holding a block. */
export interface LedgerMeta {
  readonly committedHeight: number;
  /** committedHeight + 1 when no block is held (fresh store, or just after a snapshot install). */
  readonly lowestBlockHeight: number;
}

export function encodeLedgerMeta(m: LedgerMeta): Uint8Array {
  return new ByteWriter().u64(m.committedHeight).u64(m.lowestBlockHeight).finish();
}

export function decodeLedgerMeta(body: Uint8Array): LedgerMeta {
  const r = new ByteReader(body, fail);
  const committedHeight = r.u53('committed height');
  const lowestBlockHeight = r.u53('lowest block height');
  r.end();
  if (lowestBlockHeight < 1 || lowestBlockHeight > committedHeight + 1) {
    throw fail(`lowest block height ${lowestBlockHeight} outside 1..${committedHeight + 1}`);
  }
  return { committedHeight, lowestBlockHeight };
}

/**
 * The format version of a sealed value whose checksum holds, whatever that version is: lets the
 * store tell "written by another format" (StorageFormatError) from "damaged" (corruption).
 */
export function sealedFormatVersion(table: string, key: Uint8Array, keyLabel: string, stored: Uint8Array): number {
  if (stored.length < HEADER_LENGTH + CHECKSUM_LENGTH) {
    throw new StorageCorruptionError(table, keyLabel, `value of ${stored.length} bytes is shorter than its envelope`);
  }
  const header = stored.subarray(0, HEADER_LENGTH);
  const body = stored.subarray(HEADER_LENGTH, stored.length - CHECKSUM_LENGTH);
  if (Buffer.compare(checksum(table, key, header, body), stored.subarray(stored.length - CHECKSUM_LENGTH)) !== 0) {
    throw new StorageCorruptionError(table, keyLabel, 'checksum mismatch');
  }
  return header[0]!;
}
