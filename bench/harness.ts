import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** One measured operation; `n` is the validator / share count where it matters, else 1. */
export interface BenchRecord {
  op: string;
  backend: string;
  n: number;
  msPerOp: number;
  opsPerSec: number;
  iterations: number;
  note?: string;
}

export interface MeasureOptions {
  /** Keep iterating until this much time has passed... */
  minMs: number;
  /** ...and at least this many iterations ran. Also a hard cap of 10x minMs applies. */
  minIterations: number;
}

/**
 * Times `fn` after one warm-up call. Iterations are bounded by count and wall time both, so a
 * slow backend cannot make the benchmark run away.
 */
export function measure(fn: () => unknown, opts: MeasureOptions): { msPerOp: number; iterations: number } {
  fn();
  const start = performance.now();
  const hardStop = start + opts.minMs * 10;
  let iterations = 0;
  let now = start;
  while ((now - start < opts.minMs || iterations < opts.minIterations) && (iterations === 0 || now < hardStop)) {
    fn();
    iterations++;
    now = performance.now();
  }
  return { msPerOp: (now - start) / iterations, iterations };
}

export function record(op: string, backend: string, n: number, m: { msPerOp: number; iterations: number }, note?: string): BenchRecord {
  const r: BenchRecord = { op, backend, n, msPerOp: significant(m.msPerOp, 4), opsPerSec: significant(1000 / m.msPerOp, 4), iterations: m.iterations };
  if (note) r.note = note;
  return r;
}

/** `v` to `digits` significant digits: how every benchmark figure is written. */
export function significant(v: number, digits = 3): number {
  return Number(v.toPrecision(digits));
}

export function table(records: readonly BenchRecord[]): string {
  const rows = records.map((r) => [r.op, r.backend, String(r.n), String(r.msPerOp), String(r.opsPerSec), String(r.iterations)]);
  const head = ['op', 'backend', 'n', 'ms/op', 'ops/s', 'iters'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * Where benchmarks write: bench/ (results, charts, REPORT.md) by default; `npm run bench -- --quick`
 * points VSMR_BENCH_OUT at a scratch dir so a smoke run never overwrites the measured figures.
 */
export function benchPath(...parts: string[]): string {
  return join(process.env['VSMR_BENCH_OUT'] ?? 'bench', ...parts);
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
