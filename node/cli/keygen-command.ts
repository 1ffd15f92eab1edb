import { makeFlagFileDirectory } from './usage-error.js';
import { type Command, Option } from 'commander';
import { blsBackend } from '../../crypto/bls/index.js';
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

export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('create a validator key file (BLS key + proof of possession, libp2p identity; mode 0600) and its public file')
    .addOption(new Option('--out <file>', 'private key file to create (e.g. ~/.vsmr/node/keys.json); refuses to overwrite').makeOptionMandatory())
    .addOption(new Option('--address <multiaddr>', 'TCP multiaddr other validators dial, written to the public file'))
    .action(async (opts: KeygenOptions) => {
      // Bad input (a ConfigError, a UsageError, a FileExistsError) is one line and exit 2 (main.ts).
      const address = opts.address === undefined ? undefined : parseValidatorAddress(opts.address, '--address');
      const pubFile = publicFilePath(opts.out);
      // Check both before writing either, so a refusal leaves nothing half-written.
      for (const path of [opts.out, pubFile]) {
        if (await pathExists(path)) throw new FileExistsError(path);
      }
      const backend = blsBackend('blst');
      const keys = await generateNodeKeys(backend);
      makeFlagFileDirectory('--out', opts.out, 0o700);
      await writeNewFile(opts.out, nodeKeysToJson(keys), KEY_FILE_MODE);
      await writeNewFile(pubFile, publicInfoToJson(publicInfoOf(keys, backend, address)), PUBLIC_FILE_MODE);
      process.stdout.write(`wrote ${opts.out} (private keys, mode 0600: keep it on this machine)\n`);
      process.stdout.write(`wrote ${pubFile} (public: give it to whoever assembles the genesis)\n`);
      process.stdout.write(`peer id ${keys.peerId}${address === undefined ? ' (no --address: add "address" to the public file before genesis)' : ''}\n`);
      process.exitCode = 0;
    });
}
