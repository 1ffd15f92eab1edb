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
  /** View changes summed over each side's runs. */
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
  readonly signal?: AbortSignal;
  /** Told of each run as it ends. */
  readonly onRun?: (run: CompareRun | CompareRunError) => void;
}

/**
 * Runs A, B, A, B, ... `runs` times each, every run a fresh `vsmr bench e2e` process (without
 * floors or profiler: a comparison wants throughput and latency, and the profiler costs a
 * quarter to a third of them). A failed run is reported and the comparison goes on.
 */
export async function compareVariants(opts: CompareOptions): Promise<{ runs: CompareRun[]; failures: CompareRunError[]; summary: CompareSummary }> {
  const runs: CompareRun[] = [];
  const failures: CompareRunError[] = [];
  for (let i = 1; i <= opts.runs && !opts.signal?.aborted; i++) {
    for (const variant of ['a', 'b'] as const) {
      if (opts.signal?.aborted) break;
      const v = opts[variant];
      const args = [join(v.root, 'bin', 'vsmr.js'), 'bench', 'e2e', ...opts.common, ...v.flags, '--no-floors', '--no-profile', '--json'];
      let outcome: CompareRun | CompareRunError;
      try {
        const { code, stdout, stderr } = await runChild(args, opts.runTimeoutMs, opts.signal);
        outcome = code === 0 ? parseRun(variant, i, stdout) : new CompareRunError(variant, i, `exit ${code}: ${lastLine(stderr) || lastLine(stdout)}`);
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

/** The line that says why: the first naming an error (usage help may follow it), else the last. */
function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  const why = lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? '';
  return why.trim().slice(0, 300);
}

/** One child process, stopped by its PID on timeout or abort. */
function runChild(args: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    // SIGTERM lets the e2e command stop its own cluster's processes.
    const stop = () => child.kill('SIGTERM');
    const timer = setTimeout(stop, timeoutMs);
    signal?.addEventListener('abort', stop, { once: true });
    child.once('error', (err) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      resolve({ code, stdout, stderr });
    });
  });
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(+v.toPrecision(3)));

/** The comparison as a text table: per metric, each side's median (min-max) and B over A. */
export function formatSummary(s: CompareSummary): string {
  const rows = [`metric | A (${s.runs.a} runs): median (min-max) | B (${s.runs.b} runs): median (min-max) | B / A`];
  for (const m of COMPARED_METRICS) {
    const cell = (x: MetricSummary | undefined) => (x ? `${fmt(x.median)} (${fmt(x.min)}-${fmt(x.max)})` : '-');
    const ratio = s.ratio ? s.ratio[m].toFixed(3) : '-';
    rows.push(`${m} | ${cell(s.a?.[m])} | ${cell(s.b?.[m])} | ${ratio}`);
  }
  rows.push(`viewChanges | ${s.viewChanges.a} | ${s.viewChanges.b} |`);
  return `${rows.join('\n')}\n`;
}
