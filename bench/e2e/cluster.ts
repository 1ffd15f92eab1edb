/**
 * A fresh loopback cluster of N `vsmr start` processes for one benchmark point: genesis with
 * the point's batch limit, per-node config (BLS backend, log level, the unsafe unsigned switch),
 * optionally every process under V8's sampling CPU profiler (`--cpu-prof`, which also profiles
 * the validation worker threads). Every child is stopped by PID on every exit path.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BlsBackendName } from '../../crypto/bls/types.js';
import type { QcKind } from '../../crypto/qc/types.js';
import { sharedMachineValidationWorkers } from '../../node/config/validation-workers.js';
import { type Genesis, loadGenesis } from '../../protocol/genesis.js';
import { type NodeStatus, readStatus } from '../../node/observability/http.js';
import { type ProcessUsage, readProcessUsage } from './proc-usage.js';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'vsmr.js');

export interface ClusterOptions {
  readonly replicas: number;
  readonly maxBatchCommands: number;
  readonly bls: BlsBackendName;
  readonly qc: QcKind;
  readonly unsigned: boolean;
  /** Directory for .cpuprofile files; no profiling when undefined. */
  readonly profileDir?: string;
  readonly baseTimeoutMs?: number;
  /** Written to every node's config.json when set. */
  readonly maxPendingRequests?: number;
  /** Validation worker threads per validator, written to every node's config.json; sharedMachineValidationWorkers(replicas) when absent. */
  readonly validationWorkers?: number;
  readonly signal?: AbortSignal;
}

export interface Cluster {
  readonly dir: string;
  readonly genesis: Genesis;
  readonly metricsPorts: readonly number[];
  readonly pids: readonly number[];
  /** CPU and scheduling counters of every validator process (all its threads) so far, from /proc. */
  usage(): Promise<ProcessUsage[]>;
  status(i: number): Promise<NodeStatus | undefined>;
  /** Validator i's /metrics text (Prometheus exposition); undefined if unreadable. */
  metricsText(i: number): Promise<string | undefined>;
  /** SIGTERM, wait for a clean exit (so the profiles are written), SIGKILL after 20 s. */
  stop(): Promise<void>;
}

export type { NodeStatus };

const fetchStatus = (port: number): Promise<NodeStatus | undefined> => readStatus(port).catch(() => undefined);

/**
 * The profiler's sampling interval: V8's 1 ms for up to 4 validators, longer in proportion above
 * (3 threads each): at n = 10 thirty sampled threads on 2 cores stretched rounds past the round
 * timeout, turning the point into a string of view changes. Shares stay well sampled either way
 * (thousands of samples per process in a 5 s window).
 */
export function profileIntervalUs(replicas: number): number {
  return 1000 * Math.max(1, Math.ceil(replicas / 4));
}

/**
 * Sums the samples of one metric in Prometheus text: every label set of it, or only those that
 * carry `label` (as written in the exposition, e.g. `type="proposal"`).
 */
export function metricValue(text: string, name: string, label?: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (label !== undefined) {
      const labels = line.slice(name.length, line.lastIndexOf(' '));
      // A whole label, not the tail of another one (`type=` inside `subtype=`).
      if (!labels.includes(`{${label}`) && !labels.includes(`,${label}`)) continue;
    }
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

async function fetchMetrics(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'vsmr-bench-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
            c.once('exit', () => {
              clearTimeout(t);
              r();
            });
          }),
      ),
    );
  };
  try {
    const basePort = 20_000 + Math.floor(Math.random() * 11_000);
    await run(process.execPath, [
      CLI,
      'genesis',
      '--validators',
      String(opts.replicas),
      '--out',
      dir,
      '--base-port',
      String(basePort),
      '--max-batch-commands',
      String(opts.maxBatchCommands),
      // Room for the batch: 1000 commands of up to 1 KiB plus request overhead.
      '--max-batch-bytes',
      String(2 * 1024 * 1024),
      ...(opts.baseTimeoutMs ? ['--base-timeout-ms', String(opts.baseTimeoutMs)] : []),
      '--qc',
      opts.qc,
    ]);
    if (opts.profileDir) await mkdir(opts.profileDir, { recursive: true });
    for (let i = 0; i < opts.replicas; i++) {
      const home = join(dir, `node-${i}`);
      const configPath = join(home, 'config.json');
      const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
      ports.push(config['metricsPort'] as number);
      config['blsBackend'] = opts.bls;
      config['logLevel'] = 'warn';
      if (opts.unsigned) config['unsafeUnsignedRequests'] = true;
      if (opts.maxPendingRequests !== undefined) config['maxPendingRequests'] = opts.maxPendingRequests;
      config['validationWorkers'] = opts.validationWorkers ?? sharedMachineValidationWorkers(opts.replicas);
      await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
      const log = await open(join(dir, `node-${i}.log`), 'w');
      const prof = opts.profileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${join(opts.profileDir, `node-${i}`)}`, `--cpu-prof-interval=${profileIntervalUs(opts.replicas)}`]
        : [];
      children.push(
        spawn(process.execPath, [...prof, CLI, 'start', '--home', home, ...(opts.unsigned ? ['--unsafe-unsigned'] : [])], {
          stdio: ['ignore', log.fd, log.fd],
        }),
      );
      await log.close();
    }
    const deadline = Date.now() + 90_000;
    for (;;) {
      const all = await Promise.all(ports.map(fetchStatus));
      if (all.every((s) => s !== undefined && s.peers >= opts.replicas - 1)) break;
      const dead = children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`a validator exited with code ${dead.exitCode} during startup; logs in ${dir}`);
      if (Date.now() > deadline) throw new Error(`validators did not connect within 90 s; logs in ${dir}`);
      if (opts.signal?.aborted) throw new Error('interrupted');
      await new Promise((r) => setTimeout(r, 200));
    }
    const genesis = await loadGenesis(join(dir, 'genesis.json'));
    return {
      dir,
      genesis,
      metricsPorts: ports,
      pids: children.map((c) => c.pid!),
      usage: () => Promise.all(children.map((c) => readProcessUsage(c.pid!))),
      status: (i) => fetchStatus(ports[i]!),
      metricsText: (i) => fetchMetrics(ports[i]!),
      stop: async () => {
        await stop();
      },
    };
  } catch (err) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Removes the cluster's directory (genesis, homes, logs). */
export async function removeCluster(c: Cluster): Promise<void> {
  await rm(c.dir, { recursive: true, force: true });
}
