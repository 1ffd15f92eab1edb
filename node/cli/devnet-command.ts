import { type Command, InvalidArgumentError } from 'commander';
import { runDevnet } from '../devnet/devnet.js';

function intIn(flag: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return n;
  };
}

export function registerDevnetCommand(program: Command): void {
  program
    .command('devnet')
    .description('the main job: a local devnet of N validator processes on loopback under client load')
    .option('--replicas <n>', 'validators', intIn('--replicas', 1, 16), 4)
    .option('--duration <s>', 'seconds of client load', intIn('--duration', 1, 3600), 20)
    .option('--concurrency <c>', 'client commands in flight', intIn('--concurrency', 1, 4096), 64)
    .option('--keep', 'keep the temp dir (genesis, homes, logs)')
    .option('--json', 'print one JSON summary object')
    .action(async (opts: { replicas: number; duration: number; concurrency: number; keep?: boolean; json?: boolean }) => {
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const summary = await runDevnet({
          replicas: opts.replicas,
          durationS: opts.duration,
          concurrency: opts.concurrency,
          keep: opts.keep ?? false,
          signal: abort.signal,
          ...(opts.json ? {} : { onStatus: (line: string) => process.stderr.write(`${line}\n`) }),
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else {
          process.stdout.write(
            `devnet: ${summary.replicas} validators, ${summary.committed} commands committed in ${summary.durationS} s ` +
              `(${summary.throughput}/s, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms), height ${summary.height}, ` +
              `${summary.agreed ? 'all validators agree' : 'VALIDATORS DISAGREE'}${summary.dir ? `; files in ${summary.dir}` : ''}\n`,
          );
        }
        process.exitCode = summary.agreed && summary.committed > 0 ? 0 : 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
