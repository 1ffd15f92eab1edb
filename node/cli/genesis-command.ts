import { mkdir, stat } from 'node:fs/promises';
import { makeFlagDirectory, makeFlagFileDirectory, UsageError } from './usage-error.js';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { integerFlag } from './flag-parsers.js';
import { blsBackend } from '../../crypto/bls/index.js';
import { dealThresholdKeys } from '../../crypto/qc/threshold.js';
import { QC_KINDS, type QcKind } from '../../crypto/qc/types.js';
import { ConfigError } from '../../protocol/config-error.js';
import {
  DEFAULT_CONSENSUS_PARAMS,
  GENESIS_LIMITS,
  type GenesisData,
  type GenesisValidator,
  genesisToJson,
  type QuorumCertParams,
  parseChainId,
  parseGenesis,
} from '../../protocol/genesis.js';
import {
  generateNodeKeys,
  KEY_FILE_MODE,
  loadPublicInfo,
  type NodeKeys,
  nodeKeysToJson,
  PUBLIC_FILE_MODE,
  popProofOf,
  writeNewFile,
  pathExists,
} from '../config/keys.js';
import { CONFIG_FILE, KEYS_FILE, nodeConfigToJson } from '../config/node-config.js';

export const DEFAULT_CHAIN_ID = 'vsmr-devnet';
export const DEFAULT_BASE_PORT = 26600;
/** Metrics and status ports sit at fixed offsets from the libp2p port, so at most this many local validators. */
const PORT_STRIDE = 100;

interface GenesisOptions {
  from?: string[];
  validators?: number;
  out?: string;
  chainId?: string;
  basePort: number;
  mint: boolean;
  baseTimeoutMs?: number;
  maxBatchCommands?: number;
  maxBatchBytes?: number;
  fund: string[];
  qc: QcKind;
}

/** Chain-wide parameters from the flags; parseGenesis checks their ranges before anything is written. */
interface ChainParams {
  readonly allowMint: boolean;
  readonly consensus: GenesisData['consensus'];
  readonly initialBalances: GenesisData['app']['initialBalances'];
}

/**
 * `--fund ACCOUNT=AMOUNT`: the account as 0x-hex or as UTF-8 text, the amount in decimal. An
 * account that starts with 0x is hex or refused: `0xzz` funding the text "0xzz" would be a typo
 * nobody sees until the funds are missing from the account meant.
 */
function parseFund(spec: string): { account: Uint8Array; amount: bigint } {
  const eq = spec.indexOf('=');
  const name = spec.slice(0, eq);
  const amount = spec.slice(eq + 1);
  if (eq <= 0 || !/^\d{1,20}$/.test(amount)) throw new UsageError(`--fund ${JSON.stringify(spec)}: expected ACCOUNT=AMOUNT with one '=' and a decimal amount`);
  if (name.startsWith('0x') && !/^0x([0-9a-fA-F]{2})+$/.test(name)) throw new UsageError(`--fund ${JSON.stringify(spec)}: an account written 0x... must be whole bytes of hex`);
  const account = name.startsWith('0x') ? Uint8Array.from(Buffer.from(name.slice(2), 'hex')) : new TextEncoder().encode(name);
  return { account, amount: BigInt(amount) };
}

function chainParams(opts: GenesisOptions): ChainParams {
  return {
    allowMint: opts.mint,
    consensus: {
      baseTimeoutMs: opts.baseTimeoutMs ?? DEFAULT_CONSENSUS_PARAMS.baseTimeoutMs,
      maxBatchCommands: opts.maxBatchCommands ?? DEFAULT_CONSENSUS_PARAMS.maxBatchCommands,
      maxBatchBytes: opts.maxBatchBytes ?? DEFAULT_CONSENSUS_PARAMS.maxBatchBytes,
    },
    initialBalances: opts.fund.map(parseFund),
  };
}

