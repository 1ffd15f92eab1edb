/**
 * A look at LMDB's data file before LMDB maps it.
 *
 * LMDB trusts its file: it maps `data.mdb` and follows page numbers into the mapping, so a file
 * cut short (a copy that stopped, a disk that filled, a filesystem rolled back) or one whose
 * meta pages are overwritten kills the process with SIGBUS or SIGSEGV, as it opens or at the
 * first read of a missing page, with no error to report. Measured here with lmdb-js 3.5: cut to
 * one page, two, three, half, or one page less, and meta pages overwritten, all died so.
 *
 * So before LMDB opens it, the file's two meta pages are read and checked (page flag, magic,
 * data version, page size, page numbers in range), and the newer one's last page is compared
 * with the file's length. A file that holds every page up to it cannot fault. One that holds
 * fewer is not always damaged: LMDB may count pages that a transaction allocated and freed
 * again without ever writing them (a random mix of puts and deletes left 4 of 3,000 files up
 * to 6 pages short). Those files are walked, every table and every value, in a child process
 * (data-file-probe.ts): a child that dies of a signal means a page is missing, and the open is
 * refused with DataFileDamagedError instead of the validator dying on it.
 *
 * Layout (lmdb-js's LMDB, 64-bit): a page starts with a 24-byte header (page number, txnid,
 * pad, flags at byte 18); a meta page's body starts with magic 0xBEEFC0DE, the data version
 * (low 16 bits), the fixed-map address and map size, the free and main trees' records (48 bytes
 * each; the page size is the free tree's first field, its root the last), then the last page
 * number and the txnid that wrote it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StorageError } from './codec.js';

const PAGE_HEADER_BYTES = 24;
const FLAGS_AT = 18;
const P_META = 0x08;
const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
/** Offsets within a meta page (page header included). */
const META = {
  magic: PAGE_HEADER_BYTES,
  version: PAGE_HEADER_BYTES + 4,
  pageSize: PAGE_HEADER_BYTES + 24,
  freeRoot: PAGE_HEADER_BYTES + 24 + 40,
  mainRoot: PAGE_HEADER_BYTES + 24 + 48 + 40,
  lastPage: PAGE_HEADER_BYTES + 24 + 96,
  txnId: PAGE_HEADER_BYTES + 24 + 104,
} as const;
const META_BYTES = META.txnId + 8;
const NO_PAGE = 0xffff_ffff_ffff_ffffn;
/** LMDB's page sizes: a power of two from its minimum to its maximum. */
const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 65536;
/** A walk of a large store reads all of it; past this the open is refused rather than hung. */
const PROBE_TIMEOUT_MS = 10 * 60_000;

/** The data file is damaged in a way LMDB would crash on: nothing was opened. */
export class DataFileDamagedError extends StorageError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`data file ${file} is damaged: ${detail}; restore it from a backup or remove the directory to resync this validator (docs/DEPLOY.md)`, 'STORAGE_DATA_FILE');
  }
}

export interface DataFileMeta {
  readonly pageSize: number;
  readonly lastPage: bigint;
  readonly txnId: bigint;
  /** The free-page tree's root and the main tree's (the named tables'), or undefined for an empty tree. */
  readonly roots: readonly (bigint | undefined)[];
}

/** The meta page at `at` in `bytes`, or why it is not one LMDB could use safely. */
function readMeta(bytes: Uint8Array, at: number): DataFileMeta | string {
  if (bytes.length < at + META_BYTES) return 'meta page missing';
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, META_BYTES);
  if ((view.getUint16(FLAGS_AT, true) & P_META) === 0) return 'not a meta page';
  if (view.getUint32(META.magic, true) !== MAGIC) return 'no LMDB magic';
  const version = view.getUint32(META.version, true) & 0xffff;
  if (version !== DATA_VERSION) return `data version ${version}, not ${DATA_VERSION}`;
  const pageSize = view.getUint32(META.pageSize, true);
  if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) return `page size ${pageSize}`;
  const lastPage = view.getBigUint64(META.lastPage, true);
  // Pages 0 and 1 are the metas; a page count past 2^48 is not a file on any disk.
  if (lastPage < 1n || lastPage >= 1n << 48n) return `last page ${lastPage}`;
  const roots: (bigint | undefined)[] = [];
  for (const [name, offset] of [['free', META.freeRoot], ['main', META.mainRoot]] as const) {
    const root = view.getBigUint64(offset, true);
    if (root !== NO_PAGE && (root < 2n || root > lastPage)) return `${name} tree root ${root} outside pages 2..${lastPage}`;
    roots.push(root === NO_PAGE ? undefined : root);
  }
  return { pageSize, lastPage, txnId: view.getBigUint64(META.txnId, true), roots };
}

