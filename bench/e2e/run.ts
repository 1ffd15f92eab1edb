/**
 * One end-to-end benchmark point (`vsmr bench e2e`): floors first (on the idle machine, same
 * run), then a fresh loopback cluster of N `vsmr start` processes under V8's CPU profiler, a
 * closed-loop load, the CPU each process used in the measured window (kernel counters) split
 * into categories by the profiles, and one summary object.
 */
import { rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlsBackendName } from '../../crypto/bls/types.js';
import type { QcKind } from '../../crypto/qc/types.js';
import { nearestRank as pct } from '../../client/percentile.js';
import { significant } from '../harness.js';
import { type RequestAnatomy, type RoundAnatomy, requestAnatomy, roundAnatomy } from './anatomy.js';
import { metricValue, startCluster } from './cluster.js';
import { type CryptoFloor, cryptoFloorAt, type MessagingFloor, measureCryptoFloor, measureMessagingFloor, measureValidationCeiling, type ValidationCeiling } from './floors.js';
import { chainCommitGapBoundMs, longestCommitIntervalsMs } from './commit-intervals.js';
import { type FloodProcess, type ForgeryResult, spawnForgedFlood } from './forgery.js';
import { type LoadResult, runClosedLoop } from './load.js';
import { type Breakdown, CATEGORIES, emptyBreakdown, processBreakdown } from './profile.js';
import { type ProcessUsage, usageDelta, WORKER_THREAD_NAME } from './proc-usage.js';

export interface E2eOptions {
  readonly replicas: number;
  readonly batch: number;
  readonly durationS: number;
  readonly clients: number;
  readonly outstanding: number;
  readonly commandBytes: number;
  readonly unsigned: boolean;
  readonly bls: BlsBackendName;
  /** How the cluster's QCs are formed (genesis --qc); default multisig. */
  readonly qc?: QcKind;
  /** Skip the CPU profiler (and so the breakdown); default false. */
  readonly noProfile?: boolean;
  /** Skip the floors (matrix points that share another point's floors); default false. */
  readonly noFloors?: boolean;
  readonly quick?: boolean;
  /** Each validator's mempool bound (node config maxPendingRequests); the node's default when absent. */
  readonly maxPendingRequests?: number;
  /** Each validator's validation worker threads (node config validationWorkers); sharedMachineValidationWorkers(replicas) when absent. */
  readonly validationWorkers?: number;
  /** Clients flooding the validators with forged requests beside the load (bench/e2e/forgery.ts); none when absent. */
  readonly forgedClients?: number;
  /**
   * One more client beside the load, under one key, keeping this many valid requests in flight
   * (a client hogging the mempool) over sessions to every validator (GREEDY_PER_SESSION each at
   * most); its commits are not the load's. None when absent.
   */
  readonly greedyOutstanding?: number;
  readonly signal?: AbortSignal;
}

/** The greedy client's requests in flight per session, at most: a first burst its stream takes unread. */
const GREEDY_PER_SESSION = 1024;

/** What the greedy client (--greedy-outstanding) got, over its own window. */
export interface GreedyResult {
  readonly outstanding: number;
  readonly committed: number;
  /** Its committed commands/s. */
  readonly throughput: number;
  readonly p50Ms: number;
  readonly submitted: number;
  /** Answers other than a commit, by status and reason (busy, mostly). */
  readonly refusals: Readonly<Record<string, number>>;
  /** Requests lost with their session or frame, by error (LoadResult.failures). */
  readonly failures: Readonly<Record<string, number>>;
}

