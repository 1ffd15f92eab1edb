/**
 * The stateless request check: a pure function of the bytes, the chain id and the current
 * height, so it can run in any worker (or on the main thread) and give the same verdict.
 *
 * Cheap checks run first (limits, decode, chain, expiry, command) so that junk never costs a
 * signature verification; the signature is last.
 */
import { bytesEqual } from '../crypto/bytes.js';
import { lengthPrefixedList } from '../protocol/bytes-io.js';
import type { DigestMemo } from '../crypto/digest-memo.js';
import { type Ed25519BackendName, ed25519Backend } from '../crypto/ed25519/backends.js';
import { type Command, CommandDecodeError, decodeCommand } from '../protocol/command.js';
import {
  REQUEST_ID_BYTES,
  RequestDecodeError,
  type RequestParts,
  requestId,
  requestParts,
  requestSigningMessage,
} from '../protocol/request.js';
import { accept, ignore, reject, type Verdict, verdictCode, verdictFromCode } from './verdict.js';

export interface StatelessOptions {
  readonly chainId: string;
  /**
   * The height of the block the request would commit in (at ingress the next one, for a vote the
   * proposal's own): a request whose expiry is below it commits as EXPIRED, so it is refused.
   */
  readonly height: number;
  /** Defaults to libsodium. */
  readonly ed25519?: Ed25519BackendName;
  /**
   * UNSAFE, benchmarks only (`vsmr bench e2e --unsigned`): accept requests without checking
   * their ed25519 signature, to measure ordering alone. `vsmr start` refuses it without
   * --unsafe-unsigned.
   */
  readonly unsafeSkipSignatures?: boolean;
  /**
   * The request's id (SHA-256 of exactly these bytes) where the caller already has it, e.g. from
   * the DigestMemo that keyed its cache: an accepted verdict carries it instead of a second hash.
   * Called only for an accepted request.
   */
  readonly requestId?: () => Uint8Array;
}

/**
 * The application's stateless predicate: the command decodes, and a transfer moves only the
 * signer's own funds (the application trusts validation for the latter).
 */
export function commandVerdict(command: Uint8Array, clientKey: Uint8Array): Verdict | null {
  let cmd: Command;
  try {
    cmd = decodeCommand(command);
  } catch (e) {
    if (e instanceof CommandDecodeError) return reject('bad-command');
    throw e;
  }
  if (cmd.type === 'transfer' && !bytesEqual(cmd.from, clientKey)) return reject('unauthorized-transfer');
  return null;
}

/**
 * The stateless check, reading the request in place (requestParts): nothing of it is copied or
 * kept, and an accepted verdict's id is the caller's (opts.requestId) or hashed here.
 */
export function validateRequest(bytes: Uint8Array, opts: StatelessOptions): Verdict {
  let request: RequestParts;
  try {
    request = requestParts(bytes);
  } catch (e) {
    if (e instanceof RequestDecodeError) return reject(e.failure);
    throw e;
  }
  if (!request.isForChain(opts.chainId)) return reject('wrong-chain');
  if (request.expiry < BigInt(opts.height)) return ignore('expired');
  const cmd = commandVerdict(request.command, request.clientKey);
  if (cmd !== null) return cmd;
  if (opts.unsafeSkipSignatures !== true) {
    const message = requestSigningMessage(opts.chainId, request.body);
    if (!ed25519Backend(opts.ed25519 ?? 'sodium').verify(request.clientKey, message, request.signature)) return reject('bad-signature');
  }
  return accept(opts.requestId === undefined ? requestId(bytes) : opts.requestId());
}

