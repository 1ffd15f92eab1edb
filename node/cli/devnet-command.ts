import { type Command, Option } from 'commander';
import { QC_KINDS, type QcKind } from '../../crypto/qc/types.js';
import { maxValidationWorkers } from '../config/validation-workers.js';
import { integerFlag } from './flag-parsers.js';
import { UsageError } from './usage-error.js';
import { runDevnet } from '../devnet/devnet.js';
import { REAL_BYZANTINE_BEHAVIORS } from '../runtime/byzantine-transport.js';

export function registerDevnetCommand(program: Command): void {
  program
    .command('devnet')
    .description('the main job: a local devnet of N validator processes on loopback under client load')
    .option('--replicas <n>', 'validators', integerFlag('--replicas', 1, 16), 4)
    .option('--duration <s>', 'seconds of client load', integerFlag('--duration', 1, 3600), 20)
    .option('--concurrency <c>', 'client commands in flight', integerFlag('--concurrency', 1, 4096), 64)
    .option('--byzantine <k>', 'Byzantine validator processes (at most f = floor((replicas - 1) / 3))', integerFlag('--byzantine', 0, 16), 0)
    .option('--behavior <name>', `their behaviour: ${REAL_BYZANTINE_BEHAVIORS.join(', ')} (or a,b to compose)`)
    .option('--validation-workers <k>', "each validator's validation worker threads (config validationWorkers; default floor(cores / replicas), none below 2 cores each; 0 checks requests on the main thread)", integerFlag('--validation-workers', 0, maxValidationWorkers()))
    .addOption(new Option('--qc <scheme>', 'quorum certificates: multi-signatures, or threshold signatures under a dealt group key').choices([...QC_KINDS]).default('multisig'))
    .option('--keep', 'keep the temp dir (genesis, homes, logs)')
    .option('--json', 'print one JSON summary object')
    .action(async (opts: { replicas: number; duration: number; concurrency: number; byzantine: number; behavior?: string; qc: QcKind; validationWorkers?: number; keep?: boolean; json?: boolean }) => {
      // --behavior alone means one Byzantine validator.
      const byzantine = opts.behavior !== undefined && opts.byzantine === 0 ? 1 : opts.byzantine;
      const f = Math.floor((opts.replicas - 1) / 3);
      if (byzantine > 0 && opts.behavior === undefined) throw new UsageError(`--byzantine needs --behavior (one of: ${REAL_BYZANTINE_BEHAVIORS.join(', ')})`);
      if (opts.behavior !== undefined) {
        const names = opts.behavior.split(',').map((s) => s.trim());
        const bad = names.find((n) => !REAL_BYZANTINE_BEHAVIORS.includes(n));
        if (bad !== undefined) throw new UsageError(`unknown --behavior ${JSON.stringify(bad)} (valid: ${REAL_BYZANTINE_BEHAVIORS.join(', ')})`);
      }
      // Refused rather than run: with more than f Byzantine validators the protocol promises no
      // agreement, so "honestAgree: false" would say nothing about the implementation.
      if (byzantine > f) throw new UsageError(`--byzantine ${byzantine} exceeds f = ${f} for ${opts.replicas} replicas; honest agreement is only guaranteed with at most f (use vsmr sim for f + 1)`);
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
          qc: opts.qc,
          byzantine,
          ...(opts.validationWorkers === undefined ? {} : { validationWorkers: opts.validationWorkers }),
          ...(opts.behavior === undefined ? {} : { behavior: opts.behavior }),
          signal: abort.signal,
          ...(opts.json ? {} : { onStatus: (line: string) => process.stderr.write(`${line}\n`) }),
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else {
          process.stdout.write(
            `devnet: ${summary.replicas} validators, ${summary.committed} commands committed in ${summary.durationS} s ` +
              `(${summary.throughput}/s, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms), height ${summary.height}, ` +
              `${summary.agreed ? (summary.byzantine > 0 ? 'honest validators agree' : 'all validators agree') : 'VALIDATORS DISAGREE'}` +
              (summary.byzantine > 0 ? `; ${summary.byzantine} Byzantine (${summary.behavior}): evidence ${summary.evidence}, lowest peer score ${summary.minByzantineScore}` : '') +
              `${summary.dir ? `; files in ${summary.dir}` : ''}\n`,
          );
        }
        process.exitCode = summary.agreed && summary.honestAgree && summary.committed > 0 ? 0 : 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
