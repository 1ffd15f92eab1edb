import { bitmapFromIndices } from '../../crypto/qc/bitmap.js';
import type { QuorumCert, Round, SignedTimeout, SignedVote, TimeoutCert, VoteData } from '../../protocol/types.js';

/**
 * The certificate crypto the consensus core needs, behind one interface so the simulator can
 * run with fakes and the node with BLS. Every method is total: invalid input gives false or
 * undefined, never an exception, because all of it may come from a Byzantine peer.
 */
export interface CertificateOps {
  readonly n: number;
  readonly quorum: number;
  /** Checks the vote's signature under its signer's key (signer range included). */
  verifyVote(vote: SignedVote): boolean;
  /**
   * Collects votes on one VoteData without checking each on arrival: once q are in, the
   * combination is checked once (one pairing per QC rather than one per vote), and only if that
   * fails are the bad shares hunted down and named.
   */
  newVoteAggregator(vote: VoteData): VoteAggregator;
  /** Includes the genesis QC, which verifies without signatures. */
  verifyQc(qc: QuorumCert): boolean;
  verifyTimeout(timeout: SignedTimeout): boolean;
  /** Collects verified timeouts for one round; each comes with the verified QC it carries. */
  newTimeoutAggregator(round: Round): TimeoutAggregator;
  verifyTc(tc: TimeoutCert): boolean;
}

export interface VoteOutcome {
  /** The QC once q valid shares from distinct signers are in (and on every later call). */
  readonly qc?: QuorumCert;
  /** Signers whose shares this call found invalid (possibly added earlier); each named once. */
  readonly faulty: readonly number[];
}

export interface VoteAggregator {
  add(signer: number, signature: Uint8Array): VoteOutcome;
}

export interface TimeoutAggregator {
  add(timeout: SignedTimeout, highQc: QuorumCert): TimeoutCert | undefined;
}

/**
 * Shared TC assembly: the schemes differ only in how signatures combine. Signers are ordered
 * by index so that highQcRounds lines up with the bitmap.
 */
export class TimeoutCollector implements TimeoutAggregator {
  private readonly entries = new Map<number, { timeout: SignedTimeout; highQc: QuorumCert }>();
  private result: TimeoutCert | undefined;

  constructor(
    private readonly round: Round,
    private readonly n: number,
    private readonly quorum: number,
    private readonly combine: (signatures: readonly Uint8Array[]) => Uint8Array,
  ) {}

  add(timeout: SignedTimeout, highQc: QuorumCert): TimeoutCert | undefined {
    if (this.result) return this.result;
    if (timeout.round !== this.round || timeout.signer < 0 || timeout.signer >= this.n) return undefined;
    if (this.entries.has(timeout.signer)) return undefined;
    this.entries.set(timeout.signer, { timeout, highQc });
    if (this.entries.size < this.quorum) return undefined;
    const signers = [...this.entries.keys()].sort((a, b) => a - b);
    const chosen = signers.map((i) => this.entries.get(i)!);
    let highestQc = chosen[0]!.highQc;
    for (const e of chosen) if (e.highQc.vote.round > highestQc.vote.round) highestQc = e.highQc;
    this.result = {
      round: this.round,
      signers: bitmapFromIndices(this.n, signers),
      highQcRounds: chosen.map((e) => e.timeout.highQcRound),
      highestQc,
      certificate: this.combine(chosen.map((e) => e.timeout.signature)),
    };
    return this.result;
  }
}

/**
 * The scheme-independent checks of a TC: a canonical bitmap of at least q signers, one high QC
 * round per signer, and a highest QC that really is the highest of them. Returns the signer
 * indices, or undefined when malformed.
 */
export function tcSigners(tc: TimeoutCert, n: number, quorum: number): number[] | undefined {
  if (!(tc.signers instanceof Uint8Array) || tc.signers.length !== Math.ceil(n / 8)) return undefined;
  if (!Number.isSafeInteger(tc.round) || tc.round < 1) return undefined;
  const signers: number[] = [];
  for (let i = 0; i < tc.signers.length * 8; i++) {
    if (tc.signers[i >> 3]! & (1 << (i & 7))) {
      if (i >= n) return undefined;
      signers.push(i);
    }
  }
  if (signers.length < quorum || !Array.isArray(tc.highQcRounds) || tc.highQcRounds.length !== signers.length) return undefined;
  let max = -1;
  for (const r of tc.highQcRounds) {
    if (!Number.isSafeInteger(r) || r < 0 || r >= tc.round) return undefined;
    max = Math.max(max, r);
  }
  if (tc.highestQc.vote.round !== max) return undefined;
  return signers;
}