/** Anything that runs the stateless check on a batch: the worker pool, or the thread itself. */
export interface StatelessValidator {
  /**
   * `priority`: a consensus step waits on the answer (a proposal's requests, before the vote),
   * so it goes ahead of client and relay traffic where the validator queues work.
   */
  validate(requests: readonly Uint8Array[], height: number, opts?: { readonly priority?: boolean }): Promise<Verdict[]>;
  // Request arrays passed here are taken as immutable from then on: a validator may remember its
  // verdict (and the request's id) by the array, so bytes written afterwards would inherit them.
  /**
   * The verdicts at once, when every request already passed the check here and is still
   * cached (a proposal's requests normally did, at ingress or by relay); undefined otherwise,
   * and the caller goes through validate(). Lets a replica vote in the step that delivered the
   * proposal instead of a pool round trip later. With `checkUncachedUpTo: k`, up to k requests
   * that are not cached are checked on the calling thread (and cached) instead of giving up:
   * a proposal often carries a few requests whose relayed copy has not arrived yet, and
   * checking them here costs a fraction of a millisecond each, where a round trip through
   * busy workers cost this replica's vote tens of milliseconds.
   */
  validateKnown?(requests: readonly Uint8Array[], height: number, opts?: { readonly checkUncachedUpTo?: number }): Verdict[] | undefined;
  /**
   * The memo of request ids this validator keeps; the runtime hands the same one to its
   * consensus core, so a request is hashed once per received copy.
   */
  readonly requestIds?: DigestMemo;
}

/** The stateless check on the calling thread (tests, tools, single-core deployments). */
export class MainThreadValidator implements StatelessValidator {
  constructor(
    readonly chainId: string,
    readonly ed25519: Ed25519BackendName = 'sodium',
  ) {}

  validate(requests: readonly Uint8Array[], height: number): Promise<Verdict[]> {
    const opts = { chainId: this.chainId, height, ed25519: this.ed25519 };
    return Promise.resolve(requests.map((r) => validateRequest(r, opts)));
  }
}


/*
 * Batch framing. A batch crosses the worker boundary as ONE transferred buffer:
 *   u32 count || (u32 len || request bytes)*
 * and comes back as ONE transferred buffer:
 *   count verdict codes (u8) || count * 32 bytes of request ids (zero unless accepted)
 */

export function packRequests(requests: readonly Uint8Array[]): Uint8Array {
  return lengthPrefixedList(requests);
}

/** Views into `packed` (no copies). Throws RangeError on bad framing: framing is ours, not the peer's. */
export function unpackRequests(packed: Uint8Array): Uint8Array[] {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const count = view.getUint32(0);
  const out: Uint8Array[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(at);
    if (at + 4 + len > packed.length) throw new RangeError('request batch framing is truncated');
    out.push(packed.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (at !== packed.length) throw new RangeError('request batch framing has trailing bytes');
  return out;
}

/** Stateless check of a packed batch; verdicts come back in input order. */
export function validatePacked(packed: Uint8Array, opts: StatelessOptions): Uint8Array {
  const requests = unpackRequests(packed);
  return encodeVerdicts(requests.map((r) => validateRequest(r, opts)));
}

export function encodeVerdicts(verdicts: readonly Verdict[]): Uint8Array {
  const n = verdicts.length;
  const out = new Uint8Array(n + n * REQUEST_ID_BYTES);
  for (let i = 0; i < n; i++) {
    const v = verdicts[i]!;
    out[i] = verdictCode(v);
    if (v.kind === 'accept') out.set(v.id, n + i * REQUEST_ID_BYTES);
  }
  return out;
}

/** Ids are views into `encoded` (no copies): callers hand over a buffer they own, e.g. one a worker transferred. */
export function decodeVerdicts(encoded: Uint8Array, count: number): Verdict[] {
  if (encoded.length !== count * (1 + REQUEST_ID_BYTES)) throw new RangeError('verdict buffer has the wrong length');
  const out: Verdict[] = [];
  for (let i = 0; i < count; i++) {
    const at = count + i * REQUEST_ID_BYTES;
    out.push(verdictFromCode(encoded[i]!, encoded.subarray(at, at + REQUEST_ID_BYTES)));
  }
  return out;
}
