import { bytesToHex } from '../crypto/bytes.js';
import type { CertificateOps } from '../node/consensus/certs.js';
import { encodeVoteData, type QuorumCert, type TimeoutCert, type VoteData } from '../protocol/types.js';

/**
 * The safety contract of DESIGN.md ("Invariants"), checked event by event over honest replicas.
 * The checker keeps its own view (canonical log, per-replica heights, vote history) so that it
 * does not trust the runtime it is checking. Liveness lives in liveness.ts: it needs the clock.
 */

export type InvariantName = 'agreement' | 'prefix-consistency' | 'validity' | 'vote-safety' | 'certificate-soundness' | 'liveness';

export const SAFETY_INVARIANTS: ReadonlySet<InvariantName> = new Set(['agreement', 'prefix-consistency', 'validity', 'vote-safety', 'certificate-soundness']);

export interface Violation {
  readonly invariant: InvariantName;
  readonly detail: string;
}

/** Just what the checker reads of a committed block. */
export interface CommittedBlock {
  readonly id: Uint8Array;
  readonly height: number;
  readonly payload: readonly Uint8Array[];
}

export interface CheckerOptions {
  /** Used for certificate soundness; may differ from the replicas' own ops (a reference). */
  readonly certs: CertificateOps;
  /** Counts distinct signers of a QC (scheme specific). */
  readonly qcSigners: (qc: QuorumCert) => number;
}

interface VoteHistory {
  /** Round and encoded data of the last vote, to allow the identical re-send. */
  lastVoteRound: number;
  lastVoteKey: string;
  /** Highest round voted or timed out in. */
  highest: number;
  readonly signedVotes: Map<number, string>;
  readonly signedTimeouts: Set<number>;
}

const hex = (b: Uint8Array): string => bytesToHex(b);
const decoder = new TextDecoder();
export const commandKey = (c: Uint8Array): string => decoder.decode(c);

export class InvariantChecker {
  /** The first violation seen; later ones are usually consequences of it. */
  violation: Violation | undefined;
  /** Block id per height (index height - 1), first honest commit wins. */
  private readonly canonical: string[] = [];
  /** Executed state (state and log roots) per height, first honest execution wins. */
  private readonly canonicalStates = new Map<number, string>();
  private readonly heights = new Map<number, number>();
  private readonly submitted = new Set<string>();
  private readonly canonicalCommands = new Set<string>();
  private readonly votes = new Map<number, VoteHistory>();
  private readonly verifiedCerts = new Set<string>();

  constructor(private readonly opts: CheckerOptions) {}

  get canonicalHeight(): number {
    return this.canonical.length;
  }

  /** Height of replica i's committed log as the checker saw it grow (survives restarts). */
  heightOf(i: number): number {
    return this.heights.get(i) ?? 0;
  }

  recordSubmitted(command: string): void {
    this.submitted.add(command);
  }

  private fail(invariant: InvariantName, detail: string): void {
    this.violation ??= { invariant, detail };
  }

  /**
   * A commit reported by honest replica i. Heights at or below what it already committed are a
   * restarted core catching up: they must repeat its log exactly, and are not appended again.
   * Returns true when the block is new for the replica (the runtime appends it to the ledger).
   */
  onCommit(i: number, block: CommittedBlock): boolean {
    const id = hex(block.id);
    const had = this.heightOf(i);
    if (block.height <= had) {
      if (this.canonical[block.height - 1] !== id) {
        this.fail('agreement', `replica ${i} re-committed height ${block.height} as ${id.slice(0, 16)}, its log has ${this.canonical[block.height - 1]?.slice(0, 16)}`);
      }
      return false;
    }
    if (block.height !== had + 1) {
      this.fail('prefix-consistency', `replica ${i} committed height ${block.height} right after height ${had}`);
      return false;
    }
    this.heights.set(i, block.height);
    const known = this.canonical[block.height - 1];
    if (known !== undefined) {
      if (known !== id) this.fail('agreement', `replica ${i} committed ${id.slice(0, 16)} at height ${block.height}, another honest replica ${known.slice(0, 16)}`);
      return true;
    }
    this.canonical.push(id);
    for (const c of block.payload) {
      const key = commandKey(c);
      if (!this.submitted.has(key)) this.fail('validity', `height ${block.height} commits a command no client submitted: ${JSON.stringify(key.slice(0, 40))}`);
      else if (this.canonicalCommands.has(key)) this.fail('validity', `command ${JSON.stringify(key.slice(0, 40))} commits twice (again at height ${block.height})`);
      this.canonicalCommands.add(key);
    }
    return true;
  }

  /**
   * Honest replica i executed the block at `state.height`: its state and log roots must be every
   * other honest replica's there. A replica whose application diverged (a tampered snapshot
   * installed unchecked, a non-deterministic execution) commits the right blocks and goes on
   * voting only for what it can match, so the block checks alone would not see it.
   */
  onExecuted(i: number, state: { readonly height: number; readonly stateRoot: Uint8Array; readonly logRoot: Uint8Array }): void {
    const roots = `${hex(state.stateRoot)}/${hex(state.logRoot)}`;
    const known = this.canonicalStates.get(state.height);
    if (known === undefined) this.canonicalStates.set(state.height, roots);
    else if (known !== roots) this.fail('agreement', `replica ${i} executed height ${state.height} to roots ${roots.slice(0, 16)}.., another honest replica to ${known.slice(0, 16)}..`);
  }

