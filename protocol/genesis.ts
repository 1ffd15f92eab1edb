/**
 * The genesis file: the chain id, the validator set (index -> BLS key with proof of
 * possession, libp2p peer id, dial address), consensus parameters and the application's
 * initial state. Every replica and every client starts from the same file, so parsing is
 * strict: an unknown field, a key that does not decode, a proof of possession that does not
 * verify or two validators sharing a peer id or address stop the node with a ConfigError
 * naming the field, instead of surfacing later as a chain that never makes progress.
 *
 * Format (JSON; byte strings are 0x-prefixed hex, amounts are decimal strings because JSON
 * numbers lose precision above 2^53):
 * {
 *   "version": 1,
 *   "chainId": "vsmr-devnet",
 *   "validators": [{ "index": 0, "blsPublicKey": "0x<48 bytes>", "proofOfPossession": "0x<96 bytes>",
 *                    "peerId": "12D3KooW...", "address": "/ip4/127.0.0.1/tcp/26600" }, ...],
 *   "consensus": { "baseTimeoutMs": 1000, "maxBatchCommands": 1000, "maxBatchBytes": 1048576 },
 *   "app": { "allowMint": true, "initialBalances": [{ "account": "0x...", "amount": "1000" }] },
 *   "quorumCertificates": { "scheme": "threshold", "threshold": 3, "commitments": ["0x<48 bytes>", ...] }
 * }
 * `quorumCertificates` is optional: without it the chain certifies with multi-signatures
 * (a signer bitmap and an aggregate of the validators' own keys). With the threshold scheme,
 * QCs are one signature under a group key dealt by Shamir sharing; the Feldman commitments
 * are public (commitments[0] is the group key) and each validator's share sits in its key file.
 */
import { readFile } from 'node:fs/promises';
import { peerIdFromString } from '@libp2p/peer-id';
import { type BlsBackend, type BlsBackendName, blsBackend } from '../crypto/bls/index.js';
import { BLS_PUBLIC_KEY_BYTES, BLS_SIGNATURE_BYTES } from '../crypto/bls/types.js';
import { bytesToHex, toHex } from '../crypto/bytes.js';
import { ValidatorSetError } from '../crypto/errors.js';
import { sha256 } from '../crypto/hash.js';
import { MultisigQcScheme } from '../crypto/qc/multisig.js';
import { quorumSize } from '../crypto/qc/quorum.js';
import { ThresholdQcScheme } from '../crypto/qc/threshold.js';
import type { QcScheme } from '../crypto/qc/types.js';
import { ValidatorSet } from '../crypto/qc/validator-set.js';
import { ConfigError } from './config-error.js';
import * as f from './fields.js';

export const GENESIS_VERSION = 1;

/** Same rule as the signing domain prefix (crypto/hash.ts): the chain id is in every signed message. */
export const CHAIN_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;

/**
 * Bounds on the parameters. Batches must fit one proposal inside the wire codec's 4 MiB message
 * limit with room for the header and certificates, hence 2 MiB and 10,000 commands; timeouts
 * below 10 ms would fire before a loopback round trip completes under load.
 */
export const GENESIS_LIMITS = Object.freeze({
  maxValidators: 1024,
  baseTimeoutMs: { min: 10, max: 600_000 },
  maxBatchCommands: { min: 1, max: 10_000 },
  maxBatchBytes: { min: 1024, max: 2 * 1024 * 1024 },
  maxInitialBalances: 100_000,
  maxAccountBytes: 64,
});

export const DEFAULT_CONSENSUS_PARAMS: ConsensusParams = Object.freeze({
  baseTimeoutMs: 1000,
  maxBatchCommands: 1000,
  maxBatchBytes: 1024 * 1024,
});

export interface GenesisValidator {
  /** Position in the validator set (equal to the array position in the file). */
  readonly index: number;
  /** Compressed G1 public key, 48 bytes. */
  readonly blsPublicKey: Uint8Array;
  /** Proof of possession of the BLS secret key, 96 bytes. */
  readonly proofOfPossession: Uint8Array;
  /** libp2p peer id (Ed25519, base58btc string form). */
  readonly peerId: string;
  /** Dialable TCP multiaddr, canonical form, without the /p2p part. */
  readonly address: string;
}

export interface ConsensusParams {
  readonly baseTimeoutMs: number;
  readonly maxBatchCommands: number;
  readonly maxBatchBytes: number;
}

export interface InitialBalance {
  readonly account: Uint8Array;
  readonly amount: bigint;
}

export interface AppParams {
  /** Whether `mint` commands apply; devnets fund accounts with them, production chains say false. */
  readonly allowMint: boolean;
  readonly initialBalances: readonly InitialBalance[];
}

