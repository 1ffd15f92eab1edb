/**
 * State sync by snapshot: what a replica does when its peers no longer hold the blocks it needs
 * (they pruned them below their snapshots), and what a peer sends it.
 *
 * What certifies a snapshot. A block header carries the executed state (height, block id, state
 * root, log root) of an EARLIER committed block, and honest voters vote only for a header that
 * matches their own execution. So a QC on a block B whose header says "executed state at T is
 * (id, stateRoot, logRoot)" proves, under the genesis validator set, that at least one honest
 * validator committed block T and reached exactly those roots. Heights skipped by headers exist
 * (several blocks commit at once after a view change), so a snapshot at S is proved by:
 *
 *   the blocks S+1 .. H, linked by their parent QCs and ids (block ids hash their contents,
 *   parent vote included), the last one (B, at H) carrying executed state T with S <= T < H,
 *   and a QC on B.
 *
 * The receiver verifies every QC, rebuilds the application from the snapshot (height S, and S
 * must be the height the first block's parent QC names), applies blocks S+1..T, and compares
 * both roots and the block id with B's header. If they match, the state at T is certified; the
 * block T+1 (in the proof, since T < H) carries the QC certifying block T, which gives the
 * round the consensus core needs for its new root. Nothing is taken on the peer's word.
 */
import { bytesEqual } from '../../crypto/bytes.js';
import { MAX_SNAPSHOT_BYTES, MAX_SNAPSHOT_CHUNK_BYTES, MAX_SNAPSHOT_PROOF_BLOCKS, type SnapshotProof } from '../../network/codec.js';
import { blockId } from '../../protocol/block.js';
import type { Block, ExecutedState, QuorumCert } from '../../protocol/types.js';
import { applicationInputs } from '../app/block-inputs.js';
import { KvApplication, type KvApplicationOptions } from '../app/kv-app.js';
import { checkStateEntries, readSnapshotHeader, SNAPSHOT_HEADER_MAX_BYTES, SnapshotDecodeError, type SnapshotLimits, snapshotLimits, SnapshotTooLargeError } from '../app/snapshot.js';
import type { CertificateOps } from '../consensus/certs.js';
import type { LedgerStore, SnapshotChunkAnswer } from './ports.js';

export type SnapshotSyncFailure =
  /** The peer sent chunks that do not fit together (sizes, offsets, heights). */
  | 'bad-chunk'
  /** The assembled bytes are not a valid application snapshot. */
  | 'bad-snapshot'
  /** The proof's blocks do not chain, or do not reach a header covering the snapshot. */
  | 'bad-proof'
  /** A QC in the proof does not verify under the genesis validator set. */
  | 'bad-qc'
  /** The rebuilt state or log root differs from the certified header. */
  | 'root-mismatch'
  /** The peer has no snapshot for us, or one no newer than what we hold (not a lie). */
  | 'unavailable'
  /** The transfer outlasted its allowance (snapshotTransferAllowanceMs): slow, not proven lying. */
  | 'too-slow'
  /** More than this node can hold (snapshotLimits): an honest snapshot may be, too. */
  | 'too-large';

/** A snapshot from a peer that must not be used; `peerFault` says whether the peer lied. */
export class SnapshotSyncError extends Error {
  readonly peerFault: boolean;
  constructor(
    readonly reason: SnapshotSyncFailure,
    detail: string,
  ) {
    super(`snapshot sync: ${reason}: ${detail}`);
    this.name = 'SnapshotSyncError';
    this.peerFault = reason !== 'unavailable' && reason !== 'too-slow' && reason !== 'too-large';
  }
}

/** A snapshot whose state is certified, ready to install. */
export interface VerifiedSnapshot {
  /** The application at `executed.height` (the snapshot with blocks S+1..T applied). */
  readonly app: KvApplication;
  /** The certified executed state at T. */
  readonly executed: ExecutedState;
  /** Round of block T: the consensus core's new root is (executed.blockId, round, T). */
  readonly round: number;
  /** The verified QC certifying block T (parent QC of block T+1). */
  readonly rootQc: QuorumCert;
  /** Canonical snapshot bytes at T, to store. */
  readonly bytes: Uint8Array;
}

