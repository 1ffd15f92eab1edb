/**
 * `vsmr bench compare`: two variants of one end-to-end point, run alternately on the same
 * machine, summarised by medians and ranges. Single points move by tens of percent between runs
 * on a shared 2-core machine, so a change is judged by pairs that alternate (each A next to its
 * B, in the same minute), never by two matrices hours apart. A variant is a set of `vsmr bench
 * e2e` flags and, optionally, another checkout's root (to compare builds).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** What one run reports, from `vsmr bench e2e --json`. */
export interface CompareRun {
  readonly variant: 'a' | 'b';
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuMsPerCommand: number;
  readonly commandsPerBlock: number;
  readonly viewChanges: number | null;
  readonly validationWorkers: number | null;
}

export const COMPARED_METRICS = ['throughput', 'p50Ms', 'p99Ms', 'cpuMsPerCommand', 'commandsPerBlock'] as const;
export type ComparedMetric = (typeof COMPARED_METRICS)[number];

export interface MetricSummary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface CompareSummary {
  readonly runs: { readonly a: number; readonly b: number };
  readonly a: Record<ComparedMetric, MetricSummary> | null;
  readonly b: Record<ComparedMetric, MetricSummary> | null;
  /** B's median over A's, per metric; null when either side has no run. */
  readonly ratio: Record<ComparedMetric, number> | null;
  /** View changes summed over each side's runs (each run's figure is the most any validator saw; a run without one counts 0). */
  readonly viewChanges: { readonly a: number; readonly b: number };
}

/** A run's variant failed: its exit code or what it printed instead of one JSON object. */
export class CompareRunError extends Error {
  constructor(
    readonly variant: 'a' | 'b',
    readonly run: number,
    detail: string,
  ) {
    super(`run ${run} of variant ${variant.toUpperCase()} failed: ${detail}`);
    this.name = 'CompareRunError';
  }
}

/** The middle value; the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function side(runs: readonly CompareRun[]): Record<ComparedMetric, MetricSummary> | null {
  if (runs.length === 0) return null;
  const out = {} as Record<ComparedMetric, MetricSummary>;
  for (const m of COMPARED_METRICS) {
    const v = runs.map((r) => r[m]);
    out[m] = { median: median(v), min: Math.min(...v), max: Math.max(...v) };
  }
  return out;
}

export function summarize(runs: readonly CompareRun[]): CompareSummary {
  const a = side(runs.filter((r) => r.variant === 'a'));
  const b = side(runs.filter((r) => r.variant === 'b'));
  let ratio: Record<ComparedMetric, number> | null = null;
  if (a && b) {
    ratio = {} as Record<ComparedMetric, number>;
    for (const m of COMPARED_METRICS) ratio[m] = a[m].median === 0 ? Number.NaN : b[m].median / a[m].median;
  }
  const vc = (v: 'a' | 'b') => runs.filter((r) => r.variant === v).reduce((s, r) => s + (r.viewChanges ?? 0), 0);
  return { runs: { a: runs.filter((r) => r.variant === 'a').length, b: runs.filter((r) => r.variant === 'b').length }, a, b, ratio, viewChanges: { a: vc('a'), b: vc('b') } };
}

/** Flags as one string, split on whitespace (no quoting: e2e flags take no spaces). */
export function splitFlags(text: string): string[] {
  return text.split(/\s+/).filter((f) => f.length > 0);
}

/** Reads one run's result from what `vsmr bench e2e --json` printed. */
export function parseRun(variant: 'a' | 'b', run: number, stdout: string): CompareRun {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new CompareRunError(variant, run, `printed no JSON object (${JSON.stringify(stdout.slice(0, 200))})`);
  }
  const num = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CompareRunError(variant, run, `its result has no number ${k}`);
    return v;
  };
  const optional = (k: string): number | null => (typeof r[k] === 'number' ? (r[k] as number) : null);
  return {
    variant,
    throughput: num('throughput'),
    p50Ms: num('p50Ms'),
    p99Ms: num('p99Ms'),
    cpuMsPerCommand: num('cpuMsPerCommand'),
    commandsPerBlock: num('commandsPerBlock'),
    viewChanges: optional('viewChanges'),
    validationWorkers: optional('validationWorkers'),
  };
}