/**
 * How the chain's QCs are formed. A threshold chain needs a dealer (or a DKG, not built) that
 * hands each validator its share; `threshold` must be the quorum size, since the consensus
 * core's safety argument counts quorums of q = 2f + 1.
 */
export type QuorumCertParams =
  | { readonly scheme: 'multisig' }
  | { readonly scheme: 'threshold'; readonly threshold: number; readonly commitments: readonly Uint8Array[] };

/** Everything in the file. */
export interface GenesisData {
  readonly version: typeof GENESIS_VERSION;
  readonly chainId: string;
  readonly validators: readonly GenesisValidator[];
  readonly consensus: ConsensusParams;
  readonly app: AppParams;
  /** Absent in the file means multisig. */
  readonly quorumCertificates?: QuorumCertParams;
}

/**
 * A parsed genesis: the file's data plus the validator set, whose proofs of possession were
 * checked, and the QC scheme that validators certify with and clients verify against.
 */
export interface Genesis extends GenesisData {
  readonly quorumCertificates: QuorumCertParams;
  readonly validatorSet: ValidatorSet;
  readonly quorumScheme: QcScheme;
}

export interface ParseGenesisOptions {
  /** BLS backend (or its name) used to check the keys and to build `validatorSet`; default blst. */
  readonly backend?: BlsBackend | BlsBackendName;
}

/**
 * Parses and checks a genesis. `input` is the JSON text when it is a string, else the already
 * parsed value. Throws ConfigError (field paths start with `genesis`).
 */
export function parseGenesis(input: unknown, options: ParseGenesisOptions = {}): Genesis {
  const value = typeof input === 'string' ? parseJsonText(input, 'genesis') : input;
  const root = f.object(value, 'genesis', ['version', 'chainId', 'validators', 'consensus', 'app', 'quorumCertificates']);
  const version = f.required(root, 'version', 'genesis');
  if (version !== GENESIS_VERSION) throw new ConfigError('genesis.version', `unsupported version ${JSON.stringify(version)} (this build reads ${GENESIS_VERSION})`);
  const chainId = parseChainId(f.required(root, 'chainId', 'genesis'), 'genesis.chainId');
  const validators = parseValidators(f.required(root, 'validators', 'genesis'));
  const consensus = parseConsensus(f.required(root, 'consensus', 'genesis'));
  const app = parseApp(f.required(root, 'app', 'genesis'));
  const quorumCertificates = parseQuorumCertificates(root['quorumCertificates'], validators.length);
  const validatorSet = loadValidatorSet(validators, options.backend);
  const quorumScheme = loadQuorumScheme(quorumCertificates, validatorSet);
  return { version: GENESIS_VERSION, chainId, validators, consensus, app, quorumCertificates, validatorSet, quorumScheme };
}

/** Reads and parses a genesis file; every failure is a ConfigError naming `path`. */
export async function loadGenesis(path: string, options: ParseGenesisOptions = {}): Promise<Genesis> {
  const text = await readConfigFile(path);
  try {
    return parseGenesis(parseJsonText(text, undefined), options);
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(path) : err;
  }
}

