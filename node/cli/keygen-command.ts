import { makeFlagFileDirectory, UsageError } from './usage-error.js';
import { type Command, Option } from 'commander';
import { blsBackend } from '../../crypto/bls/index.js';
import { ConfigError } from '../../protocol/config-error.js';
import { parseValidatorAddress } from '../../protocol/genesis.js';
import {
  FileExistsError,
  generateNodeKeys,
  KEY_FILE_MODE,
  nodeKeysToJson,
  PUBLIC_FILE_MODE,
  publicFilePath,
  publicInfoOf,
  publicInfoToJson,
  writeNewFile,
  pathExists,
} from '../config/keys.js';

interface KeygenOptions {
  out: string;
  address?: string;
}

/** Bad input ends the command with one line on stderr and exit 2, never a stack or the help text. */
function fail(message: string): void {
  process.stderr.write(`vsmr keygen: ${message}\n`);
  process.exitCode = 2;
}

export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('create a validator key file (BLS key + proof of possession, libp2p identity; mode 0600) and its public file')
    .showHelpAfterError(false)
    .addOption(new Option('--out <file>', 'private key file to create (e.g. ~/.vsmr/node/keys.json); refuses to overwrite').makeOptionMandatory())
    .addOption(new Option('--address <multiaddr>', 'TCP multiaddr other validators dial, written to the public file'))
    .action(async (opts: KeygenOptions) => {
      let address: string | undefined;
      if (opts.address !== undefined) {
        try {
          address = parseValidatorAddress(opts.address, '--address');
        } catch (err) {
          if (err instanceof ConfigError) return fail(err.message);
          throw err;
        }
      }
      const pubFile = publicFilePath(opts.out);
      // Check both before writing either, so a refusal leaves nothing half-written.
      for (const path of [opts.out, pubFile]) {
        if (await pathExists(path)) return fail(`${path} already exists; refusing to overwrite it`);
      }
      const backend = blsBackend('blst');
      const keys = await generateNodeKeys(backend);
      try {
        makeFlagFileDirectory('--out', opts.out, 0o700);
      } catch (err) {
        if (err instanceof UsageError) return fail(err.message);
        throw err;
      }
      try {
        await writeNewFile(opts.out, nodeKeysToJson(keys), KEY_FILE_MODE);
        await writeNewFile(pubFile, publicInfoToJson(publicInfoOf(keys, backend, address)), PUBLIC_FILE_MODE);
      } catch (err) {
        if (err instanceof FileExistsError) return fail(err.message);
        throw err;
      }
      process.stdout.write(`wrote ${opts.out} (private keys, mode 0600: keep it on this machine)\n`);
      process.stdout.write(`wrote ${pubFile} (public: give it to whoever assembles the genesis)\n`);
      process.stdout.write(`peer id ${keys.peerId}${address === undefined ? ' (no --address: add "address" to the public file before genesis)' : ''}\n`);
      process.exitCode = 0;
    });
}
