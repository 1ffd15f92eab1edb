/**
 * Client requests and their canonical binary form.
 *
 * Layout (integers big-endian):
 *
 *   u8  version (= 1)
 *   u8  len(chainId) || chainId        1..64 printable ASCII, as crypto/hash.ts requires
 *   32  client ed25519 public key
 *   u64 sequence                       per client, see node/app/replay-window.ts for the replay window
 *   u64 expiry                         last height at which the request may commit
 *   u16 len(command) || command        0..MAX_COMMAND_BYTES, protocol/command.ts encoding
 *   64  ed25519 signature              over domainPrefix(request, chainId) || body
 *
 * `body` is every byte before the signature. The chain id is both inside the body and in the
 * signing domain: the domain stops cross-chain replay, the body copy lets a replica tell
 * "wrong chain" from "bad signature" without guessing. Exactly one encoding per request and
 * trailing bytes are refused, so the request id (sha256 of the whole request) names the
 * request, not one spelling of it.
 */
import { EncodingError } from '../crypto/errors.js';
import type { Ed25519SecretKey } from '../crypto/ed25519/backends.js';
import { ed25519Backend } from '../crypto/ed25519/backends.js';
import { DOMAIN_TAGS, domainPrefix, sha256 } from '../crypto/hash.js';
import { MAX_COMMAND_BYTES } from './command.js';

export const REQUEST_VERSION = 1;
export const CLIENT_KEY_BYTES = 32;
export const REQUEST_SIGNATURE_BYTES = 64;
export const MAX_CHAIN_ID_BYTES = 64;
export const REQUEST_ID_BYTES = 32;
export const MAX_U64 = (1n << 64n) - 1n;

/** Everything around the command: version, chain id at its longest, key, seq, expiry, lengths, signature. */
export const REQUEST_OVERHEAD_BYTES = 1 + 1 + MAX_CHAIN_ID_BYTES + CLIENT_KEY_BYTES + 8 + 8 + 2 + REQUEST_SIGNATURE_BYTES;
export const MAX_REQUEST_BYTES = MAX_COMMAND_BYTES + REQUEST_OVERHEAD_BYTES;
/** The shortest request: a one-byte chain id and an empty command. */
export const MIN_REQUEST_BYTES = 1 + 1 + 1 + CLIENT_KEY_BYTES + 8 + 8 + 2 + REQUEST_SIGNATURE_BYTES;

const CHAIN_ID_RE = /^[\x21-\x7e]{1,64}$/;

export interface RequestFields {
  readonly chainId: string;
  readonly clientKey: Uint8Array;
  readonly sequence: bigint;
  readonly expiry: bigint;
  readonly command: Uint8Array;
}

export interface ClientRequest extends RequestFields {
  readonly signature: Uint8Array;
}

/** A decoded request together with its wire bytes and id. */
export interface DecodedRequest extends ClientRequest {
  /** The exact wire bytes (a copy, never a view into the caller's buffer). */
  readonly bytes: Uint8Array;
  /** sha256(bytes), computed on first read: execution decodes every command and never needs it. */
  readonly id: Uint8Array;
  /** Length of the signed body, i.e. offset of the signature. */
  readonly bodyLength: number;
}

/** Why decoding failed: `oversized` is a limit, everything else is `malformed`. */
export type RequestDecodeFailure = 'malformed' | 'oversized';

/** Bytes that are not the canonical encoding of a request. The only error decodeRequest throws. */
export class RequestDecodeError extends EncodingError {
  override readonly code = 'REQUEST_DECODE';
  constructor(
    readonly failure: RequestDecodeFailure,
    detail: string,
  ) {
    super(`invalid request (${failure}): ${detail}`);
  }
}

/** A request object that cannot be encoded; thrown by encodeRequest / signRequest only. */
export class RequestEncodeError extends EncodingError {
  override readonly code = 'REQUEST_ENCODE';
  constructor(detail: string) {
    super(`cannot encode request: ${detail}`);
  }
}

