import { Command, CommanderError, Option } from 'commander';
import { registerBenchCommand } from './bench-command.js';
import { registerClientCommands } from './client-commands.js';
import { registerCryptoCommands } from './crypto-commands.js';
import { registerDevnetCommand } from './devnet-command.js';
import { registerGenesisCommand } from './genesis-command.js';
import { registerKeygenCommand } from './keygen-command.js';
import { registerNodeCommands } from './node-commands.js';
import { registerSimCommand } from './sim-command.js';

/** Builds the `vsmr` command tree; each area registers its own subcommands. */
export function buildCli(): Command {
  const program = new Command('vsmr')
    .description('vsmr: a Byzantine-fault-tolerant, verifiable state machine replication node')
    .exitOverride()
    .showHelpAfterError();
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

/** Runs the CLI and returns the process exit code; bad flags exit 2 with commander's message. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`vsmr: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
