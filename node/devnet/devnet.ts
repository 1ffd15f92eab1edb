import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { percentile, submitCommands } from '../../client/submit.js';
import type { QcKind } from '../../crypto/qc/types.js';
import { loadGenesis } from '../../protocol/genesis.js';
import { sharedMachineValidationWorkers } from '../config/validation-workers.js';
import { type NodeStatus, readStatus } from '../observability/http.js';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'vsmr.js');

export interface DevnetOptions {
  readonly replicas: number;
  readonly durationS: number;
  readonly concurrency: number;
  readonly keep: boolean;
  /**
   * Byzantine validators (indices 1..byzantine, so validator 1 leads round 1 and every n-th
   * round after it), each a real process started with `--unsafe-byzantine behavior`. At most
   * f = floor((n - 1) / 3): beyond that honest agreement is not guaranteed (the CLI refuses).
   */
  readonly byzantine?: number;
  readonly behavior?: string;
  /** How the chain's QCs are formed (vsmr genesis --qc); default multisig. */
  readonly qc?: QcKind;
  /** Each validator's validation worker threads (config validationWorkers); when absent, sharedMachineValidationWorkers(replicas). */
  readonly validationWorkers?: number;
  /** Called about once a second with a one-line status; omitted for --json. */
  readonly onStatus?: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface DevnetSummary {
  readonly replicas: number;
  /** From the first submit to the last commit: the load's window, which `throughput` is over (not the proofs' drain after it). */
  readonly durationS: number;
  readonly committed: number;
  /** Commits whose certificate and log inclusion proof the client verified against the genesis. */
  readonly verified: number;
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly height: number;
  readonly rounds: number;
  /** Every honest validator at one height with one state root (and, without Byzantine ones, every validator). */
  readonly agreed: boolean;
  readonly byzantine: number;
  readonly behavior: string | null;
  /**
   * Honest validators agree on height, state root and log root at a common height, and that
   * height grew during the run (they kept committing).
   */
  readonly honestAgree: boolean;
  /** Equivocation evidence the honest validators recorded, summed over them (their metrics). */
  readonly evidence: number;
  /** The lowest gossipsub score any honest validator gives any Byzantine one; null without them. */
  readonly minByzantineScore: number | null;
  /**
   * Compact proposals the honest validators did not rebuild, summed over them (one block counts
   * once per validator): the sender withheld requests it proposed, or the proposal was not worth
   * a fetch (not from its round's leader, or a round long past or far ahead). They did not vote
   * for those.
   */
  readonly unavailableProposals: number;
  /** Each honest validator's validation worker threads, as its metrics report them (0: checked on the main thread). */
  readonly validationWorkers: readonly number[];
  readonly dir: string | null;
}

/** What a validator serves on /status. */
type Status = NodeStatus;

async function metricsText(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  } catch {
    return '';
  }
}

/** Values of `name` in Prometheus text whose labels include every `want` pair. */
export function metricValues(text: string, name: string, want: Readonly<Record<string, string>> = {}): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{\s]+(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = new Map([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(want).every(([k, v]) => labels.get(k) === v)) out.push(Number(m[2]));
  }
  return out;
}

const status = (port: number): Promise<Status | undefined> => readStatus(port).catch(() => undefined);

/**
 * The main job: a fresh genesis in a temp dir, N validator processes on loopback, a
 * closed-loop client for the duration, a live status line, then every child stopped by PID
 * and a summary. No child outlives it: they are stopped on every exit path.
 */
