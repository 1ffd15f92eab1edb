/**
 * Proof bundles: what a replica hands a light client and what `vsmr client verify` checks.
 * A bundle is one certified block header (the header fields and the QC on its block id),
 * optionally a log entry with its inclusion proof and optionally a key's value (or absence)
 * with its state proof. The QC certifies the header, the header's executed state certifies the
 * log root and state root, and the proofs tie the entry and the value to those roots.
 *
 * The JSON form (docs/CERTIFICATE.md) uses lowercase 0x-prefixed hex for byte strings and
 * JSON numbers for integers (all below 2^53). Parsing is strict: unknown or missing fields,
 * wrong lengths, uppercase hex or numbers out of range are refused with a BundleFormatError,
 * so every accepted bundle re-encodes to the same value. Not to the same text: whitespace, key
 * order and number spellings (`1.0`, `1e0`) are JSON's, not the bundle's; where the bytes must be
 * one per bundle (the gossip topic), the caller compares them with `bundleToJson`. Whether a
 * well-formed bundle is TRUE is decided by client/verify.ts.
 */
import { bytesEqual, fromHex, toHex } from '../crypto/bytes.js';
import { CryptoError } from '../crypto/errors.js';
import { SHA256_LENGTH } from '../crypto/hash.js';
import { type InclusionProof, MAX_INCLUSION_PATH } from '../crypto/merkle.js';
import { MAX_QC_VALIDATORS, encodedQcSize } from '../crypto/qc/codec.js';
import { type BlockHeader, blockHeader } from './block.js';
import { CHAIN_ID_PATTERN } from './genesis.js';
import type { LogEntry } from './log-proof.js';
import { encodeStateProof, MAX_STATE_KEY_BYTES, MAX_STATE_PROOF_BYTES, MAX_STATE_VALUE_BYTES, type StateProof } from './state-proof.js';
import type { Block, ExecutedState, QuorumCert, VoteData } from './types.js';

/** 2 since 2026-11-27: log entries carry the request id, no longer the command's hash. */
export const BUNDLE_VERSION = 2;
/** Largest JSON text parseBundle reads: a maximal state proof in hex plus a maximal QC, with room. */
export const MAX_BUNDLE_JSON_BYTES = 2 * MAX_STATE_PROOF_BYTES + 2 * encodedQcSize('multisig', MAX_QC_VALIDATORS) + 64 * 1024;

export interface BundleLogEntry {
  readonly position: number;
  /** The committed request's id: SHA-256 of its signed bytes, as the block carried them. */
  readonly requestId: Uint8Array;
  readonly result: number;
  /** Log size the proof is for (the size of the log when the header's executed state was taken). */
  readonly treeSize: number;
  /** RFC 9162 inclusion path, bottom-up. */
  readonly path: readonly Uint8Array[];
}

export interface BundleState {
  /** The state key (application namespace byte included, e.g. 0x00 || key for the KV store). */
  readonly key: Uint8Array;
  /** The value the replica claims, or null for a claimed absence. */
  readonly value: Uint8Array | null;
  /** Canonical encoding of the state proof (protocol/state-proof.ts). */
  readonly proof: Uint8Array;
}

export interface ProofBundle {
  readonly version: typeof BUNDLE_VERSION;
  readonly chainId: string;
  /** The committed height the bundle claims to cover: the certified executed height must reach it. */
  readonly height: number;
  /** The block id the header hashes to (recomputed by the verifier, which refuses a mismatch). */
  readonly blockId: Uint8Array;
  readonly header: BlockHeader;
  /** Encoded QC (crypto/qc/codec.ts) on the header's block. */
  readonly qc: Uint8Array;
  readonly log?: BundleLogEntry;
  readonly state?: BundleState;
}

export class BundleFormatError extends CryptoError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`malformed bundle: ${field}: ${detail}`, 'BUNDLE_FORMAT');
  }
}

// ------------------------------------------------------------------------------- to JSON

function voteJson(v: VoteData): Record<string, unknown> {
  return { blockId: toHex(v.blockId), round: v.round, height: v.height, parentId: toHex(v.parentId), parentRound: v.parentRound };
}

function executedJson(e: ExecutedState): Record<string, unknown> {
  return { height: e.height, blockId: toHex(e.blockId), stateRoot: toHex(e.stateRoot), logRoot: toHex(e.logRoot) };
}