export interface CompareOptions {
  readonly runs: number;
  /** `vsmr bench e2e` flags both variants share. */
  readonly common: readonly string[];
  readonly a: { readonly flags: readonly string[]; readonly root: string };
  readonly b: { readonly flags: readonly string[]; readonly root: string };
  /** Longest one run may take before it is stopped and counted as failed. */
  readonly runTimeoutMs: number;
  /** After a stop's SIGTERM, how long the run's processes get to exit before SIGKILL. Default 30 s. */
  readonly graceMs?: number;
  readonly signal?: AbortSignal;
  /** Filled with the process group of the run in flight (its leader's PID), for a caller that must kill it on exit. */
  readonly live?: Set<number>;
  /** Told of each run as it ends. */
  readonly onRun?: (run: CompareRun | CompareRunError) => void;
}

/**
 * The order of the variants in pair `i` (from 1): A then B, then B then A, and so on, so that
 * neither always runs first (a first run after a quiet spell, or a warm page cache, would
 * otherwise favour one side).
 */
export function pairOrder(i: number): readonly ['a', 'b'] | readonly ['b', 'a'] {
  return i % 2 === 1 ? (['a', 'b'] as const) : (['b', 'a'] as const);
}

/**
 * Runs A, B, B, A, A, B, ... `runs` times each, every run a fresh `vsmr bench e2e` process (without
 * floors or profiler: a comparison wants throughput and latency, and the profiler costs a
 * quarter to a third of them). A failed run is reported and the comparison goes on.
 */
export async function compareVariants(opts: CompareOptions): Promise<{ runs: CompareRun[]; failures: CompareRunError[]; summary: CompareSummary }> {
  const runs: CompareRun[] = [];
  const failures: CompareRunError[] = [];
  for (let i = 1; i <= opts.runs && !opts.signal?.aborted; i++) {
    for (const variant of pairOrder(i)) {
      if (opts.signal?.aborted) break;
      const v = opts[variant];
      // Ours first: a variant's last flag missing its value then fails as such, not by taking one of ours.
      const args = [join(v.root, 'bin', 'vsmr.js'), 'bench', 'e2e', '--no-floors', '--no-profile', '--json', ...opts.common, ...v.flags];
      let outcome: CompareRun | CompareRunError;
      try {
        const { code, signal, stdout, stderr, stopped } = await runChild(args, opts.runTimeoutMs, opts.graceMs ?? 30_000, opts.live ?? new Set(), opts.signal);
        if (stopped === 'timeout') outcome = new CompareRunError(variant, i, `timed out after ${Math.round(opts.runTimeoutMs / 1000)} s, stopped`);
        else if (stopped === 'abort') outcome = new CompareRunError(variant, i, 'interrupted');
        else if (code === 0) outcome = parseRun(variant, i, stdout);
        else outcome = new CompareRunError(variant, i, signal ? `killed by ${signal}` : `exit ${code}: ${failureReason(stdout, stderr)}`);
      } catch (err) {
        outcome = err instanceof CompareRunError ? err : new CompareRunError(variant, i, err instanceof Error ? err.message : String(err));
      }
      if (outcome instanceof CompareRunError) failures.push(outcome);
      else runs.push(outcome);
      opts.onRun?.(outcome);
    }
  }
  return { runs, failures, summary: summarize(runs) };
}

/**
 * Why a run failed: the e2e command's own error line (usage help may follow it), or, when it
 * printed its result and exited 1, what the result says (nothing committed, or no agreement).
 */
function failureReason(stdout: string, stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.trim().length > 0);
  const why = lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1];
  if (why) return why.trim().slice(0, 300);
  try {
    const r = JSON.parse(stdout) as { committed?: unknown; agreed?: unknown };
    return `committed ${String(r.committed)}, validators agreed: ${String(r.agreed)}`;
  } catch {
    return stdout.trim().slice(0, 300) || 'no output';
  }
}

interface ChildOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why compare stopped the run, if it did. */
  readonly stopped?: 'timeout' | 'abort';
}

/**
 * One run in a process group of its own: the e2e command and the validators it starts (POSIX
 * only). A stop (timeout or abort) sends SIGTERM to the whole group, then SIGKILL to whatever is
 * left after `graceMs`; a run that ends by itself but leaves members behind (its command died
 * before stopping its cluster) gets the same. The next run starts only once the group is empty,
 * or a second after its SIGKILL (a process nobody reaps stays a zombie and still answers a
 * signal). `live` holds the group while it exists, for a caller that must kill it on its way out.
 */
