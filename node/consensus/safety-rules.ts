import { bytesEqual } from '../../crypto/bytes.js';
import {
  type BlockInfo,
  type QuorumCert,
  type Round,
  type SignedTimeout,
  type SignedVote,
  sameVoteData,
  type TimeoutCertInfo,
  timeoutDigest,
  type VoteData,
  voteDigest,
} from '../../protocol/types.js';

/**
 * Safety rules of the two-chain protocol (Jolteon / DiemBFT-v4), after Aptos'
 * `safety_rules_2chain`: the only code that signs votes and timeouts. Its state is written
 * through `SafetyStorage` and is durable before a signature is returned, so a crash between
 * "sign" and "send" can never lead to a second, different signature for the same round.
 *
 * Certificates handed in are assumed verified by the caller (the consensus core verifies
 * every QC and TC before it reaches this module); these rules check only the round logic.
 */

export interface SafetyState {
  /** Highest round this replica voted or timed out in; it never signs at or below it again. */
  readonly lastVotedRound: Round;
  /** Highest certified block round seen in a proposal (Aptos' one_chain_round). */
  readonly oneChainRound: Round;
  /** Highest parent round of a certified block seen (the two-chain lock, Aptos' preferred_round). */
  readonly preferredRound: Round;
  readonly highestTimeoutRound: Round;
  /** Returned again, byte for byte, when asked to vote in the same round for the same block. */
  readonly lastVote: SignedVote | null;
  /**
   * Highest round this replica proposed in. A proposal carries no signature of its own, but a
   * leader that proposed, crashed and came back in the same round must not propose a different
   * block there: the record is durable before the proposal leaves, as state is before a vote.
   */
  readonly lastProposedRound: Round;
}

export const INITIAL_SAFETY_STATE: SafetyState = Object.freeze({
  lastVotedRound: 0,
  oneChainRound: 0,
  preferredRound: 0,
  highestTimeoutRound: 0,
  lastVote: null,
  lastProposedRound: 0,
});

/**
 * Persistence for SafetyState. `store` must not return before the state is durable (fsync /
 * synchronous LMDB commit): the signature is released only after it returns.
 */
export interface SafetyStorage {
  load(): SafetyState | null;
  store(state: SafetyState): void;
}

/** Signs 32-byte digests with this replica's consensus key. */
export interface ConsensusSigner {
  readonly index: number;
  /** Timeouts, and votes unless `signVote` is given. */
  sign(digest: Uint8Array): Uint8Array;
  /**
   * Votes, when the QC scheme signs them with another key than timeouts: a threshold chain's
   * votes are partial signatures under the validator's Shamir share, while a TC still
   * aggregates signatures over distinct messages and so needs each validator's own key.
   */
  signVote?(digest: Uint8Array): Uint8Array;
}

/** A vote signature with the key votes take: the share on a threshold chain, else the validator's key. */
export function signVoteDigest(signer: ConsensusSigner, digest: Uint8Array): Uint8Array {
  return signer.signVote ? signer.signVote(digest) : signer.sign(digest);
}

export type SafetyRuleName =
  | 'malformed-proposal'
  | 'equivocation'
  | 'round-not-increasing'
  | 'not-safe-to-vote'
  | 'not-safe-to-timeout'
  | 'stale-timeout'
  | 'proposal-not-increasing';

/** A refusal to sign, with the values that failed the rule. */
export class SafetyViolation extends Error {
  constructor(
    readonly rule: SafetyRuleName,
    readonly values: Readonly<Record<string, number>>,
  ) {
    const detail = Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    super(`safety rules refuse to sign: ${rule} (${detail})`);
    this.name = 'SafetyViolation';
  }
}

/**
 * The safety state could not be made durable. Nothing was signed and the state in memory is
 * unchanged, but the replica cannot go on: the core lets this escape its step (it is no peer's
 * fault) so that the runtime halts instead of carrying on without votes.
 */
