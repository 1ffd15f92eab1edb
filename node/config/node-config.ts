/**
 * Per-node configuration: `<home>/config.json` plus the keys in `<home>/keys.json`.
 *
 * config.json:
 * {
 *   "version": 1,
 *   "index": 0,                              // this validator's index in the genesis
 *   "listen": "/ip4/0.0.0.0/tcp/26600",      // libp2p listen multiaddr (TCP)
 *   "metricsPort": 26700,                    // Prometheus /metrics and /health
 *   "statusPort": 26800,                     // optional: /status and /health only, for `vsmr status`
 *   "snapshotInterval": 1000,                // optional: snapshot every N committed heights, 0 never
 *   "retainBlocks": 1000,                    // optional: blocks kept below the latest snapshot
 *   "dataDir": "data",                       // optional, default <home>/data
 *   "genesis": "../genesis.json",            // optional, default <home>/../genesis.json
 *   "blsBackend": "blst",                    // optional: "blst" (default) or "noble"
 *   "logLevel": "info",                      // optional: pino level, default "info"
 *   "emptyProposalHoldMs": 10,               // optional: how long a leader holds an empty block that
 *                                            // only certifies the latest roots, waiting for commands
 *   "maxPendingRequests": 32768,             // optional: validated requests waiting to be proposed
 *   "maxPendingBytes": 67108864,             // optional: ... and their bytes; past either, clients hear "busy"
 *   "maxPendingPerClient": 2048,             // optional: requests one client key may hold in it (and the
 *                                            // same fraction of its bytes); default a sixteenth, at least 256
 *   "validationWorkers": 2,                  // optional: worker threads checking client requests, default
 *                                            // one per core; 0 checks them on the main thread
 *   "unsafeUnsignedRequests": false          // optional, BENCHMARKS ONLY: skip request signature
 *                                            // checks; `vsmr start` refuses it without --unsafe-unsigned
 * }
 * Relative paths are resolved against the home directory, so a devnet directory can be moved.
 */
import { join, resolve } from 'node:path';
import { blsBackend } from '../../crypto/bls/index.js';
import { BLS_BACKEND_NAMES, type BlsBackend, type BlsBackendName } from '../../crypto/bls/types.js';
import { bytesEqual, toHex } from '../../crypto/bytes.js';
import { ThresholdQcScheme } from '../../crypto/qc/threshold.js';
import { ConfigError } from '../../protocol/config-error.js';
import * as f from '../../protocol/fields.js';
import { type Genesis, type GenesisValidator, loadGenesis, parseJsonText, readConfigFile } from '../../protocol/genesis.js';
import { loadNodeKeys, type NodeKeys } from './keys.js';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_COMMANDS, MAX_PENDING_BYTES_LIMIT, MAX_PENDING_COMMANDS_LIMIT } from '../consensus/replica.js';

export const NODE_CONFIG_VERSION = 1;
export const CONFIG_FILE = 'config.json';
export const KEYS_FILE = 'keys.json';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** config.json with defaults applied and paths made absolute. */
export interface NodeConfig {
  readonly version: typeof NODE_CONFIG_VERSION;
  readonly home: string;
  readonly index: number;
  /** Canonical TCP multiaddr. */
  readonly listen: string;
  readonly metricsPort: number;
  readonly statusPort?: number;
  /** Application snapshot every this many committed heights (0: never, and never prune). */
  readonly snapshotInterval: number;
  /** Blocks kept below the latest snapshot; older ones are pruned. */
  readonly retainBlocks: number;
  /** Absolute. */
  readonly dataDir: string;
  /** Absolute path of the genesis file. */
  readonly genesis: string;
  readonly blsBackend: BlsBackendName;
  readonly logLevel: LogLevel;
  /** A leader's hold on an empty roots-only proposal (ReplicaConfig.emptyProposalHoldMs); 0 none. */
  readonly emptyProposalHoldMs: number;
  /** Bounds on the mempool (ReplicaConfig.maxPendingCommands / maxPendingBytes). */
  readonly maxPendingRequests: number;
  readonly maxPendingBytes: number;
  /** Requests one client key may hold in the mempool (node/runtime/mempool-shares.ts); undefined: its default. */
  readonly maxPendingPerClient?: number;
  /**
   * Worker threads of the validation pool; undefined: one per core (os.availableParallelism()).
   * Validators sharing a machine may want fewer: each worker is a thread more competing for the
   * same cores, and each hand-off costs the process more than the check it carries off.
   */
  readonly validationWorkers?: number;
  /** UNSAFE, benchmarks only: accept client requests without checking their signatures. */
  readonly unsafeUnsignedRequests: boolean;
  /** Absolute path of the private key file (always `<home>/keys.json`). */
  readonly keysFile: string;
}