export interface E2eResult {
  readonly benchmark: 'e2e';
  readonly date: string;
  readonly replicas: number;
  readonly batch: number;
  readonly clients: number;
  readonly outstanding: number;
  readonly commandBytes: number;
  readonly unsigned: boolean;
  readonly bls: BlsBackendName;
  readonly qc: QcKind;
  readonly durationS: number;
  /** The validators' mempool bound, when the run set one (--max-pending). */
  readonly maxPendingRequests?: number;
  /** The validators' validation worker threads, when the run set them (--validation-workers). */
  readonly validationWorkers?: number;
  /** The forged-request flood run beside the load, when the run had one (--forged-clients). */
  readonly forgery?: ForgeryResult;
  /** The greedy client run beside the load, when the run had one (--greedy-outstanding). */
  readonly greedy?: GreedyResult;
  /** The validation pool's work per committed command, over all validators (vsmr_validation_tasks_total); null when not exported. */
  readonly validationWorkPerCommand?: { readonly worker: number; readonly main: number } | null;
  /** Committed commands/s in the measured window. */
  readonly throughput: number;
  readonly committed: number;
  /** Distinct requests made (signed); one sent again after a busy answer is not counted again. */
  readonly submitted: number;
  /** Refusing answers over the whole run, busy ones included: one request can collect several. */
  readonly rejected: number;
  readonly timedOut: number;
  readonly failed: number;
  /** Why requests failed (message -> count): transport errors, timeouts. */
  readonly failures: Readonly<Record<string, number>>;
  /** Refusing answers by status and reason over the run (`ignored: busy` is retried; the rest are final). */
  readonly refusals?: Readonly<Record<string, number>>;
  /** First submission to committed reply (busy retries included), ms; the bench client does not verify certificates. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** [latency ms, fraction of commits at or below it], 21 points. */
  readonly latencyCdf: readonly (readonly [number, number])[];
  /** Longest time in the window without a committed reply at any client (ms). */
  readonly maxGapMs: number;
  /**
   * The chain's longest time without a commit in the window, as an upper bound (ms): the
   * smallest, over the validators, of the histogram bucket that holds their longest interval
   * between commits (vsmr_commit_interval_seconds; commit-intervals.ts). A client gap
   * (maxGapMs) well above it is latency: commands waiting while blocks committed others. Null
   * when no validator's metrics were read, and in results from before 2026-11-26.
   */
  readonly maxChainGapMs?: number | null;
  /** The same bound per validator (null: unreadable). */
  readonly commitIntervalBoundsMs?: readonly (number | null)[];
  /**
   * Rounds left through a timeout certificate in the window, the most any validator saw: a
   * stall (maxGapMs) with view changes is a round that outlived its timer. Null when no
   * validator's metrics could be read at both edges of the window.
   */
  readonly viewChanges: number | null;
  /** Where a round's time goes at each validator (bench/e2e/anatomy.ts); null without rounds. */
  readonly roundAnatomy: RoundAnatomy | null;
  /** Where a committed command's latency goes at the validator its client sent it to (bench/e2e/anatomy.ts); null without receipts. */
  readonly requestAnatomy?: RequestAnatomy | null;
  /**
   * How proposals' requests travelled in the window, summed over the validators: sent by their
   * leaders as ids or as bytes, and, at the replicas that rebuilt compact proposals, found in
   * their own stash (`local`), carried inline, or fetched from the leader (node/runtime/
   * compact-proposals.ts). Null when no validator's metrics could be read at both edges.
   */
  readonly proposalRequests?: ProposalRequestCounts | null;
  /**
   * Bytes the validators sent each other per committed command, by protocol (`consensus`:
   * proposals and timeouts; `vote`; `requests`: the relay; `fetch`: answers to compact-proposal
   * fetches), from their `vsmr_bytes_out_total` (frame payloads, before noise and yamux framing).
   */
  readonly wireBytesPerCommand?: Readonly<Record<string, number>> | null;
  readonly blocks: number;
  readonly commandsPerBlock: number;
  /** CPU seconds (user + system, all threads) of all validator processes in the window. */
  readonly cpuSeconds: number;
  readonly cpuSecondsPerProcess: readonly number[];
  readonly cpuMsPerCommand: number;
  /** The kernel's part of cpuSeconds (system time: syscalls, page faults, scheduling). */
  readonly cpuSystemSeconds?: number;
  /**
   * Context switches of the validators' threads per committed command (from 2026-11-27 on):
   * voluntary (a thread blocked or waited) and involuntary (preempted while runnable).
   */
  readonly contextSwitchesPerCommand?: { readonly voluntary: number; readonly involuntary: number };
  /** CPU seconds of this process (the load generator) in the window. */
  readonly loadGeneratorCpuSeconds: number;
  /** Category -> CPU seconds (sums to cpuSeconds). */
  readonly breakdown: Breakdown;
  /** Share of cpuSeconds in named categories (all but 'unattributed'). */
  readonly breakdownCoverage: number;
  /** Profiler busy samples (wall time) over kernel CPU: above 1 when threads waited for a core. */
  readonly sampledOverCpu: number;
  readonly profiled: boolean;
  /** cores x single-core sodium ed25519 verifies/s / n, commands/s. */
  readonly validationCeiling: number;
  readonly validationCeilingDetail: ValidationCeiling;
  readonly fractionOfValidationCeiling: number;
  /** The measured window: from the open edge's readings to the close edge's (durationS is the planned one). */
  readonly windowS: number;
  /** The validators' CPU over the window by kernel thread name (MainThread, WorkerThread, V8Worker, ...), summed over them. */
  readonly cpuSecondsByThread: Readonly<Record<string, number>>;
  /** What makes this point's figures doubtful (pointProblems); empty when nothing does. */
  readonly problems: readonly string[];
  readonly cryptoFloor: CryptoFloor | null;
  /** The crypto floor for the blocks this run committed (commandsPerBlock), not full ones: what fractionOfCryptoFloor divides by. */
  readonly cryptoFloorAtMeasuredBlocks: number | null;
  readonly fractionOfCryptoFloor: number | null;
  readonly messagingFloor: MessagingFloor | null;
  /** Against the messaging floor scaled to the machine's cores (it ran on one thread). */
  readonly fractionOfMessagingFloor: number | null;
  readonly agreed: boolean;
  readonly machine: { readonly cores: number; readonly loadavg1: number; readonly node: string };
}

