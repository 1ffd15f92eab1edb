import type { CertifiedTip, ConsensusMessage } from '../consensus/messages.js';
import type { SafetyStorage } from '../consensus/safety-rules.js';
import type { SnapshotProof } from '../../network/codec.js';
import type { Block, ExecutedState, QuorumCert } from '../../protocol/types.js';

/**
 * What the validator runtime needs from the outside world, as interfaces: the libp2p network
 * (network/) and LMDB storage (node/storage) implement them in a real node; tests plug in
 * in-process fakes. Keeps the runtime testable without sockets or disks.
 */

export type SyncAnswer =
  | { readonly blocks: readonly Block[]; readonly highQc: QuorumCert }
  /** The responder no longer holds the blocks asked for (lowest held: `pruned`): use a snapshot. */
  | { readonly pruned: number };

/** One chunk of a peer's snapshot (network/codec.ts SnapshotChunk without its wire tag). */
export interface SnapshotChunkAnswer {
  readonly height: number;
  readonly total: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly proof?: SnapshotProof;
}

export interface ConsensusTransport {
  /** To every other validator. */
  broadcast(message: ConsensusMessage): void;
  send(to: number, message: ConsensusMessage): void;
  /** Asks validator `to` for blocks from `fromHeight`; undefined when it does not answer in time. */
  requestSync(to: number, fromHeight: number): Promise<SyncAnswer | undefined>;
  /**
   * Asks validator `to` for bytes from `offset` of its snapshot at `height` (0: its latest);
   * undefined when it has none to give or does not answer in time.
   */
  requestSnapshotChunk(to: number, height: number, offset: number): Promise<SnapshotChunkAnswer | undefined>;
}

/** The durable ledger: committed blocks with their execution results, and the safety state. */
export interface LedgerStore {
  safetyStorage(): SafetyStorage;
  /**
   * Runs `fn` so that every write it makes (safety state, appended blocks, snapshots) becomes
   * durable together, with one flush, when `durably` returns; nested calls join the outer one.
   * The writes' own "durable when it returns" then means "when the outermost call returns", so
   * a caller must not let anything depending on them leave the process before that.
   */
  durably<T>(fn: () => T): T;
  committedHeight(): number;
  /**
   * Height must be exactly committedHeight() + 1. Durable when it returns. `commitQc`, when
   * given, certifies this block and is kept (for the top block only) for restarts.
   */
  appendCommitted(block: Block, executed: ExecutedState, commitQc?: QuorumCert): void;
  block(height: number): Block | undefined;
  /** Inclusive range, clipped to what exists. */
  blocks(from: number, to: number): Block[];
  executed(height: number): ExecutedState | undefined;
  /** Lowest height whose block is still held (committedHeight() + 1 when none is). */
  lowestBlockHeight(): number;
  /** The QC of the top committed block, when one was stored with it (after a snapshot install). */
  commitQc(): QuorumCert | undefined;
  /** Keeps `bytes` as the latest application snapshot, taken after block `height`. Durable. */
  saveSnapshot(height: number, bytes: Uint8Array): void;
  latestSnapshot(): { readonly height: number; readonly bytes: Uint8Array } | undefined;
  /**
   * Drops blocks below `height` (at most the latest snapshot's height), and executed states
   * below `height - keepExecuted` (default 0); returns how many blocks.
   */
  pruneBelow(height: number, keepExecuted?: number): number;
  /** Adopts a verified snapshot above everything held as the committed state. Durable. */
  installSnapshot(executed: ExecutedState, bytes: Uint8Array, commitQc?: QuorumCert): void;
  /**
   * Keeps the core's certified tip (highest QC, highest TC, the uncommitted blocks up to the QC's
   * block), replacing the one kept; durable with the group it is written in. The safety state
   * runs ahead of the committed ledger: a replica that voted for block r has promised never to
   * time out below QC(r - 1), which lives only in memory until r - 1 commits. Restarted without
   * it, every validator of a cluster that stopped together is barred from both voting and timing
   * out, and the chain never moves again.
   */
  saveCertifiedTip(tip: CertifiedTip): void;
  /** The tip last kept, if any. */
  certifiedTip(): CertifiedTip | undefined;
}

/** Timers the runtime arms for the pacemaker; injectable so tests can control time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
