import { bytesToHex } from '../../crypto/bytes.js';
import { encodeVoteData, type SignedVote } from '../../protocol/types.js';
import type { CertificateOps } from './certs.js';
import type { ConsensusMessage } from './messages.js';

/**
 * Evidence of equivocation: two votes signed by the same validator for the same round on
 * different data. Either signature alone is ordinary; together they prove the signer broke
 * the voting rule, whoever relays them, so the pair is what gets logged and counted (and
 * could be used for slashing). Proposals carry no signature of their own in this protocol,
 * so a leader's equivocation becomes evidence through its (and its accomplices') votes.
 *
 * Pure and bounded: the runtime and the simulator feed it the votes they receive.
 */
export interface EquivocationEvidence {
  readonly kind: 'double-vote';
  readonly offender: number;
  readonly round: number;
  readonly first: SignedVote;
  readonly second: SignedVote;
}

/** Rounds of votes remembered behind the highest seen: older conflicts are no longer looked for. */
const WINDOW_ROUNDS = 64;

export class EquivocationDetector {
  /** `${signer}:${round}` -> the first verified vote seen. */
  private readonly firstVotes = new Map<string, SignedVote>();
  private readonly reported = new Set<string>();
  private highestRound = 0;

  constructor(private readonly certs: CertificateOps) {}

  /** Evidence if `message` conflicts with an earlier vote of its signer; never throws. */
  observe(message: ConsensusMessage): EquivocationEvidence | undefined {
    if (message.type !== 'vote') return undefined;
    try {
      return this.observeVote(message.vote);
    } catch {
      // A malformed vote is the decoder's or the core's business; it proves nothing here.
      return undefined;
    }
  }

  private observeVote(vote: SignedVote): EquivocationEvidence | undefined {
    const round = vote.vote.round;
    if (!Number.isSafeInteger(round) || round < 1 || round + WINDOW_ROUNDS < this.highestRound) return undefined;
    const key = `${vote.signer}:${round}`;
    const first = this.firstVotes.get(key);
    if (first === undefined) {
      // Only a verified vote may later accuse its signer: a forger must not frame anyone.
      if (!this.certs.verifyVote(vote)) return undefined;
      this.firstVotes.set(key, vote);
      if (round > this.highestRound) this.advance(round);
      return undefined;
    }
    if (this.reported.has(key) || bytesToHex(encodeVoteData(first.vote)) === bytesToHex(encodeVoteData(vote.vote))) return undefined;
    if (!this.certs.verifyVote(vote)) return undefined;
    this.reported.add(key);
    return { kind: 'double-vote', offender: vote.signer, round, first, second: vote };
  }

  private advance(round: number): void {
    this.highestRound = round;
    const floor = round - WINDOW_ROUNDS;
    for (const [k, v] of this.firstVotes) if (v.vote.round < floor) this.firstVotes.delete(k);
    for (const k of this.reported) if (Number(k.slice(k.indexOf(':') + 1)) < floor) this.reported.delete(k);
  }
}