const r3 = (v: number) => significant(v);


/** The largest per-validator increase of a counter read at both edges; null if none was read twice. */
export interface ProposalRequestCounts {
  readonly sentAsId: number;
  readonly sentAsBytes: number;
  readonly local: number;
  readonly inline: number;
  readonly fetched: number;
}

/** A process's thread CPU as processBreakdown takes it: main, worker threads, and the others by name. */
function threadsOf(u: ProcessUsage): { mainSeconds: number; workersSeconds: number; helpers: Record<string, number> } {
  const helpers = Object.fromEntries(Object.entries(u.byThreadName).filter(([name]) => name !== 'MainThread' && name !== WORKER_THREAD_NAME));
  return { mainSeconds: u.mainThreadSeconds, workersSeconds: u.workerThreadsSeconds, helpers };
}

/** The validators' CPU over the window by thread name, summed over the processes (seconds, rounded). */
function cpuByThread(window: readonly ProcessUsage[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const u of window) for (const [name, v] of Object.entries(u.byThreadName)) out[name] = (out[name] ?? 0) + v;
  return Object.fromEntries(Object.entries(out).map(([name, v]) => [name, significant(v, 3)]));
}

/**
 * What makes a point's figures doubtful, in words for the report: a window the load generator
 * stretched (its event loop fell behind, so the edges came late), validators that used more CPU
 * than the cores hold in that window (readings not taken together), disagreement, or requests
 * that timed out or failed (their latencies are not in p50/p99).
 */
export function pointProblems(w: {
  windowS: number;
  plannedWindowS: number;
  cpuSeconds: number;
  cores: number;
  agreed: boolean;
  timedOut: number;
  failed: number;
  refusals?: Readonly<Record<string, number>>;
}): string[] {
  const out: string[] = [];
  if (Math.abs(w.windowS / w.plannedWindowS - 1) > 0.1) out.push(`window ${w.windowS.toFixed(2)} s against ${w.plannedWindowS} s planned`);
  if (w.cpuSeconds > w.cores * w.windowS * 1.02) out.push(`CPU ${w.cpuSeconds.toFixed(2)} s over ${w.cores} cores x ${w.windowS.toFixed(2)} s`);
  if (!w.agreed) out.push('validators did not agree');
  if (w.timedOut > 0) out.push(`${w.timedOut} requests timed out`);
  if (w.failed > 0) out.push(`${w.failed} requests failed`);
  // Busy is back-pressure and retried; any other refusal leaves a request neither committed nor failed.
  const final = Object.entries(w.refusals ?? {}).filter(([why]) => why !== 'ignored: busy');
  if (final.length > 0) out.push(`requests refused: ${final.map(([why, n]) => `${n} ${why}`).join(', ')}`);
  return out;
}