export function registerGenesisCommand(program: Command): void {
  program
    .command('genesis')
    .description(
      'create a genesis: from validators\' public files (--from), or a local devnet with N validator homes (--validators)',
    )
    .addOption(new Option('--from <pubfile...>', 'public files from `vsmr keygen`, in validator index order'))
    .addOption(new Option('--validators <n>', `local devnet: number of validators (1..${PORT_STRIDE})`).argParser(integerFlag('--validators', 1, PORT_STRIDE)))
    .addOption(new Option('--out <path>', 'genesis file to write (--from), or the devnet directory (--validators)').makeOptionMandatory())
    .addOption(new Option('--chain-id <id>', `1..64 printable ASCII characters; required with --from (default with --validators: ${DEFAULT_CHAIN_ID})`))
    .addOption(
      new Option('--base-port <p>', 'devnet: validator i listens on P+i, metrics on P+100+i, status on P+200+i')
        .argParser(integerFlag('--base-port', 1024, 65_535))
        .default(DEFAULT_BASE_PORT),
    )
    .addOption(new Option('--no-mint', 'the application refuses mint commands'))
    .addOption(new Option('--base-timeout-ms <ms>', 'first round timeout (doubles on consecutive timeouts)').argParser(integerFlag('--base-timeout-ms', GENESIS_LIMITS.baseTimeoutMs.min, GENESIS_LIMITS.baseTimeoutMs.max)))
    .addOption(new Option('--max-batch-commands <n>', 'most commands per block').argParser(integerFlag('--max-batch-commands', GENESIS_LIMITS.maxBatchCommands.min, GENESIS_LIMITS.maxBatchCommands.max)))
    .addOption(new Option('--max-batch-bytes <n>', 'most command bytes per block').argParser(integerFlag('--max-batch-bytes', GENESIS_LIMITS.maxBatchBytes.min, GENESIS_LIMITS.maxBatchBytes.max)))
    .addOption(new Option('--fund <account=amount...>', 'genesis balance (account as text or 0x-hex)').default([]))
    .addOption(
      new Option('--qc <scheme>', 'quorum certificates: multi-signatures, or threshold signatures under a group key this command deals (--validators only)')
        .choices([...QC_KINDS])
        .default('multisig'),
    )
    .action(async (opts: GenesisOptions) => {
      // Bad input (a UsageError, a ConfigError, a FileExistsError) is one line and exit 2 (main.ts).
      if ((opts.from === undefined) === (opts.validators === undefined)) throw new UsageError('give exactly one of --from and --validators');
      // Certificates, block ids and requests are bound to the chain id, not to the rest of the
      // genesis: two chains of the same validator keys and id would accept each other's
      // certificates. A devnet's keys are fresh each time; keys from --from are long-lived.
      if (opts.from !== undefined && opts.chainId === undefined) {
        throw new UsageError('--from needs --chain-id: a chain id its validators have never used before (certificates are bound to it, so a chain re-created with the same keys and id would accept the old chain\'s certificates)');
      }
      const chainId = parseChainId(opts.chainId ?? DEFAULT_CHAIN_ID, '--chain-id');
      const out = opts.out!;
      const params = chainParams(opts);
      if (opts.from !== undefined) {
        // A threshold key needs someone to hand out the shares: here that is the dealer below,
        // which exists only where this command also writes every validator's key file.
        if (opts.qc === 'threshold') throw new UsageError('--qc threshold needs a dealer that writes each validator\'s share, so it works with --validators only (no DKG is built)');
        await genesisFromPublicFiles(opts.from, out, chainId, params);
      } else await devnetGenesis(opts.validators!, out, chainId, opts.basePort, params, opts.qc);
      process.exitCode = 0;
    });
}

function genesisData(chainId: string, validators: readonly GenesisValidator[], params: ChainParams, quorumCertificates?: QuorumCertParams): GenesisData {
  return {
    version: 1,
    chainId,
    validators,
    consensus: params.consensus,
    app: { allowMint: params.allowMint, initialBalances: params.initialBalances },
    ...(quorumCertificates === undefined ? {} : { quorumCertificates }),
  };
}

/**
 * Assembles a genesis from public files. The result goes through parseGenesis before it is
 * written, so every proof of possession, peer id and address is checked exactly as a node will
 * check it; an error names the public file it came from.
 */