export class SafetyStorageError extends Error {
  constructor(cause: unknown) {
    super(`the safety state could not be stored: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'SafetyStorageError';
  }
}

export interface SafetyRulesOptions {
  /**
   * DELIBERATELY UNSAFE, for tests of the invariant checkers only (the product never sets it):
   * drops the equivocation and round-monotonicity checks, so the replica signs a second,
   * different vote in a round it already voted in. A checker that misses this proves nothing.
   */
  readonly unsafeWeakVotingForTests?: boolean;
}

export class SafetyRules {
  private current: SafetyState;

  constructor(
    private readonly chainId: string,
    private readonly signer: ConsensusSigner,
    private readonly storage: SafetyStorage,
    private readonly options: SafetyRulesOptions = {},
  ) {
    this.current = storage.load() ?? INITIAL_SAFETY_STATE;
  }

  get state(): SafetyState {
    return this.current;
  }

  /** Signs a vote for `block`, which extends its parent QC or, after a timeout, the TC's round. */
  voteFor(block: BlockInfo, tc?: TimeoutCertInfo): SignedVote {
    const qc = block.parentQc.vote;
    if (qc.round >= block.round || block.height !== qc.height + 1 || block.id.length !== 32) {
      throw new SafetyViolation('malformed-proposal', { round: block.round, qcRound: qc.round, height: block.height, qcHeight: qc.height });
    }
    const state = this.current;
    if (this.options.unsafeWeakVotingForTests && state.lastVote?.vote.round === block.round && !bytesEqual(state.lastVote.vote.blockId, block.id)) {
      return this.signVote(state, block, qc);
    }
    if (state.lastVote && state.lastVote.vote.round === block.round) {
      if (bytesEqual(state.lastVote.vote.blockId, block.id) && sameVoteData(state.lastVote.vote, voteDataOf(block))) return state.lastVote;
      throw new SafetyViolation('equivocation', { round: block.round, lastVotedRound: state.lastVotedRound });
    }
    if (block.round <= state.lastVotedRound) {
      throw new SafetyViolation('round-not-increasing', { round: block.round, lastVotedRound: state.lastVotedRound });
    }
    const extendsQc = block.round === qc.round + 1;
    const extendsTc = tc !== undefined && block.round === tc.round + 1 && qc.round >= tc.highestQcRound;
    if (!extendsQc && !extendsTc) {
      throw new SafetyViolation('not-safe-to-vote', {
        round: block.round,
        qcRound: qc.round,
        tcRound: tc?.round ?? -1,
        tcHighestQcRound: tc?.highestQcRound ?? -1,
      });
    }
    return this.signVote(state, block, qc);
  }

  private signVote(state: SafetyState, block: BlockInfo, qc: VoteData): SignedVote {
    const vote = voteDataOf(block);
    const signed: SignedVote = { vote, signer: this.signer.index, signature: signVoteDigest(this.signer, voteDigest(this.chainId, vote)) };
    this.commit({
      ...state,
      lastVotedRound: block.round,
      oneChainRound: Math.max(state.oneChainRound, qc.round),
      preferredRound: Math.max(state.preferredRound, qc.parentRound),
      lastVote: signed,
    });
    return signed;
  }

  /**
   * Signs a timeout for `round` carrying this replica's highest QC. Allowed only for the round
   * right after that QC or after `tc`, and only if the QC is at least as high as any this
   * replica has voted on top of, so a timeout never hides a certified block it has seen.
   */
  signTimeout(round: Round, highQc: QuorumCert, tc?: TimeoutCertInfo): SignedTimeout {
    const state = this.current;
    const qcRound = highQc.vote.round;
    const tcRound = tc?.round ?? 0;
    if (!((round === qcRound + 1 || round === tcRound + 1) && qcRound >= state.oneChainRound)) {
      throw new SafetyViolation('not-safe-to-timeout', { round, qcRound, tcRound, oneChainRound: state.oneChainRound });
    }
    if (round < state.lastVotedRound) {
      throw new SafetyViolation('stale-timeout', { round, lastVotedRound: state.lastVotedRound });
    }
    this.commit({
      ...state,
      lastVotedRound: Math.max(state.lastVotedRound, round),
      highestTimeoutRound: Math.max(state.highestTimeoutRound, round),
    });
    return { round, highQcRound: qcRound, signer: this.signer.index, signature: this.signer.sign(timeoutDigest(this.chainId, round, qcRound)) };
  }

  /**
   * Records that this replica proposes in `round`, before the proposal leaves (the runtime sends
   * a step's messages after its writes are durable). Refuses a round at or below one already
   * proposed in, so no restart can lead to two proposals in one round.
   */
  recordProposal(round: Round): void {
    const state = this.current;
    if (round <= state.lastProposedRound) {
      throw new SafetyViolation('proposal-not-increasing', { round, lastProposedRound: state.lastProposedRound });
    }
    this.commit({ ...state, lastProposedRound: round });
  }

  /** Durable first, then visible: the only way state changes. */
  private commit(next: SafetyState): void {
    try {
      this.storage.store(next);
    } catch (err) {
      throw new SafetyStorageError(err);
    }
    this.current = next;
  }
}

function voteDataOf(block: BlockInfo): VoteData {
  return {
    blockId: block.id,
    round: block.round,
    height: block.height,
    parentId: block.parentQc.vote.blockId,
    parentRound: block.parentQc.vote.round,
  };
}