/** A counter's growth over the window, summed over the validators read at both edges (null: none). */
export function windowSum(open: readonly (number | undefined)[], close: readonly (number | undefined)[]): number | null {
  let sum: number | null = null;
  for (let i = 0; i < close.length; i++) {
    const after = close[i];
    const before = open[i];
    if (after !== undefined && before !== undefined) sum = (sum ?? 0) + after - before;
  }
  return sum;
}

/** A counter's growth over the window, summed over the validators (a series absent from a readable text counts 0). */
function windowMetricSum(metrics0: readonly (string | undefined)[], metrics1: readonly (string | undefined)[], name: string, label: string): number | null {
  const read = (texts: readonly (string | undefined)[]) => texts.map((t) => (t === undefined ? undefined : (metricValue(t, name, label) ?? 0)));
  return windowSum(read(metrics0), read(metrics1));
}

function proposalRequestCounts(metrics0: readonly (string | undefined)[], metrics1: readonly (string | undefined)[]): ProposalRequestCounts | null {
  const sum = (name: string, label: string) => windowMetricSum(metrics0, metrics1, name, label);
  const sentAsId = sum('vsmr_proposal_requests_sent_total', 'as="id"');
  if (sentAsId === null) return null;
  return {
    sentAsId,
    sentAsBytes: sum('vsmr_proposal_requests_sent_total', 'as="bytes"') ?? 0,
    local: sum('vsmr_proposal_requests_rebuilt_total', 'source="local"') ?? 0,
    inline: sum('vsmr_proposal_requests_rebuilt_total', 'source="inline"') ?? 0,
    fetched: sum('vsmr_proposal_requests_rebuilt_total', 'source="fetched"') ?? 0,
  };
}

/**
 * The validation pool's units of work per committed command, summed over the validators:
 * `worker`, tasks handed to a worker thread; `main`, calls checked on the main thread. Each
 * committed command was checked once at every validator, so worker tasks per command times the
 * requests a task carries is about n.
 */
function validationWorkPerCommand(metrics0: readonly (string | undefined)[], metrics1: readonly (string | undefined)[], committed: number): { worker: number; main: number } | null {
  if (committed <= 0) return null;
  const worker = windowMetricSum(metrics0, metrics1, 'vsmr_validation_tasks_total', 'where="worker"');
  const main = windowMetricSum(metrics0, metrics1, 'vsmr_validation_tasks_total', 'where="main"');
  if (worker === null || main === null) return null;
  return { worker: r3(worker / committed), main: r3(main / committed) };
}

const WIRE_TOPICS = ['consensus', 'vote', 'requests', 'fetch'] as const;

function wireBytesPerCommand(metrics0: readonly (string | undefined)[], metrics1: readonly (string | undefined)[], committed: number): Record<string, number> | null {
  if (committed <= 0) return null;
  const out: Record<string, number> = {};
  let total = 0;
  for (const topic of WIRE_TOPICS) {
    const bytes = windowMetricSum(metrics0, metrics1, 'vsmr_bytes_out_total', `topic="${topic}"`);
    if (bytes === null) return null;
    out[topic] = Math.round(bytes / committed);
    total += bytes;
  }
  out.total = Math.round(total / committed);
  return out;
}

export function windowDelta(open: readonly (number | undefined)[], close: readonly (number | undefined)[]): number | null {
  let most: number | null = null;
  for (let i = 0; i < close.length; i++) {
    const after = close[i];
    const before = open[i];
    if (after !== undefined && before !== undefined) most = Math.max(most ?? 0, after - before);
  }
  return most;
}

