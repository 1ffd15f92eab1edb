/**
 * `npm run bench [-- --quick]`: every benchmark in turn, each in its own process (so one
 * cannot warm or pollute another), then the report. --quick is passed to each: a smoke run
 * that CI executes without asserting speed.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const quick = process.argv.includes('--quick');
// A smoke run writes to a scratch dir (git-ignored), never over the measured figures in bench/.
const env = quick ? { ...process.env, VSMR_BENCH_OUT: process.env['VSMR_BENCH_OUT'] ?? '.tmp/bench-quick' } : process.env;
const steps = ['crypto', 'validation', 'sim', 'client', 'e2e-matrix', 'projection', 'report'];
const started = performance.now();
let failed = 0;
for (const step of steps) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [resolve(import.meta.dirname, `${step}.js`), ...(quick ? ['--quick'] : [])], { stdio: 'inherit', env });
  process.stderr.write(`bench: ${step} ${r.status === 0 ? 'done' : `FAILED (${r.status ?? r.signal})`} in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  if (r.status !== 0) failed++;
}
process.stderr.write(`bench: ${steps.length - failed}/${steps.length} steps in ${((performance.now() - started) / 1000).toFixed(0)} s; report in ${env['VSMR_BENCH_OUT'] ?? 'bench'}/REPORT.md\n`);
process.exitCode = failed === 0 ? 0 : 1;