/** What config.json may say; optional fields take their defaults. Paths may be relative to home. */
export interface NodeConfigInput {
  readonly index: number;
  readonly listen: string;
  readonly metricsPort: number;
  readonly statusPort?: number;
  readonly snapshotInterval?: number;
  readonly retainBlocks?: number;
  readonly dataDir?: string;
  readonly genesis?: string;
  readonly blsBackend?: BlsBackendName;
  readonly logLevel?: LogLevel;
  readonly emptyProposalHoldMs?: number;
  readonly maxPendingRequests?: number;
  readonly maxPendingBytes?: number;
  readonly maxPendingPerClient?: number;
  readonly validationWorkers?: number;
  readonly unsafeUnsignedRequests?: boolean;
}

/** Everything `vsmr start` needs, cross-checked: the keys are the genesis entry's keys. */
export interface LoadedNode {
  readonly config: NodeConfig;
  readonly genesis: Genesis;
  readonly keys: NodeKeys;
  /** The genesis entry for `config.index`. */
  readonly validator: GenesisValidator;
}

const FIELDS = ['version', 'index', 'listen', 'metricsPort', 'statusPort', 'snapshotInterval', 'retainBlocks', 'dataDir', 'genesis', 'blsBackend', 'logLevel', 'emptyProposalHoldMs', 'maxPendingRequests', 'maxPendingBytes', 'maxPendingPerClient', 'validationWorkers', 'unsafeUnsignedRequests'];
/**
 * More workers than this is a typo, not a machine. What the machine at hand can carry is checked
 * where the validator starts (maxValidationWorkers): a config may be written on another host.
 */
export const MAX_VALIDATION_WORKERS = 256;
export const DEFAULT_SNAPSHOT_INTERVAL = 1000;
export const DEFAULT_RETAIN_BLOCKS = 1000;
/**
 * A leader's hold on an idle chain's empty roots-only proposal. The hold delays only blocks that
 * commit nothing, and the core caps it at a quarter of the genesis base timeout. On the loopback
 * bench a client's next command reached the leader within about this long after the commit that
 * answered its last one; with 5 ms about a third of them missed the held block, with 10 and 15
 * ms almost none.
 */
export const DEFAULT_EMPTY_PROPOSAL_HOLD_MS = 10;
export const MAX_EMPTY_PROPOSAL_HOLD_MS = 1000;
const MIN_PENDING_BYTES = 1024 * 1024;

