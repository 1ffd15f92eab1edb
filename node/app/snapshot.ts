/**
 * Canonical byte form of the whole application: what state sync ships to a replica that is too
 * far behind to replay blocks. Layout (integers big-endian):
 *
 *   "vsap" || u8 version (2) || u8 len(chainId) || chainId || u64 height
 *   || u64 n || n × (u16 len(stateKey) || stateKey || u32 len(value) || value)   keys strictly ascending
 *   || u64 m || m × (requestId (32) || u8 result)                                  log positions 0..m-1
 *
 * One state has exactly one snapshot (sorted keys, no optional fields), so two replicas at the
 * same height produce identical bytes and a snapshot can be checked by hash as well as by
 * rebuilding its roots. The log travels as (hash, result) pairs, not leaves: leaves are
 * recomputed with the receiver's chain id, so a snapshot cannot smuggle in leaves that do not
 * match their entries.
 *
 * The decoder trusts nothing: each entry must be one a command could have produced, counts are
 * bounded by the bytes actually present, and the caller must still compare the rebuilt roots
 * with a certified header before using the state. A later version will carry the log as its
 * frontier (O(log n) hashes) plus recent entries and stream the state in chunks, rather than
 * one buffer that grows with the chain's whole history.
 */
import { EncodingError } from '../../crypto/errors.js';
import { SHA256_LENGTH } from '../../crypto/hash.js';
import { ByteReader, ByteWriter, compareBytes } from '../../protocol/bytes-io.js';
import type { Result } from '../../protocol/result.js';
import { isResult } from '../../protocol/result.js';
import { isValidStateEntry } from './state-keys.js';

const MAGIC = Uint8Array.from('vsap', (c) => c.charCodeAt(0));
/** 2 since 2026-11-27: the log's hashes are request ids, no longer command hashes. */
const VERSION = 2;
const MIN_ENTRY_BYTES = 2 + 2 + 4; // a KV key of one byte after its namespace byte, empty value
const LOG_ENTRY_BYTES = SHA256_LENGTH + 1;

export class SnapshotDecodeError extends EncodingError {
  override readonly code = 'SNAPSHOT_DECODE';
  constructor(detail: string) {
    super(`invalid application snapshot: ${detail}`);
  }
}

export interface SnapshotLogEntry {
  requestId: Uint8Array;
  result: Result;
}

export interface SnapshotContent {
  chainId: string;
  height: number;
  /** (stateKey, value) pairs in ascending key order. */
  entries: Iterable<readonly [Uint8Array, Uint8Array]>;
  log: Iterable<SnapshotLogEntry>;
}

export interface DecodedSnapshot {
  chainId: string;
  height: number;
  entries: [Uint8Array, Uint8Array][];
  log: SnapshotLogEntry[];
}

export function encodeSnapshot(content: SnapshotContent): Uint8Array {
  const w = new ByteWriter().bytes(MAGIC).u8(VERSION);
  w.u8(content.chainId.length).bytes(Uint8Array.from(content.chainId, (c) => c.charCodeAt(0)));
  w.u64(content.height);
  const entries = [...content.entries];
  w.u64(entries.length);
  for (const [key, value] of entries) w.u16(key.length).bytes(key).u32(value.length).bytes(value);
  const log = [...content.log];
  w.u64(log.length);
  for (const e of log) w.bytes(e.requestId).u8(e.result);
  return w.finish();
}

const fail = (detail: string) => new SnapshotDecodeError(detail);

/** Decodes and checks a snapshot for chain `chainId`; throws SnapshotDecodeError for anything else. */
export function decodeSnapshot(bytes: Uint8Array, chainId: string): DecodedSnapshot {
  if (!(bytes instanceof Uint8Array)) throw fail('input is not a Uint8Array');
  const r = new ByteReader(bytes, fail);
  const magic = r.bytes(MAGIC.length, 'magic');
  if (compareBytes(magic, MAGIC) !== 0) throw fail('bad magic');
  const version = r.u8('version');
  if (version !== VERSION) throw fail(`unsupported version ${version}`);
  const chain = r.bytes(r.u8('chain id length'), 'chain id');
  if (String.fromCharCode(...chain) !== chainId) throw fail('snapshot belongs to another chain');
  const height = r.u53('height');

  const count = r.u53('entry count');
  if (count > r.remaining / MIN_ENTRY_BYTES) throw fail(`entry count ${count} exceeds what ${r.remaining} bytes can hold`);
  const entries: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < count; i++) {
    const key = r.bytes(r.u16('key length'), 'key');
    const valueLength = r.u32('value length');
    // isValidStateEntry caps every value far below this; checked first so a forged length is
    // refused before it is sliced.
    if (valueLength > r.remaining) throw fail(`entry ${i}: value length ${valueLength} runs past the end`);
    const value = r.bytes(valueLength, 'value');
    if (!isValidStateEntry(key, value)) throw fail(`entry ${i} is not a valid application state entry`);
    if (i > 0 && compareBytes(entries[i - 1]![0], key) >= 0) throw fail(`entry ${i} is not in strictly ascending key order`);
    entries.push([key, value]);
  }

  const logSize = r.u53('log size');
  if (logSize * LOG_ENTRY_BYTES !== r.remaining) {
    throw fail(`log of ${logSize} entries needs ${logSize * LOG_ENTRY_BYTES} bytes, ${r.remaining} present`);
  }
  const log: SnapshotLogEntry[] = [];
  for (let i = 0; i < logSize; i++) {
    const requestId = r.bytes(SHA256_LENGTH, 'request id');
    const result = r.u8('result');
    if (!isResult(result)) throw fail(`log entry ${i} has unknown result code ${result}`);
    log.push({ requestId, result });
  }
  r.end();
  return { chainId, height, entries, log };
}