/**
 * Checks `proof` alone for a snapshot at `height`: its blocks chain from `height` through valid
 * QCs and the last, certified by the proof's QC, carries an executed state T with
 * height <= T < the last block's height. Returns T. Throws SnapshotSyncError. Needs no snapshot
 * bytes, so a download checks it on the first chunk, before fetching the rest: a peer cannot
 * make this node take gigabytes on the strength of a proof that was never valid.
 */
export function verifySnapshotProof(chainId: string, height: number, proof: SnapshotProof, certs: CertificateOps): number {
  const { blocks, qc } = proof;
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > MAX_SNAPSHOT_PROOF_BLOCKS) {
    throw new SnapshotSyncError('bad-proof', `proof carries ${Array.isArray(blocks) ? blocks.length : 'no'} blocks`);
  }
  let prev: Block | undefined;
  for (const b of blocks) {
    const expected = prev === undefined ? height + 1 : prev.height + 1;
    if (b.height !== expected || b.parentQc.vote.height !== expected - 1) throw new SnapshotSyncError('bad-proof', `block at height ${b.height}, expected ${expected}`);
    if (prev !== undefined && (!bytesEqual(b.parentQc.vote.blockId, prev.id) || b.parentQc.vote.round !== prev.round)) {
      throw new SnapshotSyncError('bad-proof', `block ${b.height} does not extend block ${prev.height}`);
    }
    if (!bytesEqual(b.id, blockId(chainId, b))) throw new SnapshotSyncError('bad-proof', `block ${b.height} id does not match its contents`);
    if (!certs.verifyQc(b.parentQc)) throw new SnapshotSyncError('bad-qc', `parent QC of block ${b.height}`);
    prev = b;
  }
  const last = blocks[blocks.length - 1]!;
  if (!bytesEqual(qc.vote.blockId, last.id) || qc.vote.height !== last.height || qc.vote.round !== last.round) {
    throw new SnapshotSyncError('bad-proof', `the QC does not certify block ${last.height}`);
  }
  if (!certs.verifyQc(qc)) throw new SnapshotSyncError('bad-qc', `QC on block ${last.height}`);
  const t = last.executed.height;
  if (!Number.isSafeInteger(t) || t < height || t >= last.height) {
    throw new SnapshotSyncError('bad-proof', `the certified header executed height ${t} is outside ${height}..${last.height - 1}`);
  }
  return t;
}

/**
 * Checks `bytes` (a snapshot a peer says is at `height`) against `proof` and returns the
 * certified application state. Throws SnapshotSyncError naming what was wrong; 'too-large'
 * for a snapshot that needs more than `limits` (before building its state, or its log).
 */
export function verifySnapshot(
  chainId: string,
  height: number,
  bytes: Uint8Array,
  proof: SnapshotProof,
  certs: CertificateOps,
  appOptions: KvApplicationOptions,
  limits: SnapshotLimits = snapshotLimits(),
): VerifiedSnapshot {
  const t = verifySnapshotProof(chainId, height, proof, certs);
  const { blocks } = proof;
  const certified = blocks[blocks.length - 1]!.executed;

  let app: KvApplication;
  try {
    app = KvApplication.fromSnapshot(bytes, appOptions, limits);
  } catch (err) {
    if (err instanceof SnapshotTooLargeError) throw new SnapshotSyncError('too-large', err.message);
    // An allocation that failed all the same (the estimates are estimates): too large for
    // this node, not a fault of ours that should halt it.
    if (err instanceof RangeError) throw new SnapshotSyncError('too-large', `building the snapshot: ${err.message}`);
    if (err instanceof SnapshotDecodeError) throw new SnapshotSyncError('bad-snapshot', err.message);
    throw err;
  }
  if (app.height !== height) throw new SnapshotSyncError('bad-snapshot', `snapshot says height ${app.height}, offered as ${height}`);
  for (const b of blocks) {
    if (b.height > t) break;
    const { commands, origins } = applicationInputs(b.payload);
    app.applyBlock(commands, origins);
  }
  // Block T's id: the parent vote of block T+1, which the proof holds because T < H.
  const child = blocks[t - height]!;
  const rootQc = child.parentQc;
  if (!bytesEqual(certified.blockId, rootQc.vote.blockId)) throw new SnapshotSyncError('bad-proof', `the header's executed block is not block ${t} of the chain`);
  if (!bytesEqual(app.stateRoot(), certified.stateRoot) || !bytesEqual(app.logRoot(), certified.logRoot)) {
    throw new SnapshotSyncError('root-mismatch', `state at height ${t} differs from the certified header`);
  }
  return { app, executed: certified, round: rootQc.vote.round, rootQc, bytes: t === height ? bytes : app.snapshot() };
}

