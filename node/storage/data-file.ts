/**
 * A look at LMDB's data file before LMDB maps it.
 *
 * LMDB trusts its file: it maps `data.mdb` and follows page numbers into the mapping, so a file
 * cut short (a copy that stopped, a disk that filled, a filesystem rolled back) or one whose
 * meta pages are overwritten kills the process with SIGBUS or SIGSEGV, as it opens or at the
 * first read or write of a missing page, with no error to report. Measured here with lmdb-js
 * 3.5: cut to one page, two, three, half, or one page less, and meta pages overwritten, all
 * died so.
 *
 * So before LMDB opens it, the file's two meta pages are read and checked (page flag, magic,
 * data version, page size, page numbers in range), and the newer one's last page is compared
 * with the file's length. A file that holds every page up to it cannot fault. One that holds
 * fewer is not always damaged: LMDB may count pages that a transaction allocated and freed
 * again without ever writing them (a random mix of puts and deletes left 4 of 3,000 files up to
 * 6 pages short). Such a file has its trees walked here, page header by page header: the
 * free-page tree (which only a write reads), the main tree and every named table in it, and
 * the overflow pages of large values. A page any of them reaches past the end of the file is a
 * cut, and the open is refused with DataFileDamagedError instead of the validator dying on it;
 * a reached page that is not what its parent says it is (its number, its kind) is damage too.
 * Values themselves are not read, only their pages' bounds.
 *
 * Layout (lmdb-js's LMDB, 64-bit, mdb.c): a page starts with a 24-byte header (page number,
 * txnid, pad, flags at byte 18, then lower/upper bounds or an overflow run's page count); a
 * node index of u16 offsets (from the header's end) follows. A node is lo, hi, flags, key size
 * (u16 each), the key, then its data: on a branch page, lo | hi << 16 | flags << 32 is the child
 * page; on a leaf, lo | hi << 16 is the data's size, and flag 1 puts the data on overflow pages
 * (the node holds their first page number), flag 2 makes it a table record (48 bytes, its root
 * page last). A meta page's body is magic 0xBEEFC0DE, the data version (low 16 bits), the
 * fixed-map address and map size, the free and main trees' records (the page size is the free
 * record's first field), then the last page number and the txnid that wrote it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
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
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const NODE_HEADER_BYTES = 8;
const TABLE_RECORD_BYTES = 48;
const TABLE_ROOT_AT = 40;

/** The data file is damaged in a way LMDB would crash on: nothing was opened. */
export class DataFileDamagedError extends StorageError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`data file ${file} is damaged: ${detail}; treat the directory as lost: move it aside and start once on an empty one with vsmr start --fresh-safety-state (docs/DEPLOY.md section 6)`, 'STORAGE_DATA_FILE');
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
 * LMDB reads (the higher txnid); throws MetaPageError naming the first problem found.
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
  /** Fewer pages than the meta counts, yet every page the trees reach is in the file (walkTrees). */
  | { readonly kind: 'short-but-whole'; readonly meta: DataFileMeta; readonly pages: number; readonly pagesWalked: number };

/**
 * Checks `dir`'s data.mdb before LMDB maps it; throws DataFileDamagedError for a file LMDB
 * would crash on (see the module comment).
 */
export function checkDataFile(dir: string): DataFileVerdict {
  const file = join(dir, 'data.mdb');
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err; // LMDB will fail on it too, with its own message (StorageOpenError)
  }
  try {
    const head = readAt(fd, 0, 2 * MAX_PAGE_SIZE);
    if (head.length === 0) return { kind: 'empty' };
    let latest: DataFileMeta;
    try {
      latest = parseDataFileMetas(head).latest;
    } catch (err) {
      if (err instanceof MetaPageError) throw new DataFileDamagedError(file, `${err.message} (${fstatSync(fd).size} bytes)`);
      throw err;
    }
    // Sized after the metas are read: a writer that moved on meanwhile only made the file longer.
    const pages = Math.floor(fstatSync(fd).size / latest.pageSize);
    if (BigInt(pages) > latest.lastPage) return { kind: 'whole', meta: latest };
    const walk = walkTrees(fd, latest, pages);
    if (walk.damage === undefined) return { kind: 'short-but-whole', meta: latest, pages, pagesWalked: walk.pagesWalked };
    throw new DataFileDamagedError(file, `it holds ${pages} pages of the ${latest.lastPage + 1n} its newest meta page counts, and ${walk.damage}`);
  } finally {
    closeSync(fd);
  }
}

