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
import { freemem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
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

/**
 * Encodes `content`, reading each iterable once and keeping none of its items: the bytes go
 * into one buffer that doubles as it fills, and the two counts are written once known. A
 * snapshot is taken of the whole history, so holding every entry (or a part per entry) until
 * the end cost hundreds of bytes of heap per committed command, enough to run a long-lived
 * validator's heap out at a snapshot height, on every restart alike.
 */
export function encodeSnapshot(content: SnapshotContent): Uint8Array {
  const out = new ByteWriter(1 << 16);
  out.bytes(MAGIC).u8(VERSION);
  out.u8(content.chainId.length).bytes(Uint8Array.from(content.chainId, (c) => c.charCodeAt(0)));
  out.u64(content.height);
  const entriesAt = out.reserveU64();
  let entries = 0;
  for (const [key, value] of content.entries) {
    out.u16(key.length).bytes(key).u32(value.length).bytes(value);
    entries++;
  }
  out.patchU64(entriesAt, entries);
  const logAt = out.reserveU64();
  let logSize = 0;
  for (const e of content.log) {
    out.bytes(e.requestId).u8(e.result);
    logSize++;
  }
  out.patchU64(logAt, logSize);
  return out.finish();
}

const fail = (detail: string) => new SnapshotDecodeError(detail);

/** A snapshot from a peer is more than this node can hold (snapshotLimits). */
export class SnapshotTooLargeError extends SnapshotDecodeError {}

/** What a snapshot's first bytes say about it, before the rest has arrived. */
export interface SnapshotHeader {
  readonly chainId: string;
  readonly height: number;
  /** State entries that follow. */
  readonly entryCount: number;
}

function readHeader(r: ByteReader): SnapshotHeader {
  const magic = r.bytes(MAGIC.length, 'magic');
  if (compareBytes(magic, MAGIC) !== 0) throw fail('bad magic');
  const version = r.u8('version');
  if (version !== VERSION) throw fail(`unsupported version ${version}`);
  const chain = r.bytes(r.u8('chain id length'), 'chain id');
  const height = r.u53('height');
  const entryCount = r.u53('entry count');
  return { chainId: String.fromCharCode(...chain), height, entryCount };
}

/**
 * The header at the front of snapshot bytes (at most SNAPSHOT_HEADER_MAX_BYTES of them): a
 * download reads it from the first chunk and can refuse a snapshot too large to build before
 * fetching the rest. Throws SnapshotDecodeError.
 */
export function readSnapshotHeader(prefix: Uint8Array): SnapshotHeader {
  if (!(prefix instanceof Uint8Array)) throw fail('input is not a Uint8Array');
  return readHeader(new ByteReader(prefix, fail));
}

/** Magic, version, chain id (at most 255 bytes), height, entry count. */
export const SNAPSHOT_HEADER_MAX_BYTES = MAGIC.length + 1 + 1 + 255 + 8 + 8;

/**
 * Heap one state entry takes here once built (the state tree's map entry and leaf: 62 bytes
 * for the smallest entries, read between forced collections), with room for the decode's
 * short-lived copies.
 */
export const STATE_ENTRY_HEAP_BYTES = 96;
/** Memory outside the heap one state entry takes once built (its pair-arena bytes and key hash: 433-440 bytes for the smallest). */
export const STATE_ENTRY_OFF_HEAP_BYTES = 512;
/** Memory one log entry takes once built (65 bytes in the log's slabs, which double as they grow). */
export const LOG_ENTRY_MEMORY_BYTES = 144;

/** Bytes this process can still take: on its heap, and of the machine's (or its container's) memory. */
export interface MemoryHeadroom {
  readonly heapFree: number;
  readonly systemFree: number;
}

export function memoryHeadroom(): MemoryHeadroom {
  const heap = getHeapStatistics();
  return { heapFree: heap.heap_size_limit - heap.used_heap_size, systemFree: Math.min(freemem(), process.availableMemory()) };
}

/** What a snapshot from a peer may take on this node, in bytes (snapshotLimits). */
export interface SnapshotLimits {
  /** Heap for the state built from it (STATE_ENTRY_HEAP_BYTES an entry). */
  readonly heapBytes: number;
  /** Memory outside the heap for the state and log built from it. */
  readonly memoryBytes: number;
  /** Memory for the download: its chunks, then one buffer of them, so twice its size for a moment. */
  readonly downloadBytes: number;
}

/**
 * What a snapshot from a peer may take here: three quarters of the heap still free, half the
 * free memory for what is built from it and a quarter for its bytes. A snapshot's byte size
 * bounds its entries only loosely (8 bytes the smallest), and nothing certifies it before the
 * state is rebuilt, so without this a peer's gigabyte of tiny entries ran the heap out (a fatal
 * error no handler catches). Taken once, before the download, so that what the download holds
 * is not counted against what is built. A larger heap (--max-old-space-size) raises the state
 * a node can take.
 */
export function snapshotLimits(room: MemoryHeadroom = memoryHeadroom()): SnapshotLimits {
  const floor = (x: number) => Math.max(0, Math.floor(x));
  return { heapBytes: floor((room.heapFree * 3) / 4), memoryBytes: floor(room.systemFree / 2), downloadBytes: floor(room.systemFree / 4) };
}

/** Refuses `entries` state entries that `limits` cannot take; what is left of its memory for the log. */
export function checkStateEntries(entries: number, limits: Pick<SnapshotLimits, 'heapBytes' | 'memoryBytes'>): number {
  const heap = entries * STATE_ENTRY_HEAP_BYTES;
  const memory = entries * STATE_ENTRY_OFF_HEAP_BYTES;
  if (heap > limits.heapBytes || memory > limits.memoryBytes) {
    throw new SnapshotTooLargeError(`${entries} state entries need ${heap} bytes of heap and ${memory} beside it; this node can give ${limits.heapBytes} and ${limits.memoryBytes}`);
  }
  return limits.memoryBytes - memory;
}

/** Receives a snapshot's contents in order, as readSnapshot checks them. */
export interface SnapshotSink {
  /** A state entry; keys arrive strictly ascending. */
  entry(key: Uint8Array, value: Uint8Array): void;
  /** The log entry at the next position. */
  logEntry(requestId: Uint8Array, result: Result): void;
}

/**
 * Reads and checks a snapshot for chain `chainId`, handing each entry to `sink` as it goes (so
 * nothing of it is held twice), and returns its height. Throws SnapshotDecodeError for anything
 * that is not a valid snapshot, and SnapshotTooLargeError, before the state entries or before
 * the log, when they need more than `limits`. The sink may have seen a prefix when it throws.
 */
export function readSnapshot(bytes: Uint8Array, chainId: string, sink: SnapshotSink, limits?: Pick<SnapshotLimits, 'heapBytes' | 'memoryBytes'>): number {
  if (!(bytes instanceof Uint8Array)) throw fail('input is not a Uint8Array');
  const r = new ByteReader(bytes, fail);
  const { chainId: chain, height, entryCount: count } = readHeader(r);
  if (chain !== chainId) throw fail('snapshot belongs to another chain');
  if (count > r.remaining / MIN_ENTRY_BYTES) throw fail(`entry count ${count} exceeds what ${r.remaining} bytes can hold`);
  const logMemory = limits === undefined ? Number.POSITIVE_INFINITY : checkStateEntries(count, limits);
  let previous: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const key = r.bytes(r.u16('key length'), 'key');
    const valueLength = r.u32('value length');
    // isValidStateEntry caps every value far below this; checked first so a forged length is
    // refused before it is sliced.
    if (valueLength > r.remaining) throw fail(`entry ${i}: value length ${valueLength} runs past the end`);
    const value = r.bytes(valueLength, 'value');
    if (!isValidStateEntry(key, value)) throw fail(`entry ${i} is not a valid application state entry`);
    if (previous !== undefined && compareBytes(previous, key) >= 0) throw fail(`entry ${i} is not in strictly ascending key order`);
    previous = key;
    sink.entry(key, value);
  }

  const logSize = r.u53('log size');
  if (logSize * LOG_ENTRY_BYTES !== r.remaining) {
    throw fail(`log of ${logSize} entries needs ${logSize * LOG_ENTRY_BYTES} bytes, ${r.remaining} present`);
  }
  if (logSize * LOG_ENTRY_MEMORY_BYTES > logMemory) {
    throw new SnapshotTooLargeError(`a log of ${logSize} entries needs ${logSize * LOG_ENTRY_MEMORY_BYTES} bytes; this node can give ${logMemory} beside the state`);
  }
  for (let i = 0; i < logSize; i++) {
    const requestId = r.bytes(SHA256_LENGTH, 'request id');
    const result = r.u8('result');
    if (!isResult(result)) throw fail(`log entry ${i} has unknown result code ${result}`);
    sink.logEntry(requestId, result);
  }
  r.end();
  return height;
}

/** Decodes and checks a whole snapshot for chain `chainId` into arrays; throws SnapshotDecodeError for anything else. */
export function decodeSnapshot(bytes: Uint8Array, chainId: string): DecodedSnapshot {
  const entries: [Uint8Array, Uint8Array][] = [];
  const log: SnapshotLogEntry[] = [];
  const height = readSnapshot(bytes, chainId, {
    entry: (key, value) => entries.push([key, value]),
    logEntry: (requestId, result) => log.push({ requestId, result }),
  });
  return { chainId, height, entries, log };
}
