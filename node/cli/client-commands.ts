import type { Command } from 'commander';
import { submitCommands } from '../../client/submit.js';
import { loadGenesis } from '../../protocol/genesis.js';
import { bundleToJson } from '../../protocol/bundle.js';
import { registerLightClientCommands } from './client-command.js';
import { integerFlag } from './flag-parsers.js';
import { writeFile } from 'node:fs/promises';
import { makeFlagDirectory, UsageError } from './usage-error.js';
import { terminalSafe } from './terminal-safe.js';
import { join } from 'node:path';

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('client tools: submit commands, fetch and verify certificates and proofs');
  registerLightClientCommands(client);
  client
    .command('submit')
    .description('submit K signed commands to a validator and wait until each commits')
    .requiredOption('--genesis <file>', 'genesis.json of the chain')
    .requiredOption('--count <k>', 'number of commands', integerFlag('--count', 1))
    .option('--to <index>', 'validator to submit to', integerFlag('--to', 0), 0)
    .option('--concurrency <c>', 'commands in flight at once', integerFlag('--concurrency', 1), 16)
    .option('--proofs <dir>', 'fetch, verify and write each commit`s proof bundle into DIR; print position, result and path per command')
    .option('--json', 'print one JSON object')
    .action(async (opts: { genesis: string; count: number; to: number; concurrency: number; proofs?: string; json?: boolean }) => {
      // Bad input (a ConfigError, a UsageError) is one line and exit 2 (main.ts).
      const genesis = await loadGenesis(opts.genesis);
      if (opts.to >= genesis.validators.length) throw new UsageError(`--to ${opts.to}: the genesis has ${genesis.validators.length} validators`);
      const dir = opts.proofs;
      if (dir !== undefined) makeFlagDirectory('--proofs', dir);
      // What the bundle proves: the command's log position and result under a header certified at
      // `certifiedHeight`. The receipt's commit height is only the validator's word (a log proof
      // does not bind it), so it is not printed as if verified.
      const commits: { command: number; certifiedHeight: number; position: number; result: number; resultName: string; proof: string }[] = [];
      const s = await submitCommands(genesis, {
        count: opts.count,
        target: opts.to,
        concurrency: opts.concurrency,
        ...(dir === undefined
          ? {}
          : {
              verify: {
                onVerified: async (v) => {
                  const path = join(dir, `command-${v.index}.json`);
                  await writeFile(path, bundleToJson(v.bundle));
                  const c = { command: v.index, certifiedHeight: v.verified.executedHeight, position: v.receipt.position, result: v.receipt.result, resultName: v.receipt.resultName, proof: path };
                  commits.push(c);
                  if (!opts.json) process.stdout.write(`command ${c.command}: position ${c.position} result ${c.result} ${c.resultName} proof ${c.proof}\n`);
                },
                onFailed: (index, err) => process.stderr.write(`command ${index}: not verified: ${terminalSafe(err.message)}\n`),
              },
            }),
      });
      commits.sort((a, b) => a.command - b.command);
      if (opts.json) process.stdout.write(`${JSON.stringify(dir === undefined ? s : { ...s, commits })}\n`);
      else process.stdout.write(`${s.committed} committed of ${s.submitted}${dir === undefined ? '' : `, ${s.verified} verified`} (p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, ${s.seconds} s)\n`);
      process.exitCode = s.committed === s.submitted && (dir === undefined || s.verified === s.committed) ? 0 : 1;
    });
}
