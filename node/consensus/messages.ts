import type { Block, QuorumCert, SignedTimeout, SignedVote, TimeoutCert } from './types.js';

/** What replicas send each other. The transport adds the sender as `from` when delivering. */
export type ConsensusMessage =
  | { readonly type: 'proposal'; readonly block: Block; readonly tc?: TimeoutCert }
  | { readonly type: 'vote'; readonly vote: SignedVote }
  | { readonly type: 'timeout'; readonly timeout: SignedTimeout; readonly highQc: QuorumCert; readonly tc?: TimeoutCert };

type Delivered<M> = M & { readonly from: number };

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
  | { readonly type: 'commands'; readonly commands: readonly Uint8Array[] };

/**
 * Outputs of Replica.step, to be carried out in order. `broadcast` means every OTHER replica:
 * a replica handles its own messages inside step.
 */
export type ConsensusAction =
  | { readonly type: 'broadcast'; readonly message: ConsensusMessage }
  | { readonly type: 'send'; readonly to: number; readonly message: ConsensusMessage }
  | { readonly type: 'set-timer'; readonly round: number; readonly delayMs: number }
  | { readonly type: 'commit'; readonly blocks: readonly Block[] }
  | { readonly type: 'reject'; readonly from: number; readonly reason: string };