export async function runDevnet(opts: DevnetOptions): Promise<DevnetSummary> {
  const byzantine = opts.byzantine ?? 0;
  const byzIndices = Array.from({ length: byzantine }, (_, k) => k + 1);
  const honestIdx = Array.from({ length: opts.replicas }, (_, i) => i).filter((i) => !byzIndices.includes(i));
  if (byzantine > 0 && !opts.behavior) throw new Error('a Byzantine devnet needs a behaviour');
  const dir = await mkdtemp(join(tmpdir(), 'vsmr-devnet-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stopAll = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  };
  try {
    // Below the kernel's ephemeral range (32768+), so no outgoing connection can hold our ports.
    const basePort = 20_000 + Math.floor(Math.random() * 12_000);
    await run(process.execPath, [CLI, 'genesis', '--validators', String(opts.replicas), '--out', dir, '--base-port', String(basePort), '--qc', opts.qc ?? 'multisig']);
    // The validators share this machine's cores: explicit, since a validator's own default
    // assumes the cores are its own.
    const workers = opts.validationWorkers ?? sharedMachineValidationWorkers(opts.replicas);
    for (let i = 0; i < opts.replicas; i++) {
      const home = join(dir, `node-${i}`);
      const configPath = join(home, 'config.json');
      const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
      ports.push(config['metricsPort'] as number);
      config['validationWorkers'] = workers;
      await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
      const log = await open(join(dir, `node-${i}.log`), 'w');
      const args = [CLI, 'start', '--home', home, ...(byzIndices.includes(i) ? ['--unsafe-byzantine', opts.behavior!] : [])];
      children.push(spawn(process.execPath, args, { stdio: ['ignore', log.fd, log.fd] }));
      await log.close();
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const all = await Promise.all(ports.map(status));
      if (all.every((s) => s !== undefined && s.peers >= opts.replicas - 1)) break;
      if (Date.now() > deadline) throw new Error(`validators did not connect within 60 s; logs in ${dir}`);
      if (opts.signal?.aborted) throw new Error('interrupted');
      await new Promise((r) => setTimeout(r, 200));
    }

    const genesis = await loadGenesis(join(dir, 'genesis.json'));
    const first = (await status(ports[0]!))!;
    const honestPorts = honestIdx.map((i) => ports[i]!);
    const startHeight = Math.max(...(await Promise.all(honestPorts.map(status))).map((s) => s?.height ?? 0));
    const latencies: number[] = [];
    const started = performance.now();
    let lastCommitAt = started;
    const until = started + opts.durationS * 1000;
    let lastCount = 0;
    const ticker = setInterval(async () => {
      const s = await status(ports[0]!);
      if (!s || !opts.onStatus) return;
      const now = latencies.length;
      const sorted = [...latencies].sort((a, b) => a - b);
      opts.onStatus(
        `height ${s.height}  round ${s.round}  leader ${s.leader}  commits/s ${now - lastCount}  p50 ${percentile(sorted, 50)} ms  p99 ${percentile(sorted, 99)} ms  rounds without a block ${s.round - s.height - (first.round - first.height)}`,
      );
      lastCount = now;
    }, 1000);
    // One closed-loop client per honest validator, so no single ingress is the bottleneck (a
    // Byzantine one may never answer, or answer with lies the client would rightly refuse).
    const per = Math.max(1, Math.floor(opts.concurrency / honestIdx.length));
    const loads = await Promise.all(
      honestIdx.map((i) =>
        submitCommands(genesis, {
          count: Number.MAX_SAFE_INTEGER,
          target: i,
          concurrency: per,
          untilMs: until,
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
          onCommit: (ms) => {
            latencies.push(ms);
            lastCommitAt = performance.now();
          },
          // The light client checks each commit's certificate and log inclusion proof from the
          // validator it submitted to; bounded in flight, and drained for at most 10 s at the end.
          verify: { concurrency: 2, drainMs: 10_000 },
        }),
      ),
    );
    clearInterval(ticker);
    // The proofs' drain (up to 10 s after the load) is not the load's time.
    const elapsed = Math.max(0.001, (lastCommitAt - started) / 1000);
    const finals = await Promise.all(honestPorts.map(status));
    const heights = finals.map((s) => s?.height ?? -1);
    const settled = async () => {
      for (let k = 0; k < 50; k++) {
        const all = await Promise.all(honestPorts.map(status));
        if (all.every((s) => s && s.height === all[0]!.height && s.stateRoot === all[0]!.stateRoot && s.logRoot === all[0]!.logRoot)) return all[0]!;
        await new Promise((r) => setTimeout(r, 200));
      }
      return undefined;
    };
    const agreedAt = await settled();
    // What the honest validators saw of the Byzantine ones, read from their own metrics.
    const texts = await Promise.all(honestPorts.map(metricsText));
    const evidence = texts.reduce((a, t) => a + metricValues(t, 'vsmr_equivocation_evidence_total').reduce((x, y) => x + y, 0), 0);
    const scores = texts.flatMap((t) => byzIndices.flatMap((b) => metricValues(t, 'vsmr_peer_score', { peer: String(b) })));
    const unavailableProposals = texts.reduce((a, t) => a + metricValues(t, 'vsmr_rejected_messages_total', { reason: 'proposal-unavailable' }).reduce((x, y) => x + y, 0), 0);
    latencies.sort((a, b) => a - b);
    const committed = loads.reduce((a, l) => a + l.committed, 0);
    const summary: DevnetSummary = {
      replicas: opts.replicas,
      durationS: Number(elapsed.toFixed(2)),
      committed,
      verified: loads.reduce((a, l) => a + l.verified, 0),
      throughput: Number((committed / elapsed).toFixed(1)),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      height: agreedAt?.height ?? Math.max(...heights),
      rounds: agreedAt?.round ?? 0,
      agreed: agreedAt !== undefined,
      byzantine,
      behavior: byzantine > 0 ? opts.behavior! : null,
      honestAgree: agreedAt !== undefined && agreedAt.height > startHeight,
      evidence,
      minByzantineScore: scores.length > 0 ? Number(Math.min(...scores).toFixed(2)) : null,
      unavailableProposals,
      validationWorkers: texts.map((t) => metricValues(t, 'vsmr_validation_workers')[0] ?? Number.NaN),
      dir: opts.keep ? dir : null,
    };
    await stopAll();
    if (!opts.keep) await rm(dir, { recursive: true, force: true });
    return summary;
  } finally {
    // Also on failure, whose error names the dir for its logs: that dir is kept.
    await stopAll();
  }
}
