import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { open } from 'lmdb';
import { checkDataFile, DataFileDamagedError, type DataFileMeta, MetaPageError, parseDataFileMetas } from '../../../node/storage/data-file.js';
import { NodeStore } from '../../../node/storage/lmdb-store.js';
import { CHAIN_ID, chain, executedFor, qcFor } from './fixtures.js';

const run = promisify(execFile);
const CLI = join(resolve(import.meta.dirname, '..', '..', '..', '..'), 'bin', 'vsmr.js');
/** Writes to a store with LMDB alone, as the validator would after opening it (data-file-writer.ts). */
const WRITER = join(import.meta.dirname, 'data-file-writer.js');

/** Byte offset of a meta page's last-page field (page header 24, magic and version 8, address and map size 16, two tree records of 48). */
const LAST_PAGE_AT = 24 + 24 + 96;
/** A page's flags (u16 at byte 18 of its header): 1 branch, 2 leaf. */
const FLAGS_AT = 18;

function damaged(fn: () => unknown, detail: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataFileDamagedError, `expected DataFileDamagedError, got ${String(err)}`);
    assert.equal(err.code, 'STORAGE_DATA_FILE');
    assert.match(err.detail, detail);
    return true;
  });
}

function overwrite(file: string, at: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

function metasOf(file: string): { readonly metas: readonly [DataFileMeta, DataFileMeta]; readonly latest: DataFileMeta } {
  return parseDataFileMetas(readFileSync(file).subarray(0, 2 * 65536));
}

function pageFlags(file: string, page: bigint, pageSize: number): number {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(24);
    readSync(fd, header, 0, 24, Number(page) * pageSize);
    return header.readUInt16LE(FLAGS_AT);
  } finally {
    closeSync(fd);
  }
}

const LMDB_OPTIONS = { maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, cache: false } as const;

