import { runSeed, type SeedResult, type SimConfig } from './simulation.js';

/** Aggregate over seeds S..S+K-1: the shape the CLI prints with --json. */
export interface SimSummary {
  readonly seeds: number;
  readonly firstSeed: number;
  readonly replicas: number;
  readonly byzantine: number;
  readonly byzantineExceedsF: boolean;
  readonly crypto: string;
  readonly safetyViolations: number;
  readonly livenessViolations: number;
  /** Minimum over seeds of the commands committed by every honest replica. */
  readonly committedCommands: number;
  readonly committedBlocks: number;
  /** Over all seeds together: total messages (bytes) / total committed blocks. */
  readonly messagesPerBlock: number;
  /** Estimated from message contents until the wire codec lands. */
  readonly bytesPerBlock: number;
  readonly bytesAreEstimates: true;
  /** Present for a single seed: same seed, same hash. */
  readonly traceHash?: string;
  /** Totals over seeds: honest rejections of Byzantine messages, and equivocation evidence. */
  readonly rejectedFromByzantine: number;
  readonly evidence: number;
  /** Total over seeds: empty roots-only proposals honest leaders held (SimConfig.emptyProposalHoldMs). */
  readonly proposalHolds: number;
  /** Total over seeds: crashes in the commit window that kept committed blocks off a ledger. */
  readonly commitWindowCrashes: number;
  /** Total over seeds: certified snapshots honest replicas installed. */
  readonly snapshotInstalls: number;
  /** Total over seeds: snapshots honest replicas refused as a lying peer's. */
  readonly snapshotsRefused: number;
  /** Worst over seeds: rounds a command took to commit everywhere after max(submission, GST). */
  readonly roundsToCommitAfterGst: number | undefined;
  readonly violations: readonly { seed: number; invariant: string; detail: string; atMs: number; trace: readonly string[] }[];
  readonly results: readonly SeedResult[];
}

export function runSeeds(base: Omit<SimConfig, 'seed'>, firstSeed: number, seeds: number): SimSummary {
  const results: SeedResult[] = [];
  for (let s = firstSeed; s < firstSeed + seeds; s++) results.push(runSeed({ ...base, seed: s }));
  const blocks = results.reduce((a, r) => a + r.committedBlocks, 0);
  const messages = results.reduce((a, r) => a + r.messages, 0);
  const bytes = results.reduce((a, r) => a + r.bytes, 0);
  const per = (x: number) => (blocks === 0 ? 0 : Math.round((x / blocks) * 100) / 100);
  const summary: SimSummary = {
    seeds,
    firstSeed,
    replicas: base.n,
    byzantine: base.byzantine ?? 0,
    byzantineExceedsF: results[0]?.byzantineExceedsF ?? false,
    crypto: typeof base.crypto === 'object' ? base.crypto.name : (base.crypto ?? 'fake'),
    safetyViolations: results.filter((r) => r.safetyViolation).length,
    livenessViolations: results.filter((r) => r.livenessViolation).length,
    committedCommands: results.length === 0 ? 0 : Math.min(...results.map((r) => r.committedCommands)),
    committedBlocks: blocks,
    messagesPerBlock: per(messages),
    bytesPerBlock: per(bytes),
    bytesAreEstimates: true,
    rejectedFromByzantine: results.reduce((a, r) => a + r.rejectedFromByzantine, 0),
    evidence: results.reduce((a, r) => a + r.evidence, 0),
    proposalHolds: results.reduce((a, r) => a + r.proposalHolds, 0),
    commitWindowCrashes: results.reduce((a, r) => a + r.commitWindowCrashes, 0),
    snapshotInstalls: results.reduce((a, r) => a + r.snapshotInstalls, 0),
    snapshotsRefused: results.reduce((a, r) => a + r.snapshotsRefused, 0),
    roundsToCommitAfterGst: results.reduce<number | undefined>((a, r) => (r.roundsToCommitAfterGst === undefined ? a : Math.max(a ?? 0, r.roundsToCommitAfterGst)), undefined),
    violations: results.flatMap((r) =>
      r.violation ? [{ seed: r.seed, invariant: r.violation.invariant, detail: r.violation.detail, atMs: Math.round(r.violation.atMs), trace: r.violation.trace }] : [],
    ),
    results,
  };
  return seeds === 1 && results[0] ? { ...summary, traceHash: results[0].traceHash } : summary;
}