function runChild(args: readonly string[], timeoutMs: number, graceMs: number, live: Set<number>, signal?: AbortSignal): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = child.pid;
    if (pid !== undefined) live.add(pid);
    let stdout = '';
    let stderr = '';
    let stopped: 'timeout' | 'abort' | undefined;
    let closed: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    // The first lines say why a run failed (usage help may follow them): keep the start.
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(0, 64 * 1024)));
    const group = (sig: NodeJS.Signals | 0): boolean => {
      if (pid === undefined) return false;
      try {
        process.kill(-pid, sig);
        return true;
      } catch {
        return false;
      }
    };
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      clearInterval(poll);
      signal?.removeEventListener('abort', onAbort);
      if (pid !== undefined) live.delete(pid);
      if (err) reject(err);
      else resolve({ code: closed?.code ?? null, signal: closed?.signal ?? null, stdout, stderr, ...(stopped ? { stopped } : {}) });
    };
    let terminating = false;
    /** SIGTERM now, SIGKILL after the grace, give up a second later. */
    const terminate = () => {
      if (terminating) return;
      terminating = true;
      group('SIGTERM');
      timers.push(setTimeout(() => group('SIGKILL'), graceMs));
      timers.push(setTimeout(() => finish(), graceMs + 1000));
    };
    const stop = (why: 'timeout' | 'abort') => {
      if (stopped !== undefined || closed !== undefined) return;
      stopped = why;
      terminate();
    };
    const onAbort = () => stop('abort');
    // Every 100 ms once the command has exited: done when nothing of its group is left.
    const poll = setInterval(() => {
      if (closed !== undefined && !group(0)) finish();
    }, 100);
    timers.push(setTimeout(() => stop('timeout'), timeoutMs));
    if (signal?.aborted) stop('abort');
    else signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => finish(err));
    child.once('close', (code, sig) => {
      closed = { code, signal: sig };
      // Members left behind by a command that ended by itself: stop them the same way.
      if (group(0)) terminate();
      else finish();
    });
  });
}

/**
 * Flags as commander reads them: each option's value, a repeated option's last one winning.
 * A token not starting with -- is the value of the option before it; `--x=1` is `--x 1`.
 */
function flagOptions(flags: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const f of flags) {
    if (f.startsWith('--')) {
      const eq = f.indexOf('=');
      last = eq > 0 ? f.slice(0, eq) : f;
      out.set(last, eq > 0 ? f.slice(eq + 1) : '');
    } else if (last !== undefined) out.set(last, out.get(last) === '' ? f : `${out.get(last)} ${f}`);
    else out.set(f, '');
  }
  return out;
}

/** The value of the last `--name N` or `--name=N` among `flags` (commander takes the last), if any. */
export function lastFlagValue(flags: readonly string[], name: string): string | undefined {
  const value = flagOptions(flags).get(name);
  return value === '' ? undefined : value;
}

/**
 * Whether two flag lists mean the same options: order aside, a repeated flag's last value
 * winning. `--x 1 --y` and `--y --x 1` are the same variant; `--x 1 --x 2` and `--x 2 --x 1`
 * are not.
 */
export function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  const canonical = (flags: readonly string[]) => [...flagOptions(flags)].map(([k, v]) => `${k} ${v}`).sort().join('\n');
  return canonical(a) === canonical(b);
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(+v.toPrecision(3)));

/** Whether two sides' ranges share any value: if they do, the runs alone do not tell A from B. */
export function rangesOverlap(a: MetricSummary, b: MetricSummary): boolean {
  return a.min <= b.max && b.min <= a.max;
}

/**
 * The comparison as a text table: per metric, each side's median (min-max), B over A, and
 * whether the ranges overlap (a difference whose ranges overlap is not shown by these runs).
 */
export function formatSummary(s: CompareSummary): string {
  const rows = [`metric | A (${s.runs.a} runs): median (min-max) | B (${s.runs.b} runs): median (min-max) | B / A | ranges overlap`];
  for (const m of COMPARED_METRICS) {
    const cell = (x: MetricSummary | undefined) => (x ? `${fmt(x.median)} (${fmt(x.min)}-${fmt(x.max)})` : '-');
    const ratio = s.ratio && Number.isFinite(s.ratio[m]) ? s.ratio[m].toFixed(3) : '-';
    const overlap = s.a && s.b ? (rangesOverlap(s.a[m], s.b[m]) ? 'yes' : 'no') : '-';
    rows.push(`${m} | ${cell(s.a?.[m])} | ${cell(s.b?.[m])} | ${ratio} | ${overlap}`);
  }
  rows.push(`viewChanges | ${s.viewChanges.a} | ${s.viewChanges.b} | |`);
  return `${rows.join('\n')}\n`;
}
