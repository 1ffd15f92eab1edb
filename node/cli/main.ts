import { Command, CommanderError, Option } from 'commander';
import { registerBenchCommand } from './bench-command.js';
import { registerClientCommands } from './client-commands.js';
import { registerCryptoCommands } from './crypto-commands.js';
import { registerDevnetCommand } from './devnet-command.js';
import { registerGenesisCommand } from './genesis-command.js';
import { registerKeygenCommand } from './keygen-command.js';
import { registerNodeCommands } from './node-commands.js';
import { registerSimCommand } from './sim-command.js';
import { isUsageFailure } from './usage-error.js';

/** Builds the `vsmr` command tree; each area registers its own subcommands. */
export function buildCli(): Command {
  const program = new Command('vsmr')
    .description('vsmr: a Byzantine-fault-tolerant, verifiable state machine replication node')
    .exitOverride()
    .showHelpAfterError(false);
  registerCryptoCommands(program);
  registerSimCommand(program);
  registerKeygenCommand(program);
  registerGenesisCommand(program);
  registerNodeCommands(program);
  registerClientCommands(program);
  registerDevnetCommand(program);
  registerBenchCommand(program);
  return program;
}

export { Option };

/** The status of a process a closed pipe stopped, as a shell reports a filter killed by SIGPIPE. */
export const CLOSED_OUTPUT_EXIT_CODE = 128 + 13;

/**
 * A reader that stops early (`vsmr sim --list-behaviors | head -3`) closes the pipe, and the
 * next write fails with EPIPE: an 'error' event no one listened to, which killed the process
 * with a stack trace. Node ignores SIGPIPE, so the CLI ends here as a Unix filter would on it,
 * writing nothing more (the output has nowhere to go). A command that stops things of its own
 * on SIGTERM (the devnet's and the benchmarks' validator processes, a validator's store) is sent
 * one, so that it stops them rather than leave them running; any other ends at once, with the
 * status it already set if it failed, else 141. Other write errors are not this one's to hide.
 */
function endOnClosedOutput(streams: readonly NodeJS.WriteStream[]): void {
  let closed = false;
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (closed) return;
    closed = true;
    // Later writes to the closed stream fail too; none of them has anywhere to go.
    for (const s of streams) s.write = () => true;
    if (process.listenerCount('SIGTERM') > 0) {
      process.kill(process.pid, 'SIGTERM');
      return;
    }
    const set = process.exitCode;
    process.exit(typeof set === 'number' && set !== 0 ? set : CLOSED_OUTPUT_EXIT_CODE);
  };
  for (const s of streams) s.on('error', onError);
}

/** `vsmr client submit` for the submit command. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Runs the CLI and returns the process exit code; bad flags exit 2 with commander's message, and
 * so does a usage failure an action throws (usage-error.ts), with its own.
 */
export async function main(argv: readonly string[]): Promise<number> {
  endOnClosedOutput([process.stdout, process.stderr]);
  const program = buildCli();
  // The command whose action runs, for the prefix of its one-line refusals.
  let running: Command = program;
  program.hook('preAction', (_program, action) => {
    running = action;
  });
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Input the operator must mend (a flag, a path, a config or genesis file): one line naming
    // the command, exit 2, whichever command it came from.
    if (isUsageFailure(err)) {
      process.stderr.write(`${commandPath(running)}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`vsmr: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