/** Canonical JSON text of a genesis (2-space indent, trailing newline); parseGenesis reads it back. */
export function genesisToJson(genesis: GenesisData): string {
  const doc = {
    version: GENESIS_VERSION,
    chainId: genesis.chainId,
    validators: genesis.validators.map((v) => ({
      index: v.index,
      blsPublicKey: toHex(v.blsPublicKey),
      proofOfPossession: toHex(v.proofOfPossession),
      peerId: v.peerId,
      address: v.address,
    })),
    consensus: {
      baseTimeoutMs: genesis.consensus.baseTimeoutMs,
      maxBatchCommands: genesis.consensus.maxBatchCommands,
      maxBatchBytes: genesis.consensus.maxBatchBytes,
    },
    app: {
      allowMint: genesis.app.allowMint,
      ...(genesis.app.initialBalances.length > 0
        ? { initialBalances: genesis.app.initialBalances.map((b) => ({ account: toHex(b.account), amount: b.amount.toString() })) }
        : {}),
    },
    // Written only when it is not the default, so multisig genesis files stay as they were.
    ...(genesis.quorumCertificates?.scheme === 'threshold'
      ? {
          quorumCertificates: {
            scheme: 'threshold',
            threshold: genesis.quorumCertificates.threshold,
            commitments: genesis.quorumCertificates.commitments.map((c) => toHex(c)),
          },
        }
      : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function parseChainId(value: unknown, path: string): string {
  const s = f.string(value, path);
  if (!CHAIN_ID_PATTERN.test(s)) throw new ConfigError(path, `chain id must be 1..64 printable ASCII characters without space, got ${JSON.stringify(s.slice(0, 80))}`);
  return s;
}

/** An Ed25519 peer id in its canonical string form (so that equal ids compare equal as strings). */
export function parsePeerId(value: unknown, path: string): string {
  const s = f.string(value, path);
  let canonical: string;
  let type: string;
  try {
    const id = peerIdFromString(s);
    canonical = id.toString();
    type = id.type;
  } catch (err) {
    throw new ConfigError(path, `not a peer id (${err instanceof Error ? err.message : String(err)})`);
  }
  if (type !== 'Ed25519') throw new ConfigError(path, `expected an Ed25519 peer id, got a ${type} one`);
  if (canonical !== s) throw new ConfigError(path, `peer id not in canonical form (expected ${canonical})`);
  return s;
}

/**
 * A validator's dial address: TCP, a concrete host and port (0.0.0.0 is a listen address and
 * port 0 asks the system for any port: nobody can dial either), and no /p2p part unless it names
 * the validator's own peer id (the id is its own field).
 */
export function parseValidatorAddress(value: unknown, path: string, peerId?: string): string {
  const ma = f.tcpMultiaddr(value, path);
  const host = ma.components[0];
  if (host && (host.name === 'ip4' || host.name === 'ip6') && (host.value === '0.0.0.0' || host.value === '::')) {
    throw new ConfigError(path, `${ma.text} is not dialable; give the address other validators reach this one at`);
  }
  if (ma.components.find((c) => c.name === 'tcp')?.value === '0') {
    throw new ConfigError(path, `${ma.text} is not dialable (port 0 is any port); give the port this validator listens on`);
  }
  const p2p = ma.components.findIndex((c) => c.name === 'p2p');
  if (p2p === -1) return ma.text;
  if (peerId === undefined || ma.components[p2p]!.value !== peerId || p2p !== ma.components.length - 1) {
    throw new ConfigError(path, 'the /p2p part of the address does not match the peerId field');
  }
  return ma.text.slice(0, ma.text.lastIndexOf('/p2p/'));
}

function parseValidators(value: unknown): GenesisValidator[] {
  const list = f.array(value, 'genesis.validators', 1, GENESIS_LIMITS.maxValidators);
  const peerIds = new Map<string, number>();
  const addresses = new Map<string, number>();
  return list.map((entry, i) => {
    const path = `genesis.validators[${i}]`;
    const o = f.object(entry, path, ['index', 'blsPublicKey', 'proofOfPossession', 'peerId', 'address']);
    const index = f.integer(f.required(o, 'index', path), `${path}.index`, 0, GENESIS_LIMITS.maxValidators - 1);
    if (index !== i) throw new ConfigError(`${path}.index`, `expected ${i} (validators are listed in index order)`);
    const blsPublicKey = f.hexBytes(f.required(o, 'blsPublicKey', path), `${path}.blsPublicKey`, BLS_PUBLIC_KEY_BYTES);
    const proofOfPossession = f.hexBytes(f.required(o, 'proofOfPossession', path), `${path}.proofOfPossession`, BLS_SIGNATURE_BYTES);
    const peerId = parsePeerId(f.required(o, 'peerId', path), `${path}.peerId`);
    const address = parseValidatorAddress(f.required(o, 'address', path), `${path}.address`, peerId);
    const samePeer = peerIds.get(peerId);
    if (samePeer !== undefined) throw new ConfigError(`${path}.peerId`, `duplicate peer id (same as validators[${samePeer}])`);
    peerIds.set(peerId, i);
    const sameAddress = addresses.get(address);
    if (sameAddress !== undefined) throw new ConfigError(`${path}.address`, `duplicate address (same as validators[${sameAddress}])`);
    addresses.set(address, i);
    return { index, blsPublicKey, proofOfPossession, peerId, address };
  });
}

function parseConsensus(value: unknown): ConsensusParams {
  const path = 'genesis.consensus';
  const o = f.object(value, path, ['baseTimeoutMs', 'maxBatchCommands', 'maxBatchBytes']);
  const L = GENESIS_LIMITS;
  return {
    baseTimeoutMs: f.integer(f.required(o, 'baseTimeoutMs', path), `${path}.baseTimeoutMs`, L.baseTimeoutMs.min, L.baseTimeoutMs.max),
    maxBatchCommands: f.integer(f.required(o, 'maxBatchCommands', path), `${path}.maxBatchCommands`, L.maxBatchCommands.min, L.maxBatchCommands.max),
    maxBatchBytes: f.integer(f.required(o, 'maxBatchBytes', path), `${path}.maxBatchBytes`, L.maxBatchBytes.min, L.maxBatchBytes.max),
  };
}

function parseApp(value: unknown): AppParams {
  const path = 'genesis.app';
  const o = f.object(value, path, ['allowMint', 'initialBalances']);
  const allowMint = f.boolean(f.required(o, 'allowMint', path), `${path}.allowMint`);
  if (o['initialBalances'] === undefined) return { allowMint, initialBalances: [] };
  const list = f.array(o['initialBalances'], `${path}.initialBalances`, 0, GENESIS_LIMITS.maxInitialBalances);
  const seen = new Map<string, number>();
  const initialBalances = list.map((entry, i) => {
    const p = `${path}.initialBalances[${i}]`;
    const b = f.object(entry, p, ['account', 'amount']);
    const account = f.hexBytes(f.required(b, 'account', p), `${p}.account`, 1, GENESIS_LIMITS.maxAccountBytes);
    const amount = f.decimalU64(f.required(b, 'amount', p), `${p}.amount`);
    const key = bytesToHex(account);
    const prior = seen.get(key);
    if (prior !== undefined) throw new ConfigError(`${p}.account`, `duplicate account (same as initialBalances[${prior}])`);
    seen.set(key, i);
    return { account, amount };
  });
  return { allowMint, initialBalances };
}

function parseQuorumCertificates(value: unknown, n: number): QuorumCertParams {
  const path = 'genesis.quorumCertificates';
  if (value === undefined) return { scheme: 'multisig' };
  const o = f.object(value, path, ['scheme', 'threshold', 'commitments']);
  const scheme = f.string(f.required(o, 'scheme', path), `${path}.scheme`);
  if (scheme === 'multisig') {
    if (o['threshold'] !== undefined || o['commitments'] !== undefined) throw new ConfigError(path, 'threshold and commitments belong to the threshold scheme only');
    return { scheme };
  }
  if (scheme !== 'threshold') throw new ConfigError(`${path}.scheme`, `expected "multisig" or "threshold", got ${JSON.stringify(scheme.slice(0, 40))}`);
  const q = quorumSize(n);
  const threshold = f.integer(f.required(o, 'threshold', path), `${path}.threshold`, 1, GENESIS_LIMITS.maxValidators);
  if (threshold !== q) throw new ConfigError(`${path}.threshold`, `must be the quorum size ${q} for ${n} validators, got ${threshold}`);
  const list = f.array(f.required(o, 'commitments', path), `${path}.commitments`, threshold, threshold);
  const commitments = list.map((c, j) => f.hexBytes(c, `${path}.commitments[${j}]`, BLS_PUBLIC_KEY_BYTES));
  return { scheme, threshold, commitments };
}

/** The scheme's own checks (points on the curve, not the identity) as ConfigErrors on the field. */
function loadQuorumScheme(params: QuorumCertParams, validatorSet: ValidatorSet): QcScheme {
  if (params.scheme === 'multisig') return new MultisigQcScheme(validatorSet);
  try {
    return new ThresholdQcScheme(validatorSet.backend, { n: validatorSet.n, threshold: params.threshold, commitments: params.commitments });
  } catch (err) {
    if (err instanceof ValidatorSetError) throw new ConfigError('genesis.quorumCertificates.commitments', err.message);
    throw err;
  }
}

/**
 * ValidatorSet.load is the one place proofs of possession are checked; its errors name the
 * validator, and are mapped back to the field that holds the bad bytes.
 */
function loadValidatorSet(validators: readonly GenesisValidator[], backend: BlsBackend | BlsBackendName = 'blst'): ValidatorSet {
  const bls = typeof backend === 'string' ? blsBackend(backend) : backend;
  try {
    return ValidatorSet.load(
      bls,
      validators.map((v) => ({ publicKey: v.blsPublicKey, proofOfPossession: v.proofOfPossession })),
    );
  } catch (err) {
    if (!(err instanceof ValidatorSetError) || err.index === undefined) throw err;
    const reason = err.message.replace(/^validator \d+: /, '');
    const field = reason.startsWith('proof of possession') ? 'proofOfPossession' : 'blsPublicKey';
    throw new ConfigError(`genesis.validators[${err.index}].${field}`, reason);
  }
}

/** JSON.parse with the error as a ConfigError; `field` is undefined when the whole file is meant. */
export function parseJsonText(text: string, field: string | undefined): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(field, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Reads a configuration file as UTF-8; a missing or unreadable file is a ConfigError naming it. */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory, expected a file' : `cannot read (${(err as Error).message})`;
    throw new ConfigError(undefined, reason, path);
  }
}

/**
 * SHA-256 of everything in a genesis that the chain's history depends on: the canonical text
 * (genesisToJson) with the validators' network addresses left out, since a validator may move
 * to another address without changing any signed byte. A data directory is bound to it, so that
 * a genesis edited after the chain began (another validator set, other consensus or application
 * settings, under the same chain id) is refused instead of being run against a history it did
 * not produce.
 */
export function genesisHistoryDigest(genesis: GenesisData): Uint8Array {
  const withoutAddresses = { ...genesis, validators: genesis.validators.map((v) => ({ ...v, address: '' })) };
  return sha256(new TextEncoder().encode(genesisToJson(withoutAddresses)));
}
