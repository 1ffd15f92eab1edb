import type { Command } from 'commander';
import { CORRUPT_STORE_REMEDY, StorageCorruptionError, StorageError } from '../storage/codec.js';
import { readNodeConfig } from '../config/node-config.js';
import { readStatus } from '../observability/http.js';
import { startValidator } from '../runtime/launch.js';
import { LedgerRecoveryError } from '../runtime/validator-node.js';
import { AlreadyRunningError } from '../runtime/single-instance.js';

/** An error's first line, and what to do about a damaged store. */
function withRemedy(err: Error): string {
  const line = err.message.split('\n')[0];
  return err instanceof StorageCorruptionError ? `${line}; ${CORRUPT_STORE_REMEDY}` : line!;
}

/** `vsmr start` and `vsmr status`: run one validator, and ask a running one how it is doing. */
export function registerNodeCommands(program: Command): void {
  program
    .command('start')
    .description('run one validator in the foreground (SIGTERM / SIGINT stop it cleanly)')
    .requiredOption('--home <dir>', 'validator home directory (config.json, keys.json)')
    .option('--unsafe-unsigned', 'allow config.unsafeUnsignedRequests (benchmarks only: client signatures go unchecked)')
    .option('--fresh-safety-state', "start on a data directory that does not hold this key's safety state (its store was lost): the key may sign twice in rounds it signed in before (docs/DEPLOY.md section 6)")
    .option('--unsafe-byzantine <behavior>', 'UNSAFE, adversarial testing only: run as a Byzantine validator with this behaviour (equivocate, double-vote, flood, ...)')
    .action(async (opts: { home: string; unsafeUnsigned?: boolean; unsafeByzantine?: string; freshSafetyState?: boolean }) => {
      let running: Awaited<ReturnType<typeof startValidator>>;
      try {
        running = await startValidator(opts.home, {
          allowUnsafeUnsigned: opts.unsafeUnsigned === true,
          freshSafetyState: opts.freshSafetyState === true,
          ...(opts.unsafeByzantine === undefined ? {} : { unsafeByzantine: opts.unsafeByzantine }),
        });
      } catch (err) {
        // A data directory that cannot be used as it is (damaged, another chain's, another format,
        // in use by another process, a ledger that does not add up): the operator's to act on,
        // told in one line, as a bad config is (main.ts: exit 2).
        if (err instanceof StorageError || err instanceof LedgerRecoveryError || err instanceof AlreadyRunningError) {
          process.stderr.write(`vsmr start: ${withRemedy(err)}\n`);
          process.exitCode = 3;
          return;
        }
        throw err;
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          running.logger.info({ signal }, 'stopping');
          running.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        // A node that stopped itself serves nothing more: the process ends, so that a supervisor
        // (Restart=on-failure) sees it, instead of running on behind a /health of 503.
        // The line goes out first: what stops the rest may fail too (LMDB after a failed write).
        running.halted.then((err) => {
          process.stderr.write(`vsmr start: stopped on a fatal error: ${withRemedy(err)}\n`);
          process.exitCode = 3;
          running.stop().then(resolve, resolve);
        });
      });
    });

  program
    .command('status')
    .description("print a running validator's status (height, round, leader, roots, peers)")
    .requiredOption('--home <dir>', 'validator home directory')
    .option('--json', 'print one JSON object')
    .action(async (opts: { home: string; json?: boolean }) => {
      // A bad config is one line and exit 2 (main.ts).
      const config = await readNodeConfig(opts.home);
      const port = config.statusPort ?? config.metricsPort;
      let status: Record<string, unknown>;
      try {
        status = { ...(await readStatus(port, 5000)) };
      } catch (err) {
        process.stderr.write(`vsmr status: no validator answers on 127.0.0.1:${port} (${err instanceof Error ? err.message : String(err)})\n`);
        process.exitCode = 1;
        return;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(status)}\n`);
      else {
        const s = status as { index: number; height: number; round: number; leader: number; peers: number; stateRoot: string };
        process.stdout.write(`validator ${s.index}: height ${s.height}, round ${s.round}, leader ${s.leader}, peers ${s.peers}, state ${s.stateRoot}\n`);
      }
    });
}