/** Parses config.json's content (string = JSON text) for the node at `home`. Field paths start with `config`. */
export function parseNodeConfig(input: unknown, home: string): NodeConfig {
  const value = typeof input === 'string' ? parseJsonText(input, 'config') : input;
  const o = f.object(value, 'config', FIELDS);
  const version = f.required(o, 'version', 'config');
  if (version !== NODE_CONFIG_VERSION) throw new ConfigError('config.version', `unsupported version ${JSON.stringify(version)} (this build reads ${NODE_CONFIG_VERSION})`);
  const index = f.integer(f.required(o, 'index', 'config'), 'config.index', 0, 100_000);
  const listenAddr = f.tcpMultiaddr(f.required(o, 'listen', 'config'), 'config.listen');
  // The host's only transport is plain TCP on an address of this machine: anything else (a
  // name, /ws, a /p2p/ suffix naming some peer) would fail, or mislead, only once libp2p starts.
  const shape = listenAddr.components.map((c) => c.name).join('/');
  if (shape !== 'ip4/tcp' && shape !== 'ip6/tcp') {
    throw new ConfigError('config.listen', `expected /ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port>, got ${JSON.stringify(listenAddr.text)}`);
  }
  const listen = listenAddr.text;
  const metricsPort = f.port(f.required(o, 'metricsPort', 'config'), 'config.metricsPort');
  const statusPort = o['statusPort'] === undefined ? undefined : f.port(o['statusPort'], 'config.statusPort');
  if (statusPort === metricsPort) throw new ConfigError('config.statusPort', `same port as metricsPort (${metricsPort})`);
  const snapshotInterval = o['snapshotInterval'] === undefined ? DEFAULT_SNAPSHOT_INTERVAL : f.integer(o['snapshotInterval'], 'config.snapshotInterval', 0, 1_000_000_000);
  const retainBlocks = o['retainBlocks'] === undefined ? DEFAULT_RETAIN_BLOCKS : f.integer(o['retainBlocks'], 'config.retainBlocks', 0, 1_000_000_000);
  const absolute = home === '' ? resolve('.') : resolve(home);
  const dataDir = o['dataDir'] === undefined ? join(absolute, 'data') : resolve(absolute, nonEmpty(o['dataDir'], 'config.dataDir'));
  const genesis = o['genesis'] === undefined ? resolve(absolute, '..', 'genesis.json') : resolve(absolute, nonEmpty(o['genesis'], 'config.genesis'));
  const backend = o['blsBackend'] === undefined ? 'blst' : oneOf(o['blsBackend'], 'config.blsBackend', BLS_BACKEND_NAMES);
  const logLevel = o['logLevel'] === undefined ? 'info' : oneOf(o['logLevel'], 'config.logLevel', LOG_LEVELS);
  const emptyProposalHoldMs =
    o['emptyProposalHoldMs'] === undefined
      ? DEFAULT_EMPTY_PROPOSAL_HOLD_MS
      : f.integer(o['emptyProposalHoldMs'], 'config.emptyProposalHoldMs', 0, MAX_EMPTY_PROPOSAL_HOLD_MS);
  const maxPendingRequests =
    o['maxPendingRequests'] === undefined ? DEFAULT_MAX_PENDING_COMMANDS : f.integer(o['maxPendingRequests'], 'config.maxPendingRequests', 1, MAX_PENDING_COMMANDS_LIMIT);
  // At least 1 MiB, and at least the genesis' maxBatchBytes (loadNodeConfig): the largest command must fit.
  const maxPendingBytes =
    o['maxPendingBytes'] === undefined ? DEFAULT_MAX_PENDING_BYTES : f.integer(o['maxPendingBytes'], 'config.maxPendingBytes', MIN_PENDING_BYTES, MAX_PENDING_BYTES_LIMIT);
  // A share larger than the queue would bound nothing: refused rather than quietly cut.
  const maxPendingPerClient =
    o['maxPendingPerClient'] === undefined ? undefined : f.integer(o['maxPendingPerClient'], 'config.maxPendingPerClient', 1, maxPendingRequests);
  const validationWorkers = o['validationWorkers'] === undefined ? undefined : f.integer(o['validationWorkers'], 'config.validationWorkers', 0, MAX_VALIDATION_WORKERS);
  const unsafeUnsignedRequests = o['unsafeUnsignedRequests'] === undefined ? false : f.boolean(o['unsafeUnsignedRequests'], 'config.unsafeUnsignedRequests');
  return {
    version: NODE_CONFIG_VERSION,
    home: absolute,
    index,
    listen,
    metricsPort,
    ...(statusPort === undefined ? {} : { statusPort }),
    snapshotInterval,
    retainBlocks,
    dataDir,
    genesis,
    blsBackend: backend,
    logLevel,
    emptyProposalHoldMs,
    maxPendingRequests,
    maxPendingBytes,
    ...(maxPendingPerClient === undefined ? {} : { maxPendingPerClient }),
    ...(validationWorkers === undefined ? {} : { validationWorkers }),
    unsafeUnsignedRequests,
    keysFile: join(absolute, KEYS_FILE),
  };
}

/** Reads `<home>/config.json` only (no genesis, no keys). */
export async function readNodeConfig(home: string): Promise<NodeConfig> {
  const path = join(home, CONFIG_FILE);
  const text = await readConfigFile(path);
  try {
    return parseNodeConfig(parseJsonText(text, undefined), home);
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(path) : err;
  }
}

/**
 * Loads config.json, the genesis it points to and keys.json, and checks that the keys are the
 * ones the genesis lists for `index`: a node started with another validator's config would
 * otherwise sign as nobody (or be rejected by every peer) with no clear cause.
 */