function checkFields(f: RequestFields): void {
  if (typeof f !== 'object' || f === null) throw new RequestEncodeError('request is not an object');
  if (typeof f.chainId !== 'string' || !CHAIN_ID_RE.test(f.chainId)) throw new RequestEncodeError('chain id must be 1..64 printable ASCII');
  if (!(f.clientKey instanceof Uint8Array) || f.clientKey.length !== CLIENT_KEY_BYTES) {
    throw new RequestEncodeError(`client key must be ${CLIENT_KEY_BYTES} bytes`);
  }
  for (const [name, v] of [['sequence', f.sequence], ['expiry', f.expiry]] as const) {
    if (typeof v !== 'bigint' || v < 0n || v > MAX_U64) throw new RequestEncodeError(`${name} must be a u64 bigint`);
  }
  if (!(f.command instanceof Uint8Array) || f.command.length > MAX_COMMAND_BYTES) {
    throw new RequestEncodeError(`command must be a Uint8Array of at most ${MAX_COMMAND_BYTES} bytes`);
  }
}

/** The signed body: the whole encoding minus the signature. */
export function encodeRequestBody(f: RequestFields): Uint8Array {
  checkFields(f);
  const n = f.chainId.length;
  const out = new Uint8Array(1 + 1 + n + CLIENT_KEY_BYTES + 8 + 8 + 2 + f.command.length);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = REQUEST_VERSION;
  out[at++] = n;
  // Validated ASCII: one char is one byte.
  for (let i = 0; i < n; i++) out[at++] = f.chainId.charCodeAt(i);
  out.set(f.clientKey, at);
  at += CLIENT_KEY_BYTES;
  view.setBigUint64(at, f.sequence);
  at += 8;
  view.setBigUint64(at, f.expiry);
  at += 8;
  view.setUint16(at, f.command.length);
  at += 2;
  out.set(f.command, at);
  return out;
}

/** The exact bytes the client signs. */
export function requestSigningMessage(chainId: string, body: Uint8Array): Uint8Array {
  const prefix = domainPrefix(DOMAIN_TAGS.request, chainId);
  const msg = new Uint8Array(prefix.length + body.length);
  msg.set(prefix, 0);
  msg.set(body, prefix.length);
  return msg;
}

export function encodeRequest(r: ClientRequest): Uint8Array {
  if (!(r.signature instanceof Uint8Array) || r.signature.length !== REQUEST_SIGNATURE_BYTES) {
    throw new RequestEncodeError(`signature must be ${REQUEST_SIGNATURE_BYTES} bytes`);
  }
  const body = encodeRequestBody(r);
  const out = new Uint8Array(body.length + REQUEST_SIGNATURE_BYTES);
  out.set(body, 0);
  out.set(r.signature, body.length);
  return out;
}

/** Signs with `secretKey` (its public key becomes the client key) and returns the wire bytes. */
export function signRequest(fields: Omit<RequestFields, 'clientKey'>, secretKey: Ed25519SecretKey): Uint8Array {
  const full: RequestFields = { ...fields, clientKey: secretKey.publicKey };
  const body = encodeRequestBody(full);
  const signature = ed25519Backend('sodium').sign(secretKey, requestSigningMessage(full.chainId, body));
  const out = new Uint8Array(body.length + REQUEST_SIGNATURE_BYTES);
  out.set(body, 0);
  out.set(signature, body.length);
  return out;
}

export function requestId(bytes: Uint8Array): Uint8Array {
  return sha256(bytes);
}

const malformed = (d: string) => new RequestDecodeError('malformed', d);

/** The fields before a request's command: who sent it, its place in the client's sequence, and until when it may commit. */
export interface RequestHeader {
  /** A view into the request's bytes, not a copy. */
  readonly clientKey: Uint8Array;
  readonly sequence: bigint;
  readonly expiry: bigint;
}

/**
 * A request's header, read in place without decoding (or copying) the rest; undefined when the
 * bytes are too short or of another version to hold one. For requests already validated (the
 * mempool's, a submitted request after its check), where a second full decode would be waste.
 */
