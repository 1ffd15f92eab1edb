import type { ConsensusMessage } from '../../protocol/types.js';
import type { Block, ExecutedState, QuorumCert, TimeoutCert } from '../../protocol/types.js';

export type { ConsensusMessage } from '../../protocol/types.js';

type Delivered<M> = M & { readonly from: number };

/**
 * What the core has certified above its committed root: its highest QC, its highest TC and the
 * uncommitted blocks from the root up to the QC's block (Replica.certifiedTip). The runtime keeps
 * it durably next to the safety state (DESIGN invariant 6) and hands it back on restart.
 */
/** Blocks a kept tip holds at most (the uncommitted chain is a few blocks; a longer one is kept as its QC and TC alone). */
export const MAX_TIP_BLOCKS = 1024;

export interface CertifiedTip {
  readonly blocks: readonly Block[];
  readonly highQc: QuorumCert;
  readonly highTc?: TimeoutCert;
}

/**
 * Inputs of Replica.step. Timers and commands come from the runtime, the rest from peers;
 * the runtime owns the clock, so `timer` says which round's timer fired.
 */
export type ConsensusEvent =
  | { readonly type: 'start' }
  | Delivered<Extract<ConsensusMessage, { type: 'proposal' }>>
  | Delivered<Extract<ConsensusMessage, { type: 'vote' }>>
  | Delivered<Extract<ConsensusMessage, { type: 'timeout' }>>
  | { readonly type: 'timer'; readonly round: number }
  /** The hold on the round's empty proposal ran out (see ReplicaConfig.emptyProposalHoldMs). */
  | { readonly type: 'proposal-timer'; readonly round: number }
  | { readonly type: 'commands'; readonly commands: readonly Uint8Array[] }
  /** The runtime's verdict on a `validate-payload` request: every command valid or not. */
  | { readonly type: 'payload-validated'; readonly blockId: Uint8Array; readonly valid: boolean }
  /** The runtime could not check a `validate-payload` request (its validation pool failed): no verdict. */
  | { readonly type: 'payload-unchecked'; readonly blockId: Uint8Array }
  /** The runtime applied the committed block at `state.height` (in height order). */
  | { readonly type: 'executed'; readonly state: ExecutedState }
  /**
   * Answer to a `sync-request`, assembled by the responder's runtime from its ledger (committed
   * blocks) and `Replica.syncChain()` (the certified, uncommitted rest): blocks from the
   * requested height upwards, in height order, and the QC certifying the last one.
   */
  | { readonly type: 'sync-response'; readonly from: number; readonly blocks: readonly Block[]; readonly highQc: QuorumCert }
  /**
   * The runtime's committed state jumped to `executed` without the core committing the blocks
   * below it: on restart (the ledger's top, possibly above pruned blocks) or after installing a
   * certified snapshot from a peer. `round` is the round of the block at `executed.height`;
   * `highQc` (verified again here) is a QC the runtime holds, such as the one certifying that
   * block; `syncFrom` is a peer to ask at once for the blocks above it. Ignored unless above
   * the current root.
   *
   * `rootClaim` is the executed state the header of that block carries, when the runtime holds
   * the header (its own ledger's top block at a restart). A child of the block claims no later
   * state than it unless the chain proves more: the block may have been committed by a QC that
   * only some replicas saw, and the others cannot check its own state until they commit it too.
   * Without it (a snapshot's proof certifies the state, not its block's header) the installed
   * state stands in for the claim, a looser bound.
   *
   * `earlier` are executed states of the runtime's own ledger below `executed` (a restart; the
   * newest EXECUTED_WINDOW count). Headers lag commits, and by as much as the chain's own QCs
   * lag a commit that only some replicas saw: a replica restarted at such a root must still vote
   * for headers claiming the states below it, as it did before it stopped, or f + 1 of them
   * restarted leave no quorum that can check the chain's headers. `provenCommitted` is the
   * highest height of that ledger whose next block's round follows its own (a committed pair,
   * which proves the commit to every replica holding the chain above it; -1 if none): what the
   * core had learnt from its commits before it stopped, and may claim and vote for again.
   * `committedIds` are the request ids (SHA-256 of each command, 32 bytes apiece, oldest first)
   * of the newest commands the installed state's log holds, from the application rather than the
   * blocks, which a prune may have dropped: the core refuses them in proposals again, as it did
   * before it stopped or while it was behind (its memory of commits does not survive a restart
   * and never saw what a snapshot skipped), so a faulty leader cannot get a command committed
   * twice once the honest replicas have restarted. Only the newest `recentlyCommittedLimit` count.
   */
  | {
      readonly type: 'state-installed';
      readonly executed: ExecutedState;
      readonly round: number;
      readonly highQc?: QuorumCert;
      readonly syncFrom?: number;
      readonly rootClaim?: ExecutedState;
      readonly earlier?: readonly ExecutedState[];
      readonly provenCommitted?: number;
      readonly committedIds?: Uint8Array;
    }
  /**
   * On restart, after `state-installed`: the certified tip this replica kept before it stopped
   * (LedgerStore.certifiedTip). Checked like a sync response from a peer (each block chains from
   * the root through a valid QC) and its TC verified, so a damaged record is refused, not obeyed.
   */
  | { readonly type: 'tip-recovered'; readonly tip: CertifiedTip }
  /**
   * The runtime is connected to validator `peer` anew (started, or back after a partition or its
   * restart): anything broadcast meanwhile did not reach it.
   */
  | { readonly type: 'peer-connected'; readonly peer: number };

/**
 * Outputs of Replica.step, to be carried out in order. `broadcast` means every OTHER replica:
 * a replica handles its own messages inside step.
 */
export type ConsensusAction =
  | { readonly type: 'broadcast'; readonly message: ConsensusMessage }
  | { readonly type: 'send'; readonly to: number; readonly message: ConsensusMessage }
  | { readonly type: 'set-timer'; readonly round: number; readonly delayMs: number }
  /** Arm a one-shot timer answered with `proposal-timer`; independent of the pacemaker's. */
  | { readonly type: 'set-proposal-timer'; readonly round: number; readonly delayMs: number }
  /** `qc`, when the core holds it, certifies the last block: stored so a restart can resume from it. */
  | { readonly type: 'commit'; readonly blocks: readonly Block[]; readonly qc?: QuorumCert }
  | { readonly type: 'reject'; readonly from: number; readonly reason: string }
  /**
   * Ask peer `to` for blocks from `fromHeight` up: emitted when a verified QC certifies a block
   * this replica does not have. Served by the peer's runtime, answered with `sync-response`.
   */
  | { readonly type: 'sync-request'; readonly to: number; readonly fromHeight: number }
  /** Validate these commands (signatures, limits) and answer with `payload-validated`. */
  | { readonly type: 'validate-payload'; readonly blockId: Uint8Array; readonly height: number; readonly payload: readonly Uint8Array[] };