async function genesisFromPublicFiles(files: readonly string[], out: string, chainId: string, params: ChainParams): Promise<void> {
  if (files.length === 0) throw new UsageError('--from needs at least one public file');
  if (await pathExists(out)) throw new UsageError(`${out} already exists; refusing to overwrite it`);
  const validators: GenesisValidator[] = [];
  for (const [index, file] of files.entries()) {
    const info = await loadPublicInfo(file);
    if (info.address === undefined) throw new ConfigError('pub.address', 'missing: run keygen with --address, or add the address other validators dial', file);
    validators.push({ index, blsPublicKey: info.blsPublicKey, proofOfPossession: info.proofOfPossession, peerId: info.peerId, address: info.address });
  }
  const text = genesisToJson(genesisData(chainId, validators, params));
  try {
    parseGenesis(text);
  } catch (err) {
    const m = err instanceof ConfigError ? /^genesis\.validators\[(\d+)\]/.exec(err.field ?? '') : null;
    if (err instanceof ConfigError && m) throw new ConfigError(err.field, err.reason, files[Number(m[1])]);
    throw err;
  }
  makeFlagFileDirectory('--out', out);
  await writeNewFile(out, text, PUBLIC_FILE_MODE);
  process.stdout.write(`wrote ${out} (chain ${chainId}, ${validators.length} validators)\n`);
}

/** A local devnet: every validator on 127.0.0.1, keys generated here, one home per validator. */
async function devnetGenesis(n: number, dir: string, chainId: string, basePort: number, params: ChainParams, qc: QcKind): Promise<void> {
  if (basePort + 2 * PORT_STRIDE + n - 1 > 65_535) throw new UsageError(`--base-port ${basePort} leaves no room for ${n} validators (status ports reach ${basePort + 2 * PORT_STRIDE + n - 1})`);
  const dirStat = await stat(dir).catch(() => undefined);
  if (dirStat !== undefined && !dirStat.isDirectory()) throw new UsageError(`--out ${dir} exists and is not a directory`);
  const genesisFile = join(dir, 'genesis.json');
  const homes = Array.from({ length: n }, (_, i) => join(dir, `node-${i}`));
  for (const path of [genesisFile, ...homes]) {
    if (await pathExists(path)) throw new UsageError(`${path} already exists; refusing to overwrite it`);
  }
  const backend = blsBackend('blst');
  // The trusted dealer: shares go into the key files written below and nowhere else.
  const deal = qc === 'threshold' ? dealThresholdKeys(n) : undefined;
  const keys: NodeKeys[] = [];
  for (let i = 0; i < n; i++) {
    const k = await generateNodeKeys(backend);
    keys.push(deal ? { ...k, thresholdShare: backend.secretKeyFromBytes(deal.shares[i]!) } : k);
  }
  const validators = keys.map((k, index) => ({
    index,
    blsPublicKey: k.blsPublicKey.bytes,
    proofOfPossession: popProofOf(k, backend),
    peerId: k.peerId,
    address: `/ip4/127.0.0.1/tcp/${basePort + index}`,
  }));
  const quorumCertificates: QuorumCertParams | undefined = deal && { scheme: 'threshold', threshold: deal.setup.threshold, commitments: deal.setup.commitments };
  const text = genesisToJson(genesisData(chainId, validators, params, quorumCertificates));
  parseGenesis(text, { backend });
  makeFlagDirectory('--out', dir);
  await writeNewFile(genesisFile, text, PUBLIC_FILE_MODE);
  for (const [i, home] of homes.entries()) {
    // The home holds the private key file; nobody else needs to list it.
    await mkdir(home, { mode: 0o700 });
    const config = nodeConfigToJson({
      index: i,
      listen: `/ip4/127.0.0.1/tcp/${basePort + i}`,
      metricsPort: basePort + PORT_STRIDE + i,
      statusPort: basePort + 2 * PORT_STRIDE + i,
      dataDir: 'data',
      genesis: '../genesis.json',
      blsBackend: 'blst',
      logLevel: 'info',
    });
    await writeNewFile(join(home, CONFIG_FILE), config, PUBLIC_FILE_MODE);
    await writeNewFile(join(home, KEYS_FILE), nodeKeysToJson(keys[i]!), KEY_FILE_MODE);
  }
  process.stdout.write(`wrote ${genesisFile} (chain ${chainId}, ${n} validators${deal ? `, threshold QCs (${deal.setup.threshold} of ${n})` : ''}) and ${homes[0]}${n > 1 ? ` .. ${homes[n - 1]}` : ''}\n`);
  process.stdout.write(`start each with: npx vsmr start --home ${join(dir, 'node-<i>')}\n`);
}
