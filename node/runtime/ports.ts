import type { ConsensusMessage } from '../consensus/messages.js';
import type { SafetyStorage } from '../consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert } from '../../protocol/types.js';

/**
 * What the validator runtime needs from the outside world, as interfaces: the libp2p network
 * (network/) and LMDB storage (node/storage) implement them in a real node; tests plug in
 * in-process fakes. Keeps the runtime testable without sockets or disks.
 */

export interface SyncAnswer {
  readonly blocks: readonly Block[];
  readonly highQc: QuorumCert;
}

export interface ConsensusTransport {
  /** To every other validator. */
  broadcast(message: ConsensusMessage): void;
  send(to: number, message: ConsensusMessage): void;
  /** Asks validator `to` for blocks from `fromHeight`; undefined when it does not answer in time. */
  requestSync(to: number, fromHeight: number): Promise<SyncAnswer | undefined>;
}

/** The durable ledger: committed blocks with their execution results, and the safety state. */
export interface LedgerStore {
  safetyStorage(): SafetyStorage;
  committedHeight(): number;
  /** Height must be exactly committedHeight() + 1. Durable when it returns. */
  appendCommitted(block: Block, executed: ExecutedState): void;
  block(height: number): Block | undefined;
  /** Inclusive range, clipped to what exists. */
  blocks(from: number, to: number): Block[];
  executed(height: number): ExecutedState | undefined;
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