/**
 * Both meta pages of `bytes` (the start of a data file, at least two pages of it), and the one
 * LMDB reads (the higher txnid); throws a string naming the first problem found.
 */
export function parseDataFileMetas(bytes: Uint8Array): { readonly metas: readonly [DataFileMeta, DataFileMeta]; readonly latest: DataFileMeta } {
  const first = readMeta(bytes, 0);
  if (typeof first === 'string') throw new MetaPageError(0, first);
  const second = readMeta(bytes, first.pageSize);
  if (typeof second === 'string') throw new MetaPageError(1, second);
  if (second.pageSize !== first.pageSize) throw new MetaPageError(1, `page size ${second.pageSize}, not meta 0's ${first.pageSize}`);
  return { metas: [first, second], latest: first.txnId >= second.txnId ? first : second };
}

/** A meta page LMDB would misread. */
export class MetaPageError extends Error {
  constructor(
    readonly page: 0 | 1,
    readonly detail: string,
  ) {
    super(`meta page ${page}: ${detail}`);
    this.name = 'MetaPageError';
  }
}

export type DataFileVerdict =
  /** No data file yet: LMDB will make one. */
  | { readonly kind: 'absent' }
  /** A data file of no bytes, which LMDB would open as a new store: the caller's to judge. */
  | { readonly kind: 'empty' }
  /** Every page LMDB may read is in the file. */
  | { readonly kind: 'whole'; readonly meta: DataFileMeta }
  /** Fewer pages than the meta counts, yet every page the trees reach read back (a child walked them). */
  | { readonly kind: 'short-but-readable'; readonly meta: DataFileMeta; readonly pages: number };

/** Reads up to `length` bytes from the start of `fd`. */
function readHead(fd: number, length: number): Uint8Array {
  const head = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, head, got, length - got, got);
    if (n === 0) break;
    got += n;
  }
  return head.subarray(0, got);
}

/**
 * Checks `dir`'s data.mdb before LMDB maps it; throws DataFileDamagedError for a file LMDB
 * would crash on (see the module comment).
 */
export function checkDataFile(dir: string, probe: (file: string) => ProbeResult = probeDataFile): DataFileVerdict {
  const file = join(dir, 'data.mdb');
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err; // LMDB will fail on it too, with its own message (StorageOpenError)
  }
  let size: number;
  let head: Uint8Array;
  try {
    size = fstatSync(fd).size;
    if (size === 0) return { kind: 'empty' };
    head = readHead(fd, Math.min(size, 2 * MAX_PAGE_SIZE));
  } finally {
    closeSync(fd);
  }
  let latest: DataFileMeta;
  try {
    latest = parseDataFileMetas(head).latest;
  } catch (err) {
    if (err instanceof MetaPageError) throw new DataFileDamagedError(file, `${err.message} (${size} bytes)`);
    throw err;
  }
  const pages = Math.floor(size / latest.pageSize);
  if (BigInt(pages) > latest.lastPage) return { kind: 'whole', meta: latest };
  // A tree's root is written by the commit that names it, so one past the end is a cut file
  // (and the free tree's root, which only a write reads, is out of the walk's reach).
  for (const root of latest.roots) {
    if (root !== undefined && root >= BigInt(pages)) throw new DataFileDamagedError(file, `it holds ${pages} pages, and its newest meta page's tree root is page ${root}`);
  }
  const walked = probe(file);
  if (walked.ok) return { kind: 'short-but-readable', meta: latest, pages };
  throw new DataFileDamagedError(file, `${pages} pages of ${latest.lastPage + 1n} counted by its newest meta page, and ${walked.detail}`);
}

export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };

/**
 * Reads every table and value of the store in `file`'s directory in a child process, where a
 * missing page kills the child instead of this one.
 */
export function probeDataFile(file: string): ProbeResult {
  const script = fileURLToPath(new URL('./data-file-probe.js', import.meta.url));
  const dir = join(file, '..');
  const run = spawnSync(process.execPath, [script, dir], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.error) return { ok: false, detail: `the walk of its pages could not run: ${run.error.message}` };
  if (run.signal) return { ok: false, detail: `reading its pages ${run.signal === 'SIGTERM' ? 'took too long' : `crashed LMDB (${run.signal})`}` };
  if (run.status !== 0) return { ok: false, detail: `LMDB refused a page: ${(run.stderr || run.stdout).trim().split('\n').at(-1) ?? `exit ${run.status}`}` };
  return { ok: true };
}
