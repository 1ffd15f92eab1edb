import { bytesToHex } from '../../crypto/bytes.js';
import { blockId } from '../../protocol/block.js';
import { type Block, encodeVoteData, type SignedVote } from '../../protocol/types.js';
import type { CertificateOps } from './certs.js';
import type { ConsensusMessage } from './messages.js';

/**
 * Evidence of equivocation: two votes signed by the same validator for the same round on
 * different data. Either signature alone is ordinary; together they prove the signer broke
 * the voting rule, whoever relays them, so the pair is what gets logged and counted (and
 * could be used for slashing). Proposals carry no signature of their own in this protocol,
 * so a leader's equivocation becomes transferable evidence through its (and its accomplices')
 * votes; two different proposals received straight from their author are recorded too.
 *
 * Pure and bounded: the runtime and the simulator feed it the votes they receive.
 */
export type EquivocationEvidence =
  | {
      readonly kind: 'double-vote';
      readonly offender: number;
      readonly round: number;
      readonly first: SignedVote;
      readonly second: SignedVote;
    }
  /**
   * Two well-formed blocks (ids that recompute from their contents) for one round, both
   * authored by and received straight from `offender` on its noise-authenticated stream.
   * Proposals carry no signature of their own here, so this convinces the node that saw it but
   * cannot be shown to a third party the way a double vote can.
   */
  | {
      readonly kind: 'conflicting-proposals';
      readonly offender: number;
      readonly round: number;
      readonly first: Block;
      readonly second: Block;
    };

/** Rounds of votes remembered behind the highest seen: older conflicts are no longer looked for. */
const WINDOW_ROUNDS = 64;
/**
 * Rounds of proposals remembered either side of the local round. A proposal is kept whole (its
 * id is checked only on a conflict, to keep the honest path free), and may be megabytes: a wide
 * window would let one validator park a full block here for every round in it.
 */
const PROPOSAL_WINDOW_ROUNDS = 8;

export class EquivocationDetector {
  /** `${signer}:${round}` -> the first verified vote seen. */
  private readonly firstVotes = new Map<string, SignedVote>();
  private readonly reported = new Set<string>();
  /** `${author}:${round}` -> the first proposal received straight from its author (id not yet checked). */
  private readonly firstProposals = new Map<string, Block>();
  private readonly reportedProposals = new Set<string>();
  private highestRound = 0;
  private highestProposalRound = 0;

  /**
   * `chainId` is needed only to check proposals' block ids; without it proposals are ignored.
   * `roundNow`, the local core's round, bounds what is remembered from above: without it the
   * first message seen could carry a round of 2^53 and move the window past every honest one.
   * `leaderOf`, when given, keeps proposals only from their round's leader (the core ignores any
   * other's), so a validator can hold a block here only in the rounds it leads.
   */
  constructor(
    private readonly certs: CertificateOps,
    private readonly chainId?: string,
    private readonly roundNow?: () => number,
    private readonly leaderOf?: (round: number) => number,
  ) {}

  /** The window's top after seeing `round`: never above the local round, which an unverified message could otherwise drag up. */
  private top(round: number): number {
    const now = this.roundNow?.();
    return now === undefined ? round : Math.min(round, now);
  }

  /** Whether `round` is one this detector remembers: within the window below the highest seen, not far above the local round. */
  private inWindow(round: number, highest: number): boolean {
    if (!Number.isSafeInteger(round) || round < 1 || round + WINDOW_ROUNDS < highest) return false;
    const now = this.roundNow?.();
    if (now !== undefined && round > now + WINDOW_ROUNDS) return false;
    // Far-future rounds are not remembered: a spammer must not grow the map without bound.
    return highest === 0 || round <= highest + WINDOW_ROUNDS;
  }

  /**
   * Evidence if `message` conflicts with an earlier vote of its signer, or (given `from`, the
   * authenticated sender) an earlier proposal of its author; never throws.
   */
  observe(message: ConsensusMessage, from?: number): EquivocationEvidence | undefined {
    try {
      if (message.type === 'vote') return this.observeVote(message.vote, from);
      if (message.type === 'proposal' && from !== undefined) return this.observeProposal(from, message.block);
      return undefined;
    } catch {
      // A malformed vote is the decoder's or the core's business; it proves nothing here.
      return undefined;
    }
  }