/** Plain JSON value of a bundle, fields in the documented order. */
export function bundleToJsonValue(b: ProofBundle): Record<string, unknown> {
  const h = b.header;
  const out: Record<string, unknown> = {
    version: b.version,
    chainId: b.chainId,
    height: b.height,
    blockId: toHex(b.blockId),
    header: {
      round: h.round,
      height: h.height,
      author: h.author,
      parent: voteJson(h.parent),
      parentCertificateHash: toHex(h.parentCertificateHash),
      payloadHash: toHex(h.payloadHash),
      executed: executedJson(h.executed),
    },
    qc: toHex(b.qc),
  };
  if (b.log) {
    out['log'] = {
      position: b.log.position,
      requestId: toHex(b.log.requestId),
      result: b.log.result,
      treeSize: b.log.treeSize,
      path: b.log.path.map(toHex),
    };
  }
  if (b.state) out['state'] = { key: toHex(b.state.key), value: b.state.value === null ? null : toHex(b.state.value), proof: toHex(b.state.proof) };
  return out;
}

/** Canonical JSON text (2-space indent, trailing newline). */
export function bundleToJson(b: ProofBundle): string {
  return `${JSON.stringify(bundleToJsonValue(b), null, 2)}\n`;
}

// ------------------------------------------------------------------------------- from JSON

type Obj = Readonly<Record<string, unknown>>;

function obj(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BundleFormatError(path, 'expected an object');
  const o = v as Obj;
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) throw new BundleFormatError(`${path}.${k}`, 'unknown field');
  }
  for (const k of required) if (o[k] === undefined) throw new BundleFormatError(`${path}.${k}`, 'missing');
  return o;
}

function uint(v: unknown, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new BundleFormatError(path, `expected an integer in [0, ${max}]`);
  }
  return v;
}

function hex(v: unknown, path: string, min: number, max = min): Uint8Array {
  if (typeof v !== 'string' || !/^0x(?:[0-9a-f]{2})*$/.test(v)) throw new BundleFormatError(path, 'expected lowercase 0x-prefixed hex of whole bytes');
  const len = (v.length - 2) / 2;
  if (len < min || len > max) throw new BundleFormatError(path, `expected ${min === max ? min : `${min}..${max}`} bytes, got ${len}`);
  return fromHex(v);
}

function parseVote(v: unknown, path: string): VoteData {
  const o = obj(v, path, ['blockId', 'round', 'height', 'parentId', 'parentRound']);
  return {
    blockId: hex(o['blockId'], `${path}.blockId`, SHA256_LENGTH),
    round: uint(o['round'], `${path}.round`),
    height: uint(o['height'], `${path}.height`),
    parentId: hex(o['parentId'], `${path}.parentId`, SHA256_LENGTH),
    parentRound: uint(o['parentRound'], `${path}.parentRound`),
  };
}

function parseExecuted(v: unknown, path: string): ExecutedState {
  const o = obj(v, path, ['height', 'blockId', 'stateRoot', 'logRoot']);
  return {
    height: uint(o['height'], `${path}.height`),
    blockId: hex(o['blockId'], `${path}.blockId`, SHA256_LENGTH),
    stateRoot: hex(o['stateRoot'], `${path}.stateRoot`, SHA256_LENGTH),
    logRoot: hex(o['logRoot'], `${path}.logRoot`, SHA256_LENGTH),
  };
}

