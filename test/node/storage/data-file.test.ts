import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, closeSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { open } from 'lmdb';
import { checkDataFile, DataFileDamagedError, MetaPageError, parseDataFileMetas, type ProbeResult, probeDataFile } from '../../../node/storage/data-file.js';
import { NodeStore } from '../../../node/storage/lmdb-store.js';
import { CHAIN_ID, chain, executedFor, qcFor } from './fixtures.js';

const run = promisify(execFile);
const CLI = join(resolve(import.meta.dirname, '..', '..', '..', '..'), 'bin', 'vsmr.js');

/** Byte offset of a meta page's last-page field (page header 24, magic and version 8, address and map size 16, two tree records of 48). */
const LAST_PAGE_AT = 24 + 24 + 96;

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

describe('storage/data-file', () => {
  let root: string;
  /** A store of 30 committed blocks: its data file, made once and copied for each case. */
  let pristine: string;
  const copies: string[] = [];
  const copy = (): { dir: string; file: string } => {
    const dir = mkdtempSync(join(root, 'copy-'));
    cpSync(pristine, dir, { recursive: true });
    rmSync(join(dir, 'lock.mdb'), { force: true });
    copies.push(dir);
    return { dir, file: join(dir, 'data.mdb') };
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
    for (const length of [100, 4096, 4096 + 200, 8192, 12_288, Math.floor(size / 2), size - 4096]) {
      const { dir, file } = copy();
      truncateSync(file, length);
      damaged(() => NodeStore.open(dir, { chainId: CHAIN_ID }), /meta page|pages|tree root/);
    }
  });

  it('refuses a data file whose meta pages are overwritten, naming the page', () => {
    for (const [page, at] of [
      [0, 16],
      [1, 4096 + 16],
    ] as const) {
      const { dir, file } = copy();
      overwrite(file, at, new Uint8Array(600).fill(0xab));
      damaged(() => NodeStore.open(dir, { chainId: CHAIN_ID }), new RegExp(`^meta page ${page}: `));
    }
  });

  it('walks a short file in a child, and opens it when every page the trees reach reads back', async () => {
    // A file may legitimately hold fewer pages than its meta counts (pages allocated and freed
    // again in one transaction are never written): made here by raising the count in both metas.
    const { dir, file } = copy();
    const head = readFileSync(file).subarray(0, 8192);
    const { metas } = parseDataFileMetas(head);
    const raised = new Uint8Array(8);
    for (const [i, meta] of metas.entries()) {
      new DataView(raised.buffer).setBigUint64(0, meta.lastPage + 3n, true);
      overwrite(file, i * meta.pageSize + LAST_PAGE_AT, raised);
    }
    const probes: ProbeResult[] = [];
    const verdict = checkDataFile(dir, (f) => {
      const r = probeDataFile(f);
      probes.push(r);
      return r;
    });
    assert.equal(verdict.kind, 'short-but-readable');
    assert.deepEqual(probes, [{ ok: true }]);
    const store = NodeStore.open(dir, { chainId: CHAIN_ID });
    assert.equal(store.committedHeight(), 30);
    assert.equal(store.latestSnapshot()?.bytes.length, 40_000);
    await store.close();
  });

  it('finds a page missing below the trees\' roots by the walk: the child dies, this process reports it', async () => {
    // Small updates after large ones leave the roots in reused pages below the end of the file,
    // so a cut of the last page is past no root and only reading the trees finds it.
    const dir = mkdtempSync(join(root, 'raw-'));
    copies.push(dir);
    const env = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, cache: false });
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
    truncateSync(file, statSync(file).size - 4096);
    const probes: ProbeResult[] = [];
    damaged(
      () =>
        checkDataFile(dir, (f) => {
          const r = probeDataFile(f);
          probes.push(r);
          return r;
        }),
      /crashed LMDB \(SIG(BUS|SEGV)\)/,
    );
    assert.equal(probes.length, 1);
  });

  it('refuses a file cut at the free-page tree\'s root, which the walk cannot reach and the first write would crash on', async () => {
    // Rewrites of one table leave the free-page tree's root last in the file, its own root at page 2.
    const dir = mkdtempSync(join(root, 'raw-'));
    copies.push(dir);
    const env = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, cache: false });
    const t = env.openDB<Uint8Array, Uint8Array>('t', { encoding: 'binary', keyEncoding: 'binary' });
    for (let round = 0; round < 6; round++) {
      t.transactionSync(() => {
        for (let i = 0; i < 400; i++) t.putSync(new Uint8Array([i >> 8, i & 255]), new Uint8Array(300).fill(round));
      });
    }
    await env.close();
    const file = join(dir, 'data.mdb');
    const size = statSync(file).size;
    const { latest } = parseDataFileMetas(readFileSync(file).subarray(0, 8192));
    assert.equal(latest.roots[0], BigInt(size / latest.pageSize - 1), 'the free-page tree\'s root is the last page');
    truncateSync(file, size - latest.pageSize);
    assert.deepEqual(probeDataFile(file), { ok: true }, 'the tables alone read back');
    damaged(() => checkDataFile(dir), /tree root is page/);
  });

  it('vsmr start refuses a damaged data file in one line and exit status 3, instead of dying of a signal', async () => {
    const out = join(root, 'genesis');
    await run(process.execPath, [CLI, 'genesis', '--validators', '1', '--out', out]);
    const data = join(out, 'node-0', 'data');
    cpSync(pristine, data, { recursive: true });
    rmSync(join(data, 'lock.mdb'), { force: true });
    truncateSync(join(data, 'data.mdb'), 8192);
    await assert.rejects(run(process.execPath, [CLI, 'start', '--home', join(out, 'node-0')], { timeout: 60_000 }), (err: { code?: number; signal?: string | null; stderr?: string }) => {
      assert.equal(err.signal ?? null, null, 'ended by itself, not by a signal');
      assert.equal(err.code, 3, err.stderr);
      const lines = (err.stderr ?? '').trim().split('\n');
      assert.equal(lines.length, 1, err.stderr);
      assert.match(lines[0]!, /^vsmr start: data file .*data\.mdb is damaged: (it holds 2 pages|2 pages of \d+)/);
      return true;
    });
  });

  it('reads any bytes as two meta pages or a MetaPageError, never anything else (property)', () => {
    const { metas } = parseDataFileMetas(readFileSync(join(pristine, 'data.mdb')).subarray(0, 8192));
    const good = readFileSync(join(pristine, 'data.mdb')).subarray(0, 2 * metas[0].pageSize);
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
            const { latest } = parseDataFileMetas(bytes);
            assert.ok(latest.lastPage >= 1n && latest.pageSize >= 512);
          } catch (err) {
            assert.ok(err instanceof MetaPageError, String(err));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