  private observeVote(vote: SignedVote, from: number | undefined): EquivocationEvidence | undefined {
    const round = vote.vote.round;
    const signer = vote.signer;
    // A vote travels from its signer to the next leader: one naming another signer, or none of
    // the validators, proves nothing and must not take a place in the map.
    if (!Number.isSafeInteger(signer) || signer < 0 || signer >= this.certs.n || (from !== undefined && signer !== from)) return undefined;
    if (!this.inWindow(round, this.highestRound)) return undefined;
    const key = `${vote.signer}:${round}`;
    const first = this.firstVotes.get(key);
    if (first === undefined) {
      // Kept unchecked: signatures are verified only when a conflict makes them matter, so the
      // honest path costs no pairing here (the core checks votes together, per QC).
      this.firstVotes.set(key, vote);
      const top = this.top(round);
      if (top > this.highestRound) this.advance(top);
      return undefined;
    }
    if (this.reported.has(key) || bytesToHex(encodeVoteData(first.vote)) === bytesToHex(encodeVoteData(vote.vote))) return undefined;
    // Only verified votes may accuse their signer: a forger must not frame anyone.
    if (!this.certs.verifyVote(vote)) return undefined;
    if (!this.certs.verifyVote(first)) {
      // The remembered one was a forgery: the valid vote takes its place as the signer's first.
      this.firstVotes.set(key, vote);
      return undefined;
    }
    this.reported.add(key);
    return { kind: 'double-vote', offender: vote.signer, round, first, second: vote };
  }

  /**
   * Ids are recomputed only on a conflict, so the honest path costs one map lookup: a garbage
   * first proposal (an id that does not recompute) is replaced by the well-formed second one,
   * and a garbage second one proves nothing.
   */
  private observeProposal(from: number, block: Block): EquivocationEvidence | undefined {
    const round = block.round;
    if (this.chainId === undefined || block.author !== from || !Number.isSafeInteger(from) || from < 0 || from >= this.certs.n) return undefined;
    if (!Number.isSafeInteger(round) || (this.leaderOf !== undefined && this.leaderOf(round) !== from)) return undefined;
    const now = this.roundNow?.();
    if (now !== undefined && Math.abs(round - now) > PROPOSAL_WINDOW_ROUNDS) return undefined;
    if (!this.inWindow(round, this.highestProposalRound)) return undefined;
    const key = `${from}:${round}`;
    const first = this.firstProposals.get(key);
    if (first === undefined) {
      this.firstProposals.set(key, block);
      const top = this.top(round);
      if (top > this.highestProposalRound) {
        this.highestProposalRound = top;
        const floor = top - (now === undefined ? WINDOW_ROUNDS : PROPOSAL_WINDOW_ROUNDS);
        for (const [k, b] of this.firstProposals) if (b.round < floor) this.firstProposals.delete(k);
        for (const k of this.reportedProposals) if (Number(k.slice(k.indexOf(':') + 1)) < floor) this.reportedProposals.delete(k);
      }
      return undefined;
    }
    if (this.reportedProposals.has(key) || bytesToHex(first.id) === bytesToHex(block.id)) return undefined;
    const wellFormed = (b: Block) => bytesToHex(blockId(this.chainId!, b)) === bytesToHex(b.id);
    if (!wellFormed(block)) return undefined;
    if (!wellFormed(first)) {
      this.firstProposals.set(key, block);
      return undefined;
    }
    this.reportedProposals.add(key);
    return { kind: 'conflicting-proposals', offender: from, round, first, second: block };
  }

  private advance(round: number): void {
    this.highestRound = round;
    const floor = round - WINDOW_ROUNDS;
    for (const [k, v] of this.firstVotes) if (v.vote.round < floor) this.firstVotes.delete(k);
    for (const k of this.reported) if (Number(k.slice(k.indexOf(':') + 1)) < floor) this.reported.delete(k);
  }
}