export function requestHeader(bytes: Uint8Array): RequestHeader | undefined {
  if (bytes.length < MIN_REQUEST_BYTES || bytes[0] !== REQUEST_VERSION) return undefined;
  const keyAt = 2 + bytes[1]!;
  const seqAt = keyAt + CLIENT_KEY_BYTES;
  if (seqAt + 16 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { clientKey: bytes.subarray(keyAt, seqAt), sequence: view.getBigUint64(seqAt), expiry: view.getBigUint64(seqAt + 8) };
}

/**
 * A number standing for the request's client key (its first 6 bytes), read in place without a
 * copy: for spreading a block's room among senders, where two keys sharing a tag only share
 * their place (finding a key that shares another's takes some 2^48 key generations). Undefined
 * for bytes too short to be a request.
 */
export function clientKeyTag(bytes: Uint8Array): number | undefined {
  if (bytes.length < MIN_REQUEST_BYTES || bytes[0] !== REQUEST_VERSION) return undefined;
  const at = 2 + bytes[1]!;
  if (at + CLIENT_KEY_BYTES > bytes.length) return undefined;
  let tag = 0;
  for (let i = 0; i < 6; i++) tag = tag * 256 + bytes[at + i]!;
  return tag;
}

/** Where a canonical request's fields lie in its bytes: the one reading of the layout. */
interface RequestLayout {
  readonly chainAt: number;
  readonly chainLen: number;
  readonly keyAt: number;
  readonly sequence: bigint;
  readonly expiry: bigint;
  readonly cmdAt: number;
  readonly cmdLen: number;
  /** Length of the signed body, i.e. offset of the signature. */
  readonly bodyLength: number;
}

/**
 * Reads the layout of `bytes` (a Uint8Array within MAX_REQUEST_BYTES, which the caller checked);
 * throws RequestDecodeError (and nothing else) for bytes that are not a canonical request.
 */
function requestLayout(bytes: Uint8Array): RequestLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string): number => {
    if (at + n > bytes.length) throw malformed(`truncated: ${what} needs ${n} bytes at offset ${at}`);
    const start = at;
    at += n;
    return start;
  };
  const version = bytes[need(1, 'version')]!;
  if (version !== REQUEST_VERSION) throw malformed(`unknown version ${version}`);
  const chainLen = bytes[need(1, 'chain id length')]!;
  if (chainLen < 1 || chainLen > MAX_CHAIN_ID_BYTES) throw malformed(`chain id has ${chainLen} bytes`);
  const chainAt = need(chainLen, 'chain id');
  for (let i = 0; i < chainLen; i++) {
    const c = bytes[chainAt + i]!;
    if (c < 0x21 || c > 0x7e) throw malformed('chain id is not printable ASCII');
  }
  const keyAt = need(CLIENT_KEY_BYTES, 'client key');
  const sequence = view.getBigUint64(need(8, 'sequence'));
  const expiry = view.getBigUint64(need(8, 'expiry'));
  const cmdLen = view.getUint16(need(2, 'command length'));
  if (cmdLen > MAX_COMMAND_BYTES) throw new RequestDecodeError('oversized', `command has ${cmdLen} bytes, limit ${MAX_COMMAND_BYTES}`);
  const cmdAt = need(cmdLen, 'command');
  const bodyLength = at;
  need(REQUEST_SIGNATURE_BYTES, 'signature');
  if (at !== bytes.length) throw malformed(`${bytes.length - at} trailing bytes`);
  return { chainAt, chainLen, keyAt, sequence, expiry, cmdAt, cmdLen, bodyLength };
}

