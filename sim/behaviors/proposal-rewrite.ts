import type { ConsensusAction } from '../../node/consensus/messages.js';
import type { Block, TimeoutCert } from '../../protocol/types.js';

/** A proposal the honest core is about to broadcast. */
export interface ProposalBroadcast {
  readonly block: Block;
  readonly tc: TimeoutCert | undefined;
  /** The broadcast action itself, for a rewrite that lets it through unchanged. */
  readonly original: ConsensusAction;
}

/**
 * The outgoing hook of the equivocating behaviours: every action passes through in order,
 * except proposal broadcasts, each replaced by what `rewrite` returns for it (the original, a
 * split between two blocks, or nothing while the attack waits).
 */
export function rewriteProposalBroadcasts(actions: readonly ConsensusAction[], rewrite: (p: ProposalBroadcast) => readonly ConsensusAction[]): ConsensusAction[] {
  const out: ConsensusAction[] = [];
  for (const a of actions) {
    if (a.type !== 'broadcast' || a.message.type !== 'proposal') out.push(a);
    else out.push(...rewrite({ block: a.message.block, tc: a.message.tc, original: a }));
  }
  return out;
}