describe('storage/data-file', () => {
  let root: string;
  /** A store of 30 committed blocks: its data file, made once and copied for each case. */
  let pristine: string;
  const copies: string[] = [];
  const copy = (from = pristine): { dir: string; file: string } => {
    const dir = mkdtempSync(join(root, 'copy-'));
    cpSync(from, dir, { recursive: true });
    rmSync(join(dir, 'lock.mdb'), { force: true });
    copies.push(dir);
    return { dir, file: join(dir, 'data.mdb') };
  };
  const rawStore = (): string => {
    const dir = mkdtempSync(join(root, 'raw-'));
    copies.push(dir);
    return dir;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'vsmr-data-file-'));
    pristine = join(root, 'pristine');
    const store = NodeStore.open(pristine, { chainId: CHAIN_ID });
    for (const b of chain(CHAIN_ID, 30)) store.appendCommitted(b, executedFor(b), qcFor(b));
    store.saveSnapshot(30, new Uint8Array(40_000).fill(3));
    await store.close();
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  afterEach(() => {
    for (const d of copies.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('passes an intact store, which opens with what it held', async () => {
    const { dir } = copy();
    assert.equal(checkDataFile(dir).kind, 'whole');
    const store = NodeStore.open(dir, { chainId: CHAIN_ID });
    assert.equal(store.committedHeight(), 30);
    await store.close();
    assert.equal(checkDataFile(join(root, 'nothing-here')).kind, 'absent');
  });

  it('refuses a data file cut short anywhere, where LMDB would have crashed the process', () => {
    const size = statSync(join(pristine, 'data.mdb')).size;
    const page = metasOf(join(pristine, 'data.mdb')).latest.pageSize;
    for (const length of [100, page, page + 200, 2 * page, 3 * page, Math.floor(size / 2), size - page]) {
      const { dir, file } = copy();
      truncateSync(file, length);
      damaged(() => NodeStore.open(dir, { chainId: CHAIN_ID }), /meta page|past its end/);
    }
  });

  it('refuses a data file whose meta pages are overwritten, naming the page', () => {
    const page = metasOf(join(pristine, 'data.mdb')).latest.pageSize;
    for (const [which, at] of [
      [0, 16],
      [1, page + 16],
    ] as const) {
      const { dir, file } = copy();
      overwrite(file, at, new Uint8Array(600).fill(0xab));
      damaged(() => NodeStore.open(dir, { chainId: CHAIN_ID }), new RegExp(`^meta page ${which}: `));
    }
  });

  it('walks a short file\'s trees and opens it when every page they reach is in it', async () => {
    // A file may legitimately hold fewer pages than its meta counts (pages allocated and freed
    // again in one transaction are never written): made here by raising the count in both metas.
    const { dir, file } = copy();
    const raised = new Uint8Array(8);
    for (const [i, meta] of metasOf(file).metas.entries()) {
      new DataView(raised.buffer).setBigUint64(0, meta.lastPage + 3n, true);
      overwrite(file, i * meta.pageSize + LAST_PAGE_AT, raised);
    }
    const verdict = checkDataFile(dir);
    assert.equal(verdict.kind, 'short-but-whole');
    assert.ok(verdict.kind === 'short-but-whole' && verdict.pagesWalked >= 10, 'the trees were walked, overflow runs included');
    const store = NodeStore.open(dir, { chainId: CHAIN_ID });
    assert.equal(store.committedHeight(), 30);
    assert.equal(store.latestSnapshot()?.bytes.length, 40_000);
    await store.close();
  });

  it('finds a cut below both roots by walking a table to the missing page', async () => {
    // Small updates after large ones leave the roots in reused pages below the end of the file,
    // so a cut of the last page is past no root and only the walk finds it.
    const dir = rawStore();
    const env = open<Uint8Array, Uint8Array>({ path: dir, ...LMDB_OPTIONS });
    const a = env.openDB<Uint8Array, Uint8Array>('a', { encoding: 'binary', keyEncoding: 'binary' });
    const b = env.openDB<Uint8Array, Uint8Array>('b', { encoding: 'binary', keyEncoding: 'binary' });
    a.transactionSync(() => {
      for (let i = 0; i < 400; i++) a.putSync(new Uint8Array([i >> 8, i & 255]), new Uint8Array(300));
    });
    b.transactionSync(() => {
      for (let i = 0; i < 800; i++) b.putSync(new Uint8Array([i >> 8, i & 255]), new Uint8Array(300));
    });
    for (let t = 0; t < 20; t++) a.transactionSync(() => a.putSync(new Uint8Array([0, t]), new Uint8Array(300).fill(t)));
    await env.close();
    const file = join(dir, 'data.mdb');
    const size = statSync(file).size;
    const { latest } = metasOf(file);
    const pages = size / latest.pageSize;
    assert.ok(latest.roots.every((r) => r !== undefined && r < BigInt(pages - 1)), 'premise: both roots below the last page');
    truncateSync(file, size - latest.pageSize);
    damaged(() => checkDataFile(dir), /in a table named on page \d+, is past its end/);
  });

  it('finds a cut through a large value\'s overflow pages, the trees\' own pages all in the file', async () => {
    // The first transaction of a new store (the table made in it too) frees no page, so there is
    // no free-page tree written last, and its last value spans the pages it allocates last.
    const dir = rawStore();
    const env = open<Uint8Array, Uint8Array>({ path: dir, ...LMDB_OPTIONS });
    env.transactionSync(() => {
      const t = env.openDB<Uint8Array, Uint8Array>('t', { encoding: 'binary', keyEncoding: 'binary' });
      for (let i = 0; i < 50; i++) t.putSync(new Uint8Array([i]), new Uint8Array(100));
      t.putSync(new Uint8Array([200]), new Uint8Array(20_000).fill(7));
    });
    await env.close();
    const file = join(dir, 'data.mdb');
    const { latest } = metasOf(file);
    truncateSync(file, statSync(file).size - latest.pageSize);
    damaged(() => checkDataFile(dir), /the overflow run of pages \d+\.\.\d+, from page \d+ in a table named on page \d+, ends past its end/);
  });

  /**
   * A store rewritten under a reader held across the writes, which keeps every page they free on
   * the free list, one record per transaction, until the free-page tree is a branch over many
   * leaves. With `after`, one more write once the reader is gone, which reuses free pages.
   */
  const heldReaderStore = async (after: boolean): Promise<string> => {
    const dir = rawStore();
    const env = open<Uint8Array, Uint8Array>({ path: dir, ...LMDB_OPTIONS });
    const t = env.openDB<Uint8Array, Uint8Array>('t', { encoding: 'binary', keyEncoding: 'binary' });
    t.transactionSync(() => {
      for (let i = 0; i < 2000; i++) t.putSync(new Uint8Array([i >> 8, i & 255]), new Uint8Array(200));
    });
    const reader = env.useReadTransaction();
    t.get(new Uint8Array([0, 0]), { transaction: reader });
    for (let r = 0; r < 20; r++) {
      t.transactionSync(() => {
        for (let i = 0; i < 2000; i += 7) t.putSync(new Uint8Array([i >> 8, i & 255]), new Uint8Array(200).fill(r));
      });
    }
    reader.done();
    if (after) t.transactionSync(() => t.putSync(new Uint8Array([9, 9]), new Uint8Array(3)));
    await env.close();
    return dir;
  };

  it('finds a missing page of a free-page tree of many pages, which no read reaches and the first write would crash on', async () => {
    const dir = await heldReaderStore(false);
    const file = join(dir, 'data.mdb');
    const { latest } = metasOf(file);
    const size = statSync(file).size;
    assert.equal(pageFlags(file, latest.roots[0]!, latest.pageSize), 1, 'premise: the free-page tree\'s root is a branch');
    const pages = size / latest.pageSize;
    assert.ok(latest.roots[0]! < BigInt(pages - 1), 'premise: the root is not the last page');
    const cut = copy(dir);
    truncateSync(cut.file, size - latest.pageSize);
    damaged(() => checkDataFile(cut.dir), /a child of page \d+ in the free-page tree, is past its end/);
  });

  it('no cut of the last pages both passes the check and then crashes a writer', async () => {
    // What the check promises, tried directly on three stores: each cut of up to 6 pages is
    // refused, or a process that opens the store with LMDB alone, reads and writes it survives.
    const verdicts: string[] = [];
    for (const source of [pristine, await heldReaderStore(false), await heldReaderStore(true)]) {
      const page = metasOf(join(source, 'data.mdb')).latest.pageSize;
      const size = statSync(join(source, 'data.mdb')).size;
      for (let k = 1; k <= 6; k++) {
        const { dir, file } = copy(source);
        truncateSync(file, size - k * page);
        let kind: string;
        try {
          kind = checkDataFile(dir).kind;
        } catch (err) {
          assert.ok(err instanceof DataFileDamagedError, String(err));
          verdicts.push('refused');
          continue;
        }
        verdicts.push(kind);
        const writer = spawnSync(process.execPath, [WRITER, dir], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(writer.signal, null, `a cut of ${k} pages passed the check (${kind}), then the writer died of ${writer.signal}`);
        assert.equal(writer.status, 0, writer.stderr);
      }
    }
    // Both outcomes occur, or the test would try only one side of the promise.
    assert.ok(verdicts.includes('refused') && verdicts.includes('short-but-whole'), verdicts.join());
  });

  it('vsmr start refuses a damaged data file in one line and exit status 3, instead of dying of a signal', async () => {
    const out = join(root, 'genesis');
    await run(process.execPath, [CLI, 'genesis', '--validators', '1', '--out', out]);
    const data = join(out, 'node-0', 'data');
    cpSync(pristine, data, { recursive: true });
    rmSync(join(data, 'lock.mdb'), { force: true });
    truncateSync(join(data, 'data.mdb'), 2 * metasOf(join(pristine, 'data.mdb')).latest.pageSize);
    await assert.rejects(run(process.execPath, [CLI, 'start', '--home', join(out, 'node-0')], { timeout: 60_000 }), (err: { code?: number; signal?: string | null; stderr?: string }) => {
      assert.equal(err.signal ?? null, null, 'ended by itself, not by a signal');
      assert.equal(err.code, 3, err.stderr);
      const lines = (err.stderr ?? '').trim().split('\n');
      assert.equal(lines.length, 1, err.stderr);
      assert.match(lines[0]!, /^vsmr start: data file .*data\.mdb is damaged: it holds 2 pages of the \d+ /);
      return true;
    });
  });

  it('reads any bytes as two meta pages or a MetaPageError, and the real head as what LMDB reads (property)', () => {
    const file = join(pristine, 'data.mdb');
    const { metas, latest } = metasOf(file);
    const good = readFileSync(file).subarray(0, 2 * metas[0].pageSize);
    // LMDB's own figures for the same file: its last page and its latest transaction.
    const env = open({ path: pristine, ...LMDB_OPTIONS, readOnly: true });
    const info = env.getStats() as { pageSize: number; lastPageNumber: number; lastTxnId: number };
    assert.equal(latest.pageSize, info.pageSize);
    assert.equal(latest.lastPage, BigInt(info.lastPageNumber));
    assert.equal(latest.txnId, BigInt(info.lastTxnId));
    void env.close();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 9000 }),
          // The real head with a few bytes changed: what a damaged disk leaves.
          fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }).map((edits) => {
            const bytes = Uint8Array.from(good);
            for (const [at, v] of edits) bytes[at] = v;
            return bytes;
          }),
        ),
        (bytes) => {
          try {
            const parsed = parseDataFileMetas(bytes);
            for (const m of parsed.metas) {
              assert.ok(m.lastPage >= 1n && m.pageSize >= 512 && (m.pageSize & (m.pageSize - 1)) === 0);
              for (const r of m.roots) assert.ok(r === undefined || (r >= 2n && r <= m.lastPage));
            }
            assert.ok(parsed.metas.includes(parsed.latest) && parsed.latest.txnId >= parsed.metas[0].txnId && parsed.latest.txnId >= parsed.metas[1].txnId);
          } catch (err) {
            assert.ok(err instanceof MetaPageError, String(err));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