/** Parses a bundle from JSON text or an already parsed value; throws BundleFormatError. */
export function parseBundle(input: unknown): ProofBundle {
  let value = input;
  if (typeof input === 'string') {
    if (input.length > MAX_BUNDLE_JSON_BYTES) throw new BundleFormatError('bundle', `${input.length} characters, limit ${MAX_BUNDLE_JSON_BYTES}`);
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new BundleFormatError('bundle', `not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  const o = obj(value, 'bundle', ['version', 'chainId', 'height', 'blockId', 'header', 'qc'], ['log', 'state']);
  if (o['version'] !== BUNDLE_VERSION) throw new BundleFormatError('bundle.version', `unsupported version (this build reads ${BUNDLE_VERSION})`);
  const chainId = o['chainId'];
  if (typeof chainId !== 'string' || !CHAIN_ID_PATTERN.test(chainId)) throw new BundleFormatError('bundle.chainId', 'not a chain id');
  const h = obj(o['header'], 'bundle.header', ['round', 'height', 'author', 'parent', 'parentCertificateHash', 'payloadHash', 'executed']);
  const header: BlockHeader = {
    round: uint(h['round'], 'bundle.header.round'),
    height: uint(h['height'], 'bundle.header.height'),
    author: uint(h['author'], 'bundle.header.author', 0xffff_ffff),
    parent: parseVote(h['parent'], 'bundle.header.parent'),
    parentCertificateHash: hex(h['parentCertificateHash'], 'bundle.header.parentCertificateHash', SHA256_LENGTH),
    payloadHash: hex(h['payloadHash'], 'bundle.header.payloadHash', SHA256_LENGTH),
    executed: parseExecuted(h['executed'], 'bundle.header.executed'),
  };
  const bundle: { -readonly [K in keyof ProofBundle]: ProofBundle[K] } = {
    version: BUNDLE_VERSION,
    chainId,
    height: uint(o['height'], 'bundle.height'),
    blockId: hex(o['blockId'], 'bundle.blockId', SHA256_LENGTH),
    header,
    qc: hex(o['qc'], 'bundle.qc', 1, encodedQcSize('multisig', MAX_QC_VALIDATORS)),
  };
  if (o['log'] !== undefined) {
    const l = obj(o['log'], 'bundle.log', ['position', 'requestId', 'result', 'treeSize', 'path']);
    const path = l['path'];
    if (!Array.isArray(path) || path.length > MAX_INCLUSION_PATH) throw new BundleFormatError('bundle.log.path', `expected an array of at most ${MAX_INCLUSION_PATH} hashes`);
    bundle.log = {
      position: uint(l['position'], 'bundle.log.position'),
      requestId: hex(l['requestId'], 'bundle.log.requestId', SHA256_LENGTH),
      result: uint(l['result'], 'bundle.log.result', 0xff),
      treeSize: uint(l['treeSize'], 'bundle.log.treeSize'),
      path: path.map((p, i) => hex(p, `bundle.log.path[${i}]`, SHA256_LENGTH)),
    };
  }
  if (o['state'] !== undefined) {
    const s = obj(o['state'], 'bundle.state', ['key', 'value', 'proof']);
    bundle.state = {
      key: hex(s['key'], 'bundle.state.key', 1, MAX_STATE_KEY_BYTES),
      value: s['value'] === null ? null : hex(s['value'], 'bundle.state.value', 0, MAX_STATE_VALUE_BYTES),
      proof: hex(s['proof'], 'bundle.state.proof', 1, MAX_STATE_PROOF_BYTES),
    };
  }
  return bundle;
}

// ------------------------------------------------------------------------------- building

export interface BundleParts {
  /** Claimed coverage height; defaults to the header's executed height. */
  readonly height?: number;
  readonly log?: { readonly entry: LogEntry; readonly proof: InclusionProof };
  readonly state?: { readonly key: Uint8Array; readonly value: Uint8Array | null; readonly proof: StateProof };
}

/**
 * A bundle from a block and the QC on it (replica side). Throws RangeError when the QC is not
 * on this block: handing out such a bundle would be a bug, not a lie.
 */
export function makeBundle(chainId: string, block: Block, qc: QuorumCert, parts: BundleParts = {}): ProofBundle {
  if (!bytesEqual(qc.vote.blockId, block.id)) throw new RangeError('the QC does not certify this block');
  const header = blockHeader(chainId, block);
  const bundle: { -readonly [K in keyof ProofBundle]: ProofBundle[K] } = {
    version: BUNDLE_VERSION,
    chainId,
    height: parts.height ?? block.executed.height,
    blockId: block.id,
    header,
    qc: qc.certificate,
  };
  if (parts.log) {
    const { entry, proof } = parts.log;
    bundle.log = { position: entry.position, requestId: entry.requestId, result: entry.result, treeSize: proof.treeSize, path: proof.path };
  }
  if (parts.state) bundle.state = { key: parts.state.key, value: parts.state.value, proof: encodeStateProof(parts.state.proof) };
  return bundle;
}
