/**
 * A validator's key material: the private key file (`keys.json`, mode 0600) and the public file
 * handed to whoever assembles the genesis.
 *
 * Private key file:
 *   { "version": 1, "blsSecretKey": "0x<32 bytes>", "libp2pPrivateKey": "0x<libp2p PrivateKey protobuf>",
 *     "thresholdShare": "0x<32 bytes>" }   (thresholdShare only on a chain with threshold QCs)
 * Public file (never contains a private key):
 *   { "version": 1, "blsPublicKey": "0x<48 bytes>", "proofOfPossession": "0x<96 bytes>",
 *     "peerId": "12D3KooW...", "address": "/ip4/203.0.113.7/tcp/26600" }   (address optional)
 *
 * The libp2p key is stored as its protobuf encoding because that is what libp2p itself uses
 * to persist identities, and it names the key type inside the bytes.
 */
import { access, constants, type FileHandle, open, stat } from 'node:fs/promises';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { type BlsBackend, type BlsPublicKey, type BlsSecretKey, generateBlsKeyPair, popProve } from '../../crypto/bls/index.js';
import { BLS_PUBLIC_KEY_BYTES, BLS_SECRET_KEY_BYTES, BLS_SIGNATURE_BYTES } from '../../crypto/bls/types.js';
import { toHex } from '../../crypto/bytes.js';
import { CryptoError } from '../../crypto/errors.js';
import { ConfigError } from '../../protocol/config-error.js';
import * as f from '../../protocol/fields.js';
import { parseJsonText, parsePeerId, parseValidatorAddress, readConfigFile } from '../../protocol/genesis.js';

export const KEY_FILE_VERSION = 1;
/** Owner read/write only: the file holds the keys that sign votes. */
export const KEY_FILE_MODE = 0o600;
/** Public files and genesis files are meant to be shared. */
export const PUBLIC_FILE_MODE = 0o644;
/** A protobuf-encoded Ed25519 private key is 68 bytes; the bound only stops absurd input early. */
const MAX_LIBP2P_KEY_BYTES = 4096;

export type Libp2pPrivateKey = ReturnType<typeof privateKeyFromProtobuf>;

export interface NodeKeys {
  readonly blsSecretKey: BlsSecretKey;
  readonly blsPublicKey: BlsPublicKey;
  readonly libp2pPrivateKey: Libp2pPrivateKey;
  /** Peer id derived from `libp2pPrivateKey`. */
  readonly peerId: string;
  /**
   * This validator's Shamir share of the group key, on a chain with threshold QCs
   * (genesis.quorumCertificates): it signs votes, while `blsSecretKey` signs timeouts.
   */
  readonly thresholdShare?: BlsSecretKey;
}

/** What a validator publishes about itself; the genesis assembler collects these. */
export interface ValidatorPublicInfo {
  readonly blsPublicKey: Uint8Array;
  readonly proofOfPossession: Uint8Array;
  readonly peerId: string;
  readonly address?: string;
}

/** Fresh keys from OS randomness: a BLS key pair and an Ed25519 libp2p identity. */
export async function generateNodeKeys(backend: BlsBackend): Promise<NodeKeys> {
  const bls = generateBlsKeyPair(backend);
  const libp2pPrivateKey = await generateKeyPair('Ed25519');
  return { blsSecretKey: bls.secretKey, blsPublicKey: bls.publicKey, libp2pPrivateKey, peerId: peerIdFromPrivateKey(libp2pPrivateKey).toString() };
}

