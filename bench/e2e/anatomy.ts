/**
 * What one consensus round costs each validator, from the validators' own Prometheus metrics
 * read at both edges of the measured window: the durations the runtime already records (QC
 * formation, handling each message type, BLS QC checks, durable-group flushes), divided by the
 * rounds certified in the window and averaged over the validators. It says where a round's wall
 * time goes (block 1 is a string of rounds), which the CPU profile, a sum over all threads,
 * cannot. These are wall times: they include fsync waits and waiting for a core.
 *
 * Averages over validators: only the next leader handles a round's votes (about n times the
 * column there), and the leader handles its own proposal inline, not as a message. Flushes are
 * those of every step (proposals, votes, queued requests, timers, asynchronous payload checks),
 * and the leader's check of the aggregated votes is not timed as a QC check.
 */
import { significant } from '../harness.js';
import { metricValue } from './cluster.js';

export interface RoundAnatomy {
  /** Validators whose metrics were read at both edges of the window. */
  readonly validators: number;
  /** Rounds each of them saw certified in the window (mean). */
  readonly rounds: number;
  /** From entering a round to holding its QC, ms (mean over rounds). */
  readonly qcFormationMs: number;
  /** Per round and validator, ms: handling proposals (QC check, payload check, vote, its flush, executing what it commits). */
  readonly proposalMsPerRound: number;
  /** Per round and validator, ms: handling votes (at the next leader: aggregation, the QC, its own proposal). */
  readonly voteMsPerRound: number;
  /** Per round and validator, ms: BLS QC verification (of proposals' and timeouts' QCs), mostly inside the two above. */
  readonly qcVerifyMsPerRound: number;
  /** Per round and validator, ms: committing and flushing durable groups (LMDB) of every step. */
  readonly flushMsPerRound: number;
  /** Durable groups per round and validator; one that wrote nothing (a step that only queued requests) costs microseconds. */
  readonly flushesPerRound: number;
}

const SERIES = {
  rounds: ['vsmr_qc_formation_seconds_count'],
  qcFormation: ['vsmr_qc_formation_seconds_sum'],
  proposal: ['vsmr_message_handling_seconds_sum', 'type="proposal"'],
  vote: ['vsmr_message_handling_seconds_sum', 'type="vote"'],
  qcVerify: ['vsmr_bls_verify_seconds_sum', 'kind="qc"'],
  flush: ['vsmr_durable_flush_seconds_sum'],
  flushes: ['vsmr_durable_flush_seconds_count'],
} as const satisfies Record<string, readonly [string, string?]>;

type Series = keyof typeof SERIES;

/** Per-round figures from /metrics texts at the window's open and close (one per validator); null without rounds. */
export function roundAnatomy(open: readonly (string | undefined)[], close: readonly (string | undefined)[]): RoundAnatomy | null {
  const total = Object.fromEntries(Object.keys(SERIES).map((k) => [k, 0])) as Record<Series, number>;
  let validators = 0;
  for (let i = 0; i < close.length; i++) {
    const before = open[i];
    const after = close[i];
    if (before === undefined || after === undefined) continue;
    // A validator that answered without the round counter (an empty or cut reply) is not read.
    if (metricValue(before, SERIES.rounds[0]) === undefined || metricValue(after, SERIES.rounds[0]) === undefined) continue;
    const delta = {} as Record<Series, number>;
    let complete = true;
    for (const key of Object.keys(SERIES) as Series[]) {
      const [name, label] = SERIES[key];
      // A labelled series never observed is absent from the text: zero.
      const a = metricValue(after, name, label) ?? 0;
      const b = metricValue(before, name, label) ?? 0;
      if (a < b) complete = false;
      delta[key] = a - b;
    }
    if (!complete) continue;
    validators++;
    for (const key of Object.keys(SERIES) as Series[]) total[key] += delta[key];
  }
  if (validators === 0 || total.rounds === 0) return null;
  const perRoundMs = (seconds: number) => significant((seconds * 1000) / total.rounds);
  return {
    validators,
    rounds: significant(total.rounds / validators),
    qcFormationMs: perRoundMs(total.qcFormation),
    proposalMsPerRound: perRoundMs(total.proposal),
    voteMsPerRound: perRoundMs(total.vote),
    qcVerifyMsPerRound: perRoundMs(total.qcVerify),
    flushMsPerRound: perRoundMs(total.flush),
    flushesPerRound: significant(total.flushes / total.rounds),
  };
}

/**
 * Where a committed command's latency goes, from the validators' `vsmr_request_stage_seconds`
 * read at both edges of the window: the means, over the requests of the validators' own clients
 * that committed in the window, of each stage at the validator the client sent it to. The
 * client's latency minus their sum is the rest of the way: the submit stream to the validator
 * and the reply back.
 */
export interface RequestAnatomy {
  /** Requests whose receipt the window saw (all stages but queued/ordering count these). */
  readonly requests: number;
  /** Received to verdict: the validation pool's queue and the signature check, ms. */
  readonly validateMs: number;
  /** Verdict to the proposal that carries it reaching this validator: relay to the leader, waiting for its next proposal, transit, ms. */
  readonly queuedMs: number;
  /** That proposal to the block's commit here: the two-chain rule, ms. */
  readonly orderingMs: number;
  /** Commit to receipt: executing the block and its flush, ms. */
  readonly executeMs: number;
  /** Received to receipt, the whole stay at the validator, over the same requests as validate and execute, ms. */
  readonly serverMs?: number;
  /** Receipts with a queued/ordering split (their proposal was timed here): those two means are over these only. */
  readonly orderedRequests?: number;
}

const STAGES = ['validate', 'queued', 'ordering', 'execute', 'server'] as const;

/** Per-request stage means from /metrics texts at the window's open and close; null without receipts. */
export function requestAnatomy(open: readonly (string | undefined)[], close: readonly (string | undefined)[]): RequestAnatomy | null {
  const sum = { validate: 0, queued: 0, ordering: 0, execute: 0, server: 0 };
  const count = { validate: 0, queued: 0, ordering: 0, execute: 0, server: 0 };
  for (let i = 0; i < close.length; i++) {
    const before = open[i];
    const after = close[i];
    if (before === undefined || after === undefined) continue;
    for (const stage of STAGES) {
      const label = `stage="${stage}"`;
      const s = (metricValue(after, 'vsmr_request_stage_seconds_sum', label) ?? 0) - (metricValue(before, 'vsmr_request_stage_seconds_sum', label) ?? 0);
      const c = (metricValue(after, 'vsmr_request_stage_seconds_count', label) ?? 0) - (metricValue(before, 'vsmr_request_stage_seconds_count', label) ?? 0);
      // A validator restarted in between (counters fell) is not read.
      if (s < 0 || c < 0) continue;
      sum[stage] += s;
      count[stage] += c;
    }
  }
  if (count.execute === 0) return null;
  const meanMs = (stage: (typeof STAGES)[number]) => (count[stage] === 0 ? 0 : significant((sum[stage] * 1000) / count[stage]));
  return {
    requests: count.execute,
    validateMs: meanMs('validate'),
    queuedMs: meanMs('queued'),
    orderingMs: meanMs('ordering'),
    executeMs: meanMs('execute'),
    // Recorded from 2026-11-27 (late) on; undefined in older results.
    ...(count.server > 0 ? { serverMs: meanMs('server') } : {}),
    orderedRequests: count.ordering,
  };
}
