import { sha256 } from '../../../crypto/hash.js';
import { genesisQc, makeBlock } from '../../../protocol/block.js';
import type { SafetyState } from '../../../node/consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert } from '../../../protocol/types.js';

/** Deterministic ledgers for storage tests: block h is round h and extends block h-1. */
export const CHAIN_ID = 'vsmr-storage-test';
const ascii = (s: string) => new TextEncoder().encode(s);

export function qcFor(block: Block): QuorumCert {
  return {
    vote: {
      blockId: block.id,
      round: block.round,
      height: block.height,
      parentId: block.parentQc.vote.blockId,
      parentRound: block.parentQc.vote.round,
    },
    certificate: sha256(ascii(`cert-${block.height}`)),
  };
}

/** The block at `parent.height + 1` (or height 1 after genesis). */
export function nextBlock(chainId: string, parent: Block | undefined): Block {
  const height = (parent?.height ?? 0) + 1;
  const parentQc = parent === undefined ? genesisQc(chainId) : qcFor(parent);
  const payload = Array.from({ length: height % 4 }, (_, j) => ascii(`cmd-${height}-${j}`));
  return makeBlock(chainId, { round: height, height, parentQc, author: height % 4, payload });
}

export function executedFor(block: Block): ExecutedState {
  return {
    height: block.height,
    blockId: block.id,
    stateRoot: sha256(ascii(`state-${block.height}`)),
    logRoot: sha256(ascii(`log-${block.height}`)),
  };
}

export function chain(chainId: string, n: number): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < n; i++) out.push(nextBlock(chainId, out.at(-1)));
  return out;
}

/** A safety state that has voted for `block`, as SafetyRules would leave it. */
export function votedFor(block: Block): SafetyState {
  const qc = qcFor(block);
  return {
    lastVotedRound: block.round,
    oneChainRound: block.parentQc.vote.round,
    preferredRound: block.parentQc.vote.parentRound,
    highestTimeoutRound: Math.max(0, block.round - 1),
    lastVote: { vote: qc.vote, signer: 2, signature: sha256(ascii(`sig-${block.round}`)) },
    lastProposedRound: Math.max(0, block.round - 3),
  };
}