/** Inverse of encodeRequest; throws RequestDecodeError (and nothing else) for any other bytes. */
export function decodeRequest(bytes: Uint8Array): DecodedRequest {
  if (!(bytes instanceof Uint8Array)) throw malformed('input is not a Uint8Array');
  // Checked before parsing, so an oversized input costs nothing but its length.
  if (bytes.length > MAX_REQUEST_BYTES) throw new RequestDecodeError('oversized', `${bytes.length} bytes, limit ${MAX_REQUEST_BYTES}`);
  const { chainAt, chainLen, keyAt, sequence, expiry, cmdAt, cmdLen, bodyLength } = requestLayout(bytes);
  // A plain copy even when the caller hands a Buffer, whose slice() would be a view.
  const own = new Uint8Array(bytes);
  let id: Uint8Array | undefined;
  return {
    // Printable ASCII (checked): one byte is one UTF-16 unit.
    chainId: String.fromCharCode(...own.subarray(chainAt, chainAt + chainLen)),
    clientKey: own.subarray(keyAt, keyAt + CLIENT_KEY_BYTES),
    sequence,
    expiry,
    command: own.subarray(cmdAt, cmdAt + cmdLen),
    signature: own.subarray(bodyLength, bodyLength + REQUEST_SIGNATURE_BYTES),
    bytes: own,
    get id(): Uint8Array {
      id ??= sha256(own);
      return id;
    },
    bodyLength,
  };
}

/** What the stateless check reads from a request: views into its bytes, not copies. */
export interface RequestParts {
  /** Whether the request is for the chain `chainId` (compared in place: no string is built). */
  isForChain(chainId: string): boolean;
  readonly clientKey: Uint8Array;
  readonly expiry: bigint;
  readonly command: Uint8Array;
  /** The signed body: every byte before the signature. */
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * The parts of a canonical request as views into `bytes`; throws RequestDecodeError (and nothing
 * else) exactly where decodeRequest does. For the stateless check, which reads each request once
 * and keeps nothing: decodeRequest's copy, chain id string and getter object were more than half
 * the cost of an unsigned check. The parts read `bytes` when used, so they must not outlive a
 * use of the bytes (a caller that reuses its buffer would see them change).
 */
export function requestParts(bytes: Uint8Array): RequestParts {
  if (!(bytes instanceof Uint8Array)) throw malformed('input is not a Uint8Array');
  if (bytes.length > MAX_REQUEST_BYTES) throw new RequestDecodeError('oversized', `${bytes.length} bytes, limit ${MAX_REQUEST_BYTES}`);
  const { chainAt, chainLen, keyAt, expiry, cmdAt, cmdLen, bodyLength } = requestLayout(bytes);
  return {
    isForChain: (chainId) => {
      if (chainId.length !== chainLen) return false;
      for (let i = 0; i < chainLen; i++) if (bytes[chainAt + i] !== chainId.charCodeAt(i)) return false;
      return true;
    },
    clientKey: bytes.subarray(keyAt, keyAt + CLIENT_KEY_BYTES),
    expiry,
    command: bytes.subarray(cmdAt, cmdAt + cmdLen),
    body: bytes.subarray(0, bodyLength),
    signature: bytes.subarray(bodyLength, bodyLength + REQUEST_SIGNATURE_BYTES),
  };
}

/** What execution takes from a committed request: views into its bytes, not copies. */
export interface RequestView {
  readonly clientKey: Uint8Array;
  readonly sequence: bigint;
  readonly expiry: bigint;
  readonly command: Uint8Array;
}

/**
 * A request's fields as views into `bytes`, with no copy and no chain id string; undefined
 * exactly where decodeRequest throws (the property tests hold the two to that). For committed
 * payloads, whose arrays are immutable once received: the views must not outlive a use that
 * needs its own copy (the application copies what it stores).
 */
export function readRequest(bytes: Uint8Array): RequestView | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_REQUEST_BYTES) return undefined;
  let layout: RequestLayout;
  try {
    layout = requestLayout(bytes);
  } catch (e) {
    if (e instanceof RequestDecodeError) return undefined;
    throw e;
  }
  const { keyAt, sequence, expiry, cmdAt, cmdLen } = layout;
  return { clientKey: bytes.subarray(keyAt, keyAt + CLIENT_KEY_BYTES), sequence, expiry, command: bytes.subarray(cmdAt, cmdAt + cmdLen) };
}