  /**
   * Honest replica i installed a certified snapshot at `state.height`, above what it committed:
   * its log jumps there. The state must be that of the block every honest replica committed at
   * that height; and one did commit it, since the QC on a header claiming it holds f + 1 honest
   * voters who executed it.
   */
  onInstall(i: number, state: { readonly height: number; readonly blockId: Uint8Array }): void {
    const had = this.heightOf(i);
    const known = this.canonical[state.height - 1];
    if (state.height <= had) this.fail('prefix-consistency', `replica ${i} installed height ${state.height} at or below its committed height ${had}`);
    else if (known === undefined) this.fail('agreement', `replica ${i} installed height ${state.height}, which no honest replica committed`);
    else if (known !== hex(state.blockId)) this.fail('agreement', `replica ${i} installed block ${hex(state.blockId).slice(0, 16)} at height ${state.height}, honest replicas committed ${known.slice(0, 16)}`);
    else this.heights.set(i, state.height);
  }

  /**
   * A vote of honest replica i: `signed` when its safety state recorded the signature (in
   * signing order), `sent` when it left in a message (after the step, so possibly after later
   * signatures). A sent vote must be the one signed for its round; one never seen signed is
   * checked as if signed now.
   */
  onVote(i: number, vote: VoteData, source: 'signed' | 'sent' = 'signed'): void {
    const key = hex(encodeVoteData(vote));
    const h = this.history(i);
    const signed = h.signedVotes.get(vote.round);
    if (source === 'sent' && signed !== undefined) {
      if (signed !== key) this.fail('vote-safety', `replica ${i} sent a vote in round ${vote.round} other than the one it signed`);
      return;
    }
    if (h.lastVoteRound === vote.round) {
      if (h.lastVoteKey !== key) this.fail('vote-safety', `replica ${i} voted twice in round ${vote.round} for different blocks`);
      return;
    }
    if (vote.round <= h.highest) {
      this.fail('vote-safety', `replica ${i} voted in round ${vote.round} after voting or timing out in round ${h.highest}`);
      return;
    }
    h.signedVotes.set(vote.round, key);
    h.lastVoteRound = vote.round;
    h.lastVoteKey = key;
    h.highest = vote.round;
  }

  /** A timeout of honest replica i (see onVote); the same round again is a re-broadcast. */
  onTimeout(i: number, round: number, source: 'signed' | 'sent' = 'signed'): void {
    const h = this.history(i);
    if (source === 'sent' && h.signedTimeouts.has(round)) return;
    if (round < h.highest) {
      this.fail('vote-safety', `replica ${i} timed out in round ${round} after voting or timing out in round ${h.highest}`);
      return;
    }
    h.signedTimeouts.add(round);
    h.highest = round;
  }

  private history(i: number): VoteHistory {
    let h = this.votes.get(i);
    if (!h) {
      h = { lastVoteRound: -1, lastVoteKey: '', highest: 0, signedVotes: new Map(), signedTimeouts: new Set() };
      this.votes.set(i, h);
    }
    return h;
  }

  onQc(i: number, qc: QuorumCert, where: string): void {
    const key = `q${qc.vote.round}:${hex(qc.vote.blockId)}:${hex(qc.certificate)}`;
    if (this.verifiedCerts.has(key)) return;
    if (!this.opts.certs.verifyQc(qc)) this.fail('certificate-soundness', `replica ${i} sent a QC for round ${qc.vote.round} (${where}) that does not verify`);
    else if (this.opts.qcSigners(qc) < this.opts.certs.quorum) {
      this.fail('certificate-soundness', `replica ${i} sent a QC for round ${qc.vote.round} (${where}) with ${this.opts.qcSigners(qc)} < ${this.opts.certs.quorum} signers`);
    } else this.verifiedCerts.add(key);
  }

  onTc(i: number, tc: TimeoutCert, where: string): void {
    const key = `t${tc.round}:${hex(tc.signers)}:${hex(tc.certificate)}`;
    if (this.verifiedCerts.has(key)) return;
    const signers = popcount(tc.signers);
    if (!this.opts.certs.verifyTc(tc)) this.fail('certificate-soundness', `replica ${i} sent a TC for round ${tc.round} (${where}) that does not verify`);
    else if (signers < this.opts.certs.quorum) this.fail('certificate-soundness', `replica ${i} sent a TC for round ${tc.round} (${where}) with ${signers} signers`);
    else {
      this.onQc(i, tc.highestQc, `${where}, TC's highest QC`);
      this.verifiedCerts.add(key);
    }
  }
}

function popcount(bitmap: Uint8Array): number {
  let c = 0;
  for (let b of bitmap) {
    while (b) {
      c += b & 1;
      b >>= 1;
    }
  }
  return c;
}