export function nodeKeysToJson(keys: NodeKeys): string {
  const doc = {
    version: KEY_FILE_VERSION,
    blsSecretKey: toHex(keys.blsSecretKey.toBytes()),
    libp2pPrivateKey: toHex(privateKeyToProtobuf(keys.libp2pPrivateKey)),
    ...(keys.thresholdShare === undefined ? {} : { thresholdShare: toHex(keys.thresholdShare.toBytes()) }),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Parses a private key file's content (string = JSON text). Field paths start with `keys`. */
export function parseNodeKeys(input: unknown, backend: BlsBackend): NodeKeys {
  const value = typeof input === 'string' ? parseJsonText(input, 'keys') : input;
  const o = f.object(value, 'keys', ['version', 'blsSecretKey', 'libp2pPrivateKey', 'thresholdShare']);
  const version = f.required(o, 'version', 'keys');
  if (version !== KEY_FILE_VERSION) throw new ConfigError('keys.version', `unsupported version ${JSON.stringify(version)} (this build reads ${KEY_FILE_VERSION})`);
  const blsSecretKey = secretKeyField(f.required(o, 'blsSecretKey', 'keys'), 'keys.blsSecretKey', backend);
  const thresholdShare = o['thresholdShare'] === undefined ? undefined : secretKeyField(o['thresholdShare'], 'keys.thresholdShare', backend);
  const p2pBytes = f.hexBytes(f.required(o, 'libp2pPrivateKey', 'keys'), 'keys.libp2pPrivateKey', 1, MAX_LIBP2P_KEY_BYTES);
  let libp2pPrivateKey: Libp2pPrivateKey;
  try {
    libp2pPrivateKey = privateKeyFromProtobuf(p2pBytes);
  } catch (err) {
    throw new ConfigError('keys.libp2pPrivateKey', `not a libp2p private key protobuf (${err instanceof Error ? err.message : String(err)})`);
  }
  if (libp2pPrivateKey.type !== 'Ed25519') throw new ConfigError('keys.libp2pPrivateKey', `expected an Ed25519 key, got ${libp2pPrivateKey.type}`);
  return {
    blsSecretKey,
    blsPublicKey: backend.publicKeyFromSecretKey(blsSecretKey),
    libp2pPrivateKey,
    peerId: peerIdFromPrivateKey(libp2pPrivateKey).toString(),
    ...(thresholdShare === undefined ? {} : { thresholdShare }),
  };
}

function secretKeyField(value: unknown, path: string, backend: BlsBackend): BlsSecretKey {
  let bytes: Uint8Array;
  try {
    bytes = f.hexBytes(value, path, BLS_SECRET_KEY_BYTES);
  } catch (err) {
    // The parser quotes what it could not read: not for a secret.
    if (err instanceof ConfigError) throw new ConfigError(path, `expected 0x-prefixed hex of ${BLS_SECRET_KEY_BYTES} bytes`);
    throw err;
  }
  try {
    return backend.secretKeyFromBytes(bytes);
  } catch (err) {
    if (err instanceof CryptoError) throw new ConfigError(path, err.message);
    throw err;
  }
}

/**
 * Reads a private key file, refusing one that group or others may access (as ssh does with
 * identity files): a readable vote-signing key is a key someone else may already hold.
 */
export async function loadNodeKeys(path: string, backend: BlsBackend): Promise<NodeKeys> {
  await checkPrivateFileMode(path);
  const text = await readConfigFile(path);
  try {
    return parseNodeKeys(parseJsonText(text, undefined), backend);
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(path) : err;
  }
}

export async function checkPrivateFileMode(path: string): Promise<void> {
  let mode: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ConfigError(undefined, info.isDirectory() ? 'is a directory, not a key file' : 'is not a regular file', path);
    mode = info.mode;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(undefined, code === 'ENOENT' ? 'file not found' : `cannot stat (${(err as Error).message})`, path);
  }
  // POSIX permission bits mean nothing on Windows, where stat reports 0o666 for every file.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(undefined, `private key file has mode ${octal}, readable by other users; run chmod 600 on it`, path);
  }
}

/** Proof of possession of the BLS secret key (96 bytes), as genesis carries it. */
export function popProofOf(keys: NodeKeys, backend: BlsBackend): Uint8Array {
  return popProve(backend, keys.blsSecretKey).bytes;
}

export function publicInfoOf(keys: NodeKeys, backend: BlsBackend, address?: string): ValidatorPublicInfo {
  return {
    blsPublicKey: keys.blsPublicKey.bytes,
    proofOfPossession: popProofOf(keys, backend),
    peerId: keys.peerId,
    ...(address === undefined ? {} : { address }),
  };
}

export function publicInfoToJson(info: ValidatorPublicInfo): string {
  const doc = {
    version: KEY_FILE_VERSION,
    blsPublicKey: toHex(info.blsPublicKey),
    proofOfPossession: toHex(info.proofOfPossession),
    peerId: info.peerId,
    ...(info.address === undefined ? {} : { address: info.address }),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Parses a public file (string = JSON text). Checks formats only; the proof of possession is
 * checked where it matters, when the genesis is built and loaded.
 */
export function parsePublicInfo(input: unknown): ValidatorPublicInfo {
  const value = typeof input === 'string' ? parseJsonText(input, 'pub') : input;
  const o = f.object(value, 'pub', ['version', 'blsPublicKey', 'proofOfPossession', 'peerId', 'address']);
  const version = f.required(o, 'version', 'pub');
  if (version !== KEY_FILE_VERSION) throw new ConfigError('pub.version', `unsupported version ${JSON.stringify(version)} (this build reads ${KEY_FILE_VERSION})`);
  const peerId = parsePeerId(f.required(o, 'peerId', 'pub'), 'pub.peerId');
  return {
    blsPublicKey: f.hexBytes(f.required(o, 'blsPublicKey', 'pub'), 'pub.blsPublicKey', BLS_PUBLIC_KEY_BYTES),
    proofOfPossession: f.hexBytes(f.required(o, 'proofOfPossession', 'pub'), 'pub.proofOfPossession', BLS_SIGNATURE_BYTES),
    peerId,
    ...(o['address'] === undefined ? {} : { address: parseValidatorAddress(o['address'], 'pub.address', peerId) }),
  };
}

export async function loadPublicInfo(path: string): Promise<ValidatorPublicInfo> {
  const text = await readConfigFile(path);
  try {
    return parsePublicInfo(parseJsonText(text, undefined));
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(path) : err;
  }
}

/** Whether anything exists at `path` (commands refuse to overwrite what is there). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Thrown by writeNewFile when the target exists; callers turn it into a usage error. */
export class FileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists; refusing to overwrite it`);
    this.name = 'FileExistsError';
  }
}

/**
 * Creates `path` with `mode` and writes `text`, failing if it exists. O_EXCL makes the
 * existence check and the creation one step, so two concurrent keygens cannot both win; the
 * mode is set at creation (and again with fchmod, since the umask can only remove bits) so the
 * secret is never briefly readable by others.
 */
export async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(path);
    throw err;
  }
  try {
    await handle.chmod(mode);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Where keygen puts the public file: `keys.json` -> `keys.pub.json`, any other name gets `.pub.json` appended. */
export function publicFilePath(keyFile: string): string {
  return keyFile.endsWith('.json') ? `${keyFile.slice(0, -'.json'.length)}.pub.json` : `${keyFile}.pub.json`;
}