export async function runE2e(opts: E2eOptions): Promise<E2eResult> {
  const quick = opts.quick === true;
  const qc = opts.qc ?? 'multisig';
  const cores = availableParallelism();
  const ceiling = measureValidationCeiling(opts.replicas, quick);
  let cryptoFloor: CryptoFloor | null = null;
  let messagingFloor: MessagingFloor | null = null;
  if (!opts.noFloors) {
    cryptoFloor = measureCryptoFloor(opts.replicas, opts.batch, opts.bls, quick, qc, opts.unsigned);
    messagingFloor = await measureMessagingFloor(opts.replicas, opts.batch, opts.commandBytes, quick ? 1000 : 2000);
  }
  const profileDir = opts.noProfile ? undefined : join(tmpdir(), `vsmr-bench-prof-${process.pid}-${Date.now()}`);
  const cluster = await startCluster({
    replicas: opts.replicas,
    maxBatchCommands: opts.batch,
    bls: opts.bls,
    qc,
    unsigned: opts.unsigned,
    ...(opts.maxPendingRequests === undefined ? {} : { maxPendingRequests: opts.maxPendingRequests }),
    ...(opts.validationWorkers === undefined ? {} : { validationWorkers: opts.validationWorkers }),
    ...(profileDir ? { profileDir } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let cpu0: ProcessUsage[] = [];
  let cpu1: ProcessUsage[] = [];
  let us0 = 0;
  let us1 = 0;
  let self0 = process.cpuUsage();
  let self1 = self0;
  let closeScrapeLagMs = 0;
  let metrics0: (string | undefined)[] = [];
  let metrics1: (string | undefined)[] = [];
  const scrape = () => Promise.all(cluster.metricsPorts.map((_, i) => cluster.metricsText(i)));
  let load: Awaited<ReturnType<typeof runClosedLoop>>;
  let forgery: ForgeryResult | undefined;
  let greedy: GreedyResult | undefined;
  let flood: FloodProcess | undefined;
  let greedyLoad: Promise<LoadResult> | undefined;
  // The greedy loop ends with the run whatever ends it (the load failing included), not on its own window.
  const greedyStop = new AbortController();
  const stopGreedy = () => greedyStop.abort();
  opts.signal?.addEventListener('abort', stopGreedy, { once: true });
  let agreed = false;
  try {
    // The flood runs in a process of its own from the load's start to its end (warm-up included).
    flood =
      (opts.forgedClients ?? 0) > 0
        ? spawnForgedFlood(join(cluster.dir, 'genesis.json'), { attackers: opts.forgedClients!, frameRequests: 256, commandBytes: opts.commandBytes, maxRequests: 50_000_000 })
        : undefined;
    const loadTiming = { warmupMs: quick ? 500 : 1500, durationMs: opts.durationS * 1000, requestTimeoutMs: 15_000 } as const;
    // Its own closed loop, started with the load's and timed the same way; its commits are its own.
    const greedySessions = Math.max(opts.replicas, Math.ceil((opts.greedyOutstanding ?? 0) / GREEDY_PER_SESSION));
    greedyLoad =
      (opts.greedyOutstanding ?? 0) > 0
        ? runClosedLoop(cluster.genesis, {
            clients: greedySessions,
            outstanding: Math.ceil(opts.greedyOutstanding! / greedySessions),
            oneKey: true,
            commandBytes: opts.commandBytes,
            unsigned: opts.unsigned,
            ...loadTiming,
            maxCommands: 50_000_000,
            signal: greedyStop.signal,
          })
        : undefined;
    // Settled at once so that a failure of either is not left unhandled while the other runs.
    void greedyLoad?.catch(() => undefined);
    load = await runClosedLoop(cluster.genesis, {
      clients: opts.clients,
      outstanding: opts.outstanding,
      commandBytes: opts.commandBytes,
      unsigned: opts.unsigned,
      ...loadTiming,
      maxCommands: 5_000_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onWindow: async (edge) => {
        // The metrics scrapes stay outside the CPU window: before its first reading, after its last.
        if (edge === 'open') metrics0 = await scrape();
        // The window's instant: the load's commits, the kernel's counters, this process's CPU and
        // the profiler's clock (V8 monotonic microseconds) are all taken here, nothing awaited
        // between them but the /proc reads themselves.
        const at = performance.now();
        const us = Number(process.hrtime.bigint() / 1000n);
        const self = edge === 'open' ? process.cpuUsage() : process.cpuUsage(self0);
        const cpu = await cluster.usage();
        if (edge === 'open') {
          cpu0 = cpu;
          us0 = us;
          self0 = self;
        } else {
          cpu1 = cpu;
          us1 = us;
          self1 = self;
          // The closing scrape comes after the readings: a stall still running at the close is
          // read from it less this lag, in which the chain, its clients gone, may idle. Taken
          // once the scrape is back, it takes off a little too much: a lower bound stays one.
          metrics1 = await scrape();
          closeScrapeLagMs = performance.now() - at;
        }
        return at;
      },
    });
    forgery = await flood?.stop();
    if (greedyLoad !== undefined) {
      const g = await greedyLoad;
      greedy = {
        outstanding: greedySessions * Math.ceil(opts.greedyOutstanding! / greedySessions),
        committed: g.committed,
        throughput: r3(g.windowS > 0 ? g.committed / g.windowS : 0),
        p50Ms: r3(pct(g.latencies, 50)),
        submitted: g.submitted,
        refusals: g.refusals,
        failures: g.failures,
      };
    }
    for (let k = 0; k < 50 && !agreed && !opts.signal?.aborted; k++) {
      const all = await Promise.all(cluster.metricsPorts.map((_, i) => cluster.status(i)));
      agreed = all.every((s) => s && s.height === all[0]!.height && s.stateRoot === all[0]!.stateRoot);
      if (!agreed) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    opts.signal?.removeEventListener('abort', stopGreedy);
    if (greedy === undefined && greedyLoad !== undefined) {
      greedyStop.abort();
      await greedyLoad.catch(() => undefined);
    }
    await flood?.stop();
    await cluster.stop();
    await rm(cluster.dir, { recursive: true, force: true });
  }
  const window = cpu1.map((c, i) => (cpu0[i] === undefined ? c : usageDelta(cpu0[i], c)));
  const perProcess = window.map((u) => u.userSeconds + u.systemSeconds);
  const cpuSeconds = perProcess.reduce((a, b) => a + b, 0);
  const systemSeconds = window.reduce((a, u) => a + u.systemSeconds, 0);
  const perCommand = (total: number) => (load.committed > 0 ? r3(total / load.committed) : 0);
  const breakdown = emptyBreakdown();
  let sampled = 0;
  if (profileDir) {
    for (let i = 0; i < opts.replicas; i++) {
      const b = await processBreakdown(join(profileDir, `node-${i}`), us0, us1, perProcess[i] ?? 0, window[i] === undefined ? undefined : threadsOf(window[i]));
      for (const c of CATEGORIES) breakdown[c] += b.cpu[c];
      sampled += b.sampledBusySeconds;
    }
    if (!process.env.VSMR_KEEP_PROFILES) await rm(profileDir, { recursive: true, force: true });
    else process.stderr.write(`profiles kept in ${profileDir}\n`);
  } else breakdown.unattributed = cpuSeconds;
  for (const c of CATEGORIES) breakdown[c] = r3(breakdown[c]);
  const lat = load.latencies;
  const commitBounds = longestCommitIntervalsMs(metrics0, metrics1, load.windowS * 1000, closeScrapeLagMs);
  const throughput = load.windowS > 0 ? load.committed / load.windowS : 0;
  const blocks = load.blockSpan;
  // The crypto floor for the blocks this run committed (null without blocks or commits).
  const floorAtBlocks = cryptoFloor && blocks > 0 && load.committed > 0 ? cryptoFloorAt(cryptoFloor, load.committed / blocks) : null;
  const cdf = Array.from({ length: 21 }, (_, i) => [r3(pct(lat, Math.min(100, i * 5))), i / 20] as const);
  if (cdf.length > 0 && lat.length > 0) cdf[0] = [r3(lat[0]!), 0];
  if (lat.length > 0) cdf[20] = [r3(lat.at(-1)!), 1];
  return {
    benchmark: 'e2e',
    date: new Date().toISOString(),
    replicas: opts.replicas,
    batch: opts.batch,
    clients: opts.clients,
    outstanding: opts.outstanding,
    commandBytes: opts.commandBytes,
    unsigned: opts.unsigned,
    bls: opts.bls,
    qc,
    durationS: opts.durationS,
    ...(opts.maxPendingRequests === undefined ? {} : { maxPendingRequests: opts.maxPendingRequests }),
    ...(opts.validationWorkers === undefined ? {} : { validationWorkers: opts.validationWorkers }),
    ...(forgery === undefined ? {} : { forgery }),
    ...(greedy === undefined ? {} : { greedy }),
    throughput: r3(throughput),
    committed: load.committed,
    submitted: load.submitted,
    rejected: load.rejected,
    timedOut: load.timedOut,
    failed: load.failed,
    failures: load.failures,
    refusals: load.refusals,
    p50Ms: r3(pct(lat, 50)),
    p99Ms: r3(pct(lat, 99)),
    meanMs: r3(lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : 0),
    latencyCdf: cdf,
    maxGapMs: load.maxGapMs,
    maxChainGapMs: chainCommitGapBoundMs(commitBounds) ?? null,
    commitIntervalBoundsMs: commitBounds.map((b) => b ?? null),
    viewChanges: windowDelta(
      metrics0.map((t) => (t === undefined ? undefined : metricValue(t, 'vsmr_view_changes_total'))),
      metrics1.map((t) => (t === undefined ? undefined : metricValue(t, 'vsmr_view_changes_total'))),
    ),
    roundAnatomy: roundAnatomy(metrics0, metrics1),
    requestAnatomy: requestAnatomy(metrics0, metrics1),
    proposalRequests: proposalRequestCounts(metrics0, metrics1),
    wireBytesPerCommand: wireBytesPerCommand(metrics0, metrics1, load.committed),
    validationWorkPerCommand: validationWorkPerCommand(metrics0, metrics1, load.committed),
    blocks,
    commandsPerBlock: r3(blocks > 0 ? load.committed / blocks : 0),
    cpuSeconds: r3(cpuSeconds),
    cpuSecondsPerProcess: perProcess.map(r3),
    cpuMsPerCommand: r3(load.committed > 0 ? (cpuSeconds * 1000) / load.committed : 0),
    cpuSystemSeconds: r3(systemSeconds),
    contextSwitchesPerCommand: {
      voluntary: perCommand(window.reduce((a, u) => a + u.voluntarySwitches, 0)),
      involuntary: perCommand(window.reduce((a, u) => a + u.involuntarySwitches, 0)),
    },
    loadGeneratorCpuSeconds: r3((self1.user + self1.system) / 1e6),
    breakdown,
    // Threads named by nothing but their absence from the profiles are not covered.
    breakdownCoverage: r3(cpuSeconds > 0 ? 1 - (breakdown.unattributed + breakdown['other-threads']) / cpuSeconds : 0),
    cpuSecondsByThread: cpuByThread(window),
    sampledOverCpu: r3(cpuSeconds > 0 ? sampled / cpuSeconds : 0),
    profiled: profileDir !== undefined,
    validationCeiling: ceiling.commandsPerSec,
    validationCeilingDetail: ceiling,
    fractionOfValidationCeiling: r3(throughput / ceiling.commandsPerSec),
    cryptoFloor,
    cryptoFloorAtMeasuredBlocks: floorAtBlocks,
    fractionOfCryptoFloor: floorAtBlocks ? r3(throughput / floorAtBlocks) : null,
    messagingFloor,
    fractionOfMessagingFloor: messagingFloor ? r3(throughput / (messagingFloor.relayCommandsPerSec * cores)) : null,
    agreed,
    windowS: r3(load.windowS),
    problems: pointProblems({
      windowS: load.windowS,
      plannedWindowS: load.plannedWindowS,
      cpuSeconds,
      cores,
      agreed,
      timedOut: load.timedOut,
      failed: load.failed,
      refusals: load.refusals,
    }),
    machine: { cores, loadavg1: r3(loadavg()[0]!), node: process.version },
  };
}