/** Up to `length` bytes of `fd` from `position` (fewer at the end of the file). */
function readAt(fd: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, out, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return out.subarray(0, got);
}

/**
 * Follows every page the meta's trees reach (the free-page tree, the main tree, each table
 * recorded in it, and the overflow runs of large values) and returns the first way one is
 * missing or is not the page its parent names; `pages` is how many the file holds.
 */
export function walkTrees(fd: number, meta: DataFileMeta, pages: number): { readonly damage?: string; readonly pagesWalked: number } {
  const size = meta.pageSize;
  const seen = new Set<number>();
  // [page, what reached it, its tree, whether its leaves record tables]
  const todo: [bigint, string, string, boolean][] = [];
  const [freeRoot, mainRoot] = meta.roots;
  if (freeRoot !== undefined) todo.push([freeRoot, 'its root', 'the free-page tree', false]);
  if (mainRoot !== undefined) todo.push([mainRoot, 'its root', 'the main tree', true]);
  const inFile = (page: bigint, count = 1n) => page + count <= BigInt(pages);
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [page, reachedAs, tree, tables] = next;
    const from = `${reachedAs} in ${tree}`;
    if (!inFile(page)) return { damage: `page ${page}, ${from}, is past its end`, pagesWalked: seen.size };
    const at = Number(page);
    if (seen.has(at)) return { damage: `page ${page}, ${from}, is reached twice`, pagesWalked: seen.size };
    seen.add(at);
    const bytes = readAt(fd, at * size, size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const flags = view.getUint16(FLAGS_AT, true);
    if (view.getBigUint64(0, true) !== page) return { damage: `page ${page}, ${from}, is numbered ${view.getBigUint64(0, true)}`, pagesWalked: seen.size };
    const branch = (flags & P_BRANCH) !== 0;
    if (!branch && (flags & P_LEAF) === 0) return { damage: `page ${page}, ${from}, is neither a branch nor a leaf (flags ${flags})`, pagesWalked: seen.size };
    if ((flags & P_LEAF2) !== 0) continue; // fixed-size keys only: no page numbers in it
    const lower = view.getUint16(20, true);
    for (let i = 0; i < lower >> 1; i++) {
      const index = PAGE_HEADER_BYTES + 2 * i;
      if (index + 2 > size) return { damage: `page ${page} has more nodes than fit`, pagesWalked: seen.size };
      const node = view.getUint16(index, true) + PAGE_HEADER_BYTES;
      if (node + NODE_HEADER_BYTES > size) return { damage: `page ${page}'s node ${i} lies outside it`, pagesWalked: seen.size };
      const lo = view.getUint16(node, true);
      const hi = view.getUint16(node + 2, true);
      const nodeFlags = view.getUint16(node + 4, true);
      const data = node + NODE_HEADER_BYTES + view.getUint16(node + 6, true);
      if (branch) {
        todo.push([BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n), `a child of page ${page}`, tree, tables]);
      } else if ((nodeFlags & F_BIGDATA) !== 0) {
        if (data + 8 > size) return { damage: `page ${page}'s node ${i} lies outside it`, pagesWalked: seen.size };
        const first = view.getBigUint64(data, true);
        const count = BigInt(Math.floor((PAGE_HEADER_BYTES - 1 + (lo | (hi << 16))) / size) + 1);
        if (!inFile(first, count)) return { damage: `the overflow run of pages ${first}..${first + count - 1n}, from page ${page} in ${tree}, ends past its end`, pagesWalked: seen.size };
        const head = readAt(fd, Number(first) * size, PAGE_HEADER_BYTES);
        const headView = new DataView(head.buffer, head.byteOffset, head.byteLength);
        if (headView.getBigUint64(0, true) !== first || (headView.getUint16(FLAGS_AT, true) & P_OVERFLOW) === 0) {
          return { damage: `page ${first}, an overflow run from page ${page}, is not one`, pagesWalked: seen.size };
        }
        for (let k = 0n; k < count; k++) seen.add(Number(first + k));
      } else if (tables && (nodeFlags & F_SUBDATA) !== 0) {
        if (data + TABLE_RECORD_BYTES > size) return { damage: `page ${page}'s node ${i} lies outside it`, pagesWalked: seen.size };
        const root = view.getBigUint64(data + TABLE_ROOT_AT, true);
        // A table's own leaves hold values; a table of duplicates would nest further, and vsmr has none.
        if (root !== NO_PAGE) todo.push([root, 'its root', `a table named on page ${page}`, false]);
      }
    }
  }
  return { pagesWalked: seen.size };
}