/**
 * The proof for a snapshot at `height` from what this node holds: its committed blocks above
 * the snapshot, then `tip` (certified but uncommitted blocks, then the highest QC). Undefined
 * when no certified header covers the snapshot yet (it was taken moments ago) or the proof would
 * exceed MAX_SNAPSHOT_PROOF_BLOCKS.
 */
export function snapshotProof(store: Pick<LedgerStore, 'committedHeight' | 'block'>, height: number, tip: { blocks: readonly Block[]; highQc: QuorumCert }): SnapshotProof | undefined {
  const top = store.committedHeight();
  const blocks: Block[] = [];
  const next = (h: number): Block | undefined => (h <= top ? store.block(h) : tip.blocks.find((b) => b.height === h));
  for (let h = height + 1; blocks.length < MAX_SNAPSHOT_PROOF_BLOCKS; h++) {
    const b = next(h);
    if (!b) return undefined;
    blocks.push(b);
    if (b.executed.height >= height) {
      const child = next(h + 1);
      if (child && bytesEqual(child.parentQc.vote.blockId, b.id)) return { blocks, qc: child.parentQc };
      if (bytesEqual(tip.highQc.vote.blockId, b.id)) return { blocks, qc: tip.highQc };
      return undefined;
    }
  }
  return undefined;
}

/**
 * Snapshots a validator holds until a certified header covers them: headers lag commits by a few
 * heights, so with an interval shorter than that several wait at once; past this many the older
 * are kept (they are proven first) and newer interval heights skipped.
 */
export const MAX_PENDING_SNAPSHOTS = 2;

/**
 * The newest of `pending` (ascending heights) that a certified header now covers, with its
 * proof: the one to save and prune below (it and the older ones leave the list). A snapshot is
 * saved, and blocks pruned below it, only once provable: until then the previous one, with
 * every block above it, stays what a validator serves, or a validator far behind could find
 * the blocks it needs pruned at f + 1 peers and no snapshot any of them can prove.
 */
export function newestProvenSnapshot<S extends { readonly height: number }>(
  pending: readonly S[],
  store: Pick<LedgerStore, 'committedHeight' | 'block'>,
  tip: { blocks: readonly Block[]; highQc: QuorumCert },
): { readonly index: number; readonly snapshot: S; readonly proof: SnapshotProof } | undefined {
  for (let k = pending.length - 1; k >= 0; k--) {
    const proof = snapshotProof(store, pending[k]!.height, tip);
    if (proof !== undefined) return { index: k, snapshot: pending[k]!, proof };
  }
  return undefined;
}

/** A whole transfer's time allowance: a floor, plus time per MiB at a slow but honest rate (512 KiB/s). */
export function snapshotTransferAllowanceMs(total: number): number {
  return 30_000 + Math.ceil(total / MAX_SNAPSHOT_CHUNK_BYTES) * 2_000;
}

export interface DownloadOptions {
  /** Checks the first chunk's proof before the rest is fetched (verifySnapshotProof); throws SnapshotSyncError. */
  readonly checkProof?: (height: number, proof: SnapshotProof) => void;
  /** Clock in ms for the transfer's allowance (snapshotTransferAllowanceMs); performance.now by default. */
  readonly now?: () => number;
  /** What the snapshot may take here (default snapshotLimits()): one that needs more is refused at its first chunk. */
  readonly limits?: SnapshotLimits;
}

