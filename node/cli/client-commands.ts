import { type Command, InvalidArgumentError } from 'commander';
import { submitCommands } from '../../client/submit.js';
import { ConfigError } from '../../protocol/config-error.js';
import { loadGenesis } from '../../protocol/genesis.js';

function positiveInt(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('client tools: submit commands and wait for their commit');
  client
    .command('submit')
    .description('submit K signed commands to a validator and wait until each commits')
    .requiredOption('--genesis <file>', 'genesis.json of the chain')
    .requiredOption('--count <k>', 'number of commands', positiveInt('--count'))
    .option('--to <index>', 'validator to submit to', positiveInt('--to'), 0)
    .option('--concurrency <c>', 'commands in flight at once', positiveInt('--concurrency'), 16)
    .option('--json', 'print one JSON object')
    .action(async (opts: { genesis: string; count: number; to: number; concurrency: number; json?: boolean }) => {
      let genesis: Awaited<ReturnType<typeof loadGenesis>>;
      try {
        genesis = await loadGenesis(opts.genesis);
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`vsmr client submit: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
      if (opts.to >= genesis.validators.length) {
        process.stderr.write(`vsmr client submit: --to ${opts.to}: the genesis has ${genesis.validators.length} validators\n`);
        process.exitCode = 2;
        return;
      }
      const s = await submitCommands(genesis, { count: opts.count, target: opts.to, concurrency: Math.max(1, opts.concurrency) });
      if (opts.json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else process.stdout.write(`${s.committed} committed of ${s.submitted} (p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, ${s.seconds} s)\n`);
      process.exitCode = s.committed === s.submitted ? 0 : 1;
    });
}
