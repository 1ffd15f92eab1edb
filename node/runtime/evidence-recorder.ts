import { toHex } from '../../crypto/bytes.js';
import { encodeVoteData, type SignedVote, type Block } from '../../protocol/types.js';
import type { CertificateOps } from '../consensus/certs.js';
import { EquivocationDetector, type EquivocationEvidence } from '../consensus/evidence.js';
import type { ConsensusMessage } from '../consensus/messages.js';
import type { Logger } from '../observability/log.js';
import type { NodeMetrics } from '../observability/metrics.js';

/**
 * The honest runtime's equivocation watch: every consensus message a peer delivers passes
 * through an EquivocationDetector before the core sees it; evidence (both messages in full) goes
 * to a warn log line and `vsmr_equivocation_evidence_total{kind}`. The core stays pure and
 * unchanged: it drops a signer's second vote in a round unread, which is exactly the one that
 * proves the equivocation, so the watch has to sit in front of it.
 */
export class EvidenceRecorder {
  private readonly detector: EquivocationDetector;
  private count = 0;

  constructor(
    certs: CertificateOps,
    chainId: string,
    private readonly metrics?: Pick<NodeMetrics, 'equivocationEvidence'>,
    private readonly logger?: Logger,
    roundNow?: () => number,
    leaderOf?: (round: number) => number,
  ) {
    this.detector = new EquivocationDetector(certs, chainId, roundNow, leaderOf);
  }

  /** Evidence recorded so far. */
  get recorded(): number {
    return this.count;
  }

  observe(from: number, message: ConsensusMessage): EquivocationEvidence | undefined {
    const e = this.detector.observe(message, from);
    if (!e) return undefined;
    this.count++;
    this.metrics?.equivocationEvidence.inc({ kind: e.kind });
    this.logger?.warn({ evidence: evidenceFields(e), relayedBy: from }, `equivocation evidence against validator ${e.offender} in round ${e.round}`);
    return e;
  }
}

function voteFields(v: SignedVote) {
  return { signer: v.signer, voteData: toHex(encodeVoteData(v.vote)), blockId: toHex(v.vote.blockId), signature: toHex(v.signature) };
}

function blockFields(b: Block) {
  return { id: toHex(b.id), author: b.author, round: b.round, height: b.height, parentId: toHex(b.parentQc.vote.blockId), commands: b.payload.length };
}

/** Both messages, hex-encoded: enough to re-verify a double vote offline. */
export function evidenceFields(e: EquivocationEvidence): Record<string, unknown> {
  return e.kind === 'double-vote'
    ? { kind: e.kind, offender: e.offender, round: e.round, first: voteFields(e.first), second: voteFields(e.second) }
    : { kind: e.kind, offender: e.offender, round: e.round, first: blockFields(e.first), second: blockFields(e.second) };
}