export async function loadNodeConfig(home: string): Promise<LoadedNode> {
  const config = await readNodeConfig(home);
  const configPath = join(config.home, CONFIG_FILE);
  const backend = blsBackend(config.blsBackend);
  const genesis = await loadGenesis(config.genesis, { backend });
  const validator = genesis.validators[config.index];
  if (validator === undefined) {
    throw new ConfigError('config.index', `no validator ${config.index} in ${config.genesis} (it has ${genesis.validators.length})`, configPath);
  }
  if (config.maxPendingBytes < genesis.consensus.maxBatchBytes) {
    // The mempool must hold the largest command a block may carry.
    throw new ConfigError('config.maxPendingBytes', `${config.maxPendingBytes} is below the genesis' maxBatchBytes (${genesis.consensus.maxBatchBytes})`, configPath);
  }
  const keys = await loadNodeKeys(config.keysFile, backend);
  if (!bytesEqual(keys.blsPublicKey.bytes, validator.blsPublicKey)) {
    throw new ConfigError(
      'keys.blsSecretKey',
      `its public key ${toHex(keys.blsPublicKey.bytes).slice(0, 18)}... is not genesis.validators[${config.index}].blsPublicKey ${toHex(validator.blsPublicKey).slice(0, 18)}...`,
      config.keysFile,
    );
  }
  if (keys.peerId !== validator.peerId) {
    throw new ConfigError('keys.libp2pPrivateKey', `its peer id ${keys.peerId} is not genesis.validators[${config.index}].peerId ${validator.peerId}`, config.keysFile);
  }
  checkThresholdShare(genesis, config.genesis, config.index, keys, backend, config.keysFile);
  return { config, genesis, keys, validator };
}

/**
 * On a threshold chain the key file must hold this validator's share, and the share must be the
 * one the genesis commitments promise for its index (the Feldman check, done on the share's
 * public key): a wrong share would sign votes that never combine into a QC. On a multisig chain
 * a share is refused rather than ignored, since it means the file belongs to another chain.
 */
function checkThresholdShare(genesis: Genesis, genesisFile: string, index: number, keys: NodeKeys, backend: BlsBackend, keysFile: string): void {
  const scheme = genesis.quorumScheme;
  if (!(scheme instanceof ThresholdQcScheme)) {
    if (keys.thresholdShare !== undefined) throw new ConfigError('keys.thresholdShare', 'present, but the genesis certifies with multi-signatures (no quorumCertificates section)', keysFile);
    return;
  }
  if (keys.thresholdShare === undefined) {
    throw new ConfigError('keys.thresholdShare', 'missing: the genesis certifies with threshold QCs, and each validator signs votes with the share the dealer gave it', keysFile);
  }
  let expected: Uint8Array;
  try {
    expected = scheme.sharePublicKey(index).bytes;
  } catch (err) {
    throw new ConfigError('genesis.quorumCertificates.commitments', err instanceof Error ? err.message : String(err), genesisFile);
  }
  if (!bytesEqual(backend.publicKeyFromSecretKey(keys.thresholdShare).bytes, expected)) {
    throw new ConfigError('keys.thresholdShare', `is not validator ${index}'s share of the group key in genesis.quorumCertificates.commitments`, keysFile);
  }
}

/** config.json text for `input` (defaults left out so they stay defaults). */
export function nodeConfigToJson(input: NodeConfigInput): string {
  const doc: Record<string, unknown> = { version: NODE_CONFIG_VERSION, index: input.index, listen: input.listen, metricsPort: input.metricsPort };
  if (input.statusPort !== undefined) doc['statusPort'] = input.statusPort;
  if (input.snapshotInterval !== undefined) doc['snapshotInterval'] = input.snapshotInterval;
  if (input.retainBlocks !== undefined) doc['retainBlocks'] = input.retainBlocks;
  if (input.dataDir !== undefined) doc['dataDir'] = input.dataDir;
  if (input.genesis !== undefined) doc['genesis'] = input.genesis;
  if (input.blsBackend !== undefined) doc['blsBackend'] = input.blsBackend;
  if (input.logLevel !== undefined) doc['logLevel'] = input.logLevel;
  if (input.emptyProposalHoldMs !== undefined) doc['emptyProposalHoldMs'] = input.emptyProposalHoldMs;
  if (input.maxPendingRequests !== undefined) doc['maxPendingRequests'] = input.maxPendingRequests;
  if (input.maxPendingBytes !== undefined) doc['maxPendingBytes'] = input.maxPendingBytes;
  if (input.maxPendingPerClient !== undefined) doc['maxPendingPerClient'] = input.maxPendingPerClient;
  if (input.validationWorkers !== undefined) doc['validationWorkers'] = input.validationWorkers;
  if (input.unsafeUnsignedRequests !== undefined) doc['unsafeUnsignedRequests'] = input.unsafeUnsignedRequests;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function nonEmpty(value: unknown, path: string): string {
  const s = f.string(value, path);
  if (s.length === 0 || s.includes('\0')) throw new ConfigError(path, 'expected a non-empty path');
  return s;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  const s = f.string(value, path);
  if (!(allowed as readonly string[]).includes(s)) throw new ConfigError(path, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
  return s as T;
}