/**
 * Downloads a whole snapshot from one peer: the first chunk names its height, size and proof;
 * every later chunk must continue it exactly, and the whole transfer must fit its allowance (a
 * peer answering each chunk just before the request's timeout would otherwise hold the one
 * snapshot sync a node runs for hours). Throws SnapshotSyncError.
 */
export async function downloadSnapshot(
  fetchChunk: (height: number, offset: number) => Promise<SnapshotChunkAnswer | undefined>,
  above: number,
  opts: DownloadOptions = {},
): Promise<{ height: number; bytes: Uint8Array; proof: SnapshotProof }> {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const first = await fetchChunk(0, 0);
  if (!first) throw new SnapshotSyncError('unavailable', 'the peer has no snapshot to give');
  const { height, total, proof } = first;
  if (height <= above) throw new SnapshotSyncError('unavailable', `the peer's snapshot at ${height} is not above our height ${above}`);
  if (!proof) throw new SnapshotSyncError('bad-chunk', 'the first chunk carries no proof');
  if (total < 1 || total > MAX_SNAPSHOT_BYTES) throw new SnapshotSyncError('bad-chunk', `snapshot size ${total} is outside 1..${MAX_SNAPSHOT_BYTES}`);
  opts.checkProof?.(height, proof);
  checkSnapshotHeader(first.data, height, total, opts.limits ?? snapshotLimits());
  const deadline = started + snapshotTransferAllowanceMs(total);
  const parts: Uint8Array[] = [];
  let offset = 0;
  let chunk: SnapshotChunkAnswer | undefined = first;
  for (;;) {
    // Fixed chunk sizes bound the number of requests by the size, whatever the peer does.
    const want = Math.min(MAX_SNAPSHOT_CHUNK_BYTES, total - offset);
    if (chunk.height !== height || chunk.total !== total || chunk.offset !== offset || chunk.data.length !== want) {
      throw new SnapshotSyncError('bad-chunk', `chunk at ${chunk.offset} (${chunk.data.length} bytes) does not continue ${height}/${total} at ${offset}`);
    }
    parts.push(chunk.data);
    offset += want;
    if (offset === total) break;
    if (now() > deadline) throw new SnapshotSyncError('too-slow', `${offset} of ${total} bytes in ${Math.round(now() - started)} ms`);
    chunk = await fetchChunk(height, offset);
    // Gone mid-transfer: the peer took a newer snapshot; the caller starts again.
    if (!chunk) throw new SnapshotSyncError('unavailable', `the peer's snapshot at ${height} went away at offset ${offset}`);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { height, bytes, proof };
}

/**
 * The snapshot's own header, from its first chunk: the height it was offered at, and no more
 * bytes and state entries than `limits` can take. Without the check a peer's gigabyte of tiny
 * entries was fetched whole and then built until the heap ran out.
 */
function checkSnapshotHeader(data: Uint8Array, height: number, total: number, limits: SnapshotLimits): void {
  let header: ReturnType<typeof readSnapshotHeader>;
  try {
    header = readSnapshotHeader(data.subarray(0, SNAPSHOT_HEADER_MAX_BYTES));
  } catch (err) {
    // A first chunk holds min(total, a chunk) bytes, and any valid snapshot its whole header.
    if (err instanceof SnapshotDecodeError) throw new SnapshotSyncError('bad-snapshot', err.message);
    throw err;
  }
  if (header.height !== height) throw new SnapshotSyncError('bad-chunk', `the snapshot's header says height ${header.height}, offered as ${height}`);
  if (2 * total > limits.downloadBytes) throw new SnapshotSyncError('too-large', `${total} bytes to download, held twice for a moment; this node can give ${limits.downloadBytes}`);
  try {
    checkStateEntries(header.entryCount, limits);
  } catch (err) {
    if (err instanceof SnapshotTooLargeError) throw new SnapshotSyncError('too-large', err.message);
    throw err;
  }
}
