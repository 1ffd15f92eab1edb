import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError } from '../../../protocol/config-error.js';
import { StorageOpenError } from '../../../node/storage/lmdb-store.js';
import {
  encodeSafetyBinding,
  judgeStore,
  SafetyBindingCheck,
  parseSafetyBinding,
  readSafetyBinding,
  type SafetyBinding,
  type StoreSite,
  writeSafetyBinding,
} from '../../../node/runtime/safety-binding.js';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const GENESIS = bytes(32, 7);
const STORE = bytes(16, 1);
const OTHER_STORE = bytes(16, 2);
const site: StoreSite = { chainId: 'chain-a', genesis: GENESIS, dataDir: '/srv/vsmr/data', configFile: '/srv/vsmr/config.json' };
const bound: SafetyBinding = { chainId: 'chain-a', genesis: GENESIS, storeId: STORE, dataDir: '/srv/vsmr/data' };

function refusedOnDataDir(fn: () => unknown, found: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.field, 'config.dataDir');
    assert.equal(err.file, site.configFile);
    assert.match(err.message, found);
    assert.match(err.message, /last signed from store 01010101010101010101010101010101 in \/srv\/vsmr\/data\..*--fresh-safety-state$/);
    return true;
  });
}

describe('node/runtime/safety-binding', () => {
  describe('judgeStore', () => {
    it('records the store of a key that has no record yet, or a record of another chain or genesis', () => {
      for (const record of [undefined, { ...bound, chainId: 'chain-b' }, { ...bound, genesis: bytes(32, 8) }]) {
        assert.equal(judgeStore(record, site, { kind: 'none' }, false), 'bind');
        assert.equal(judgeStore(record, site, { kind: 'store', id: OTHER_STORE }, false), 'bind');
      }
    });

    it('keeps the record of the store it names, and follows that store to another path', () => {
      assert.equal(judgeStore(bound, site, { kind: 'store', id: STORE }, false), 'keep');
      assert.equal(judgeStore(bound, { ...site, dataDir: '/mnt/big/data' }, { kind: 'store', id: STORE }, false), 'bind');
    });

    it('refuses a directory with no store, or with another store, while the key signs from its own, naming both', () => {
      refusedOnDataDir(() => judgeStore(bound, { ...site, dataDir: '/srv/vsmr/dta' }, { kind: 'none' }, false), /^\/srv\/vsmr\/config\.json: config\.dataDir: \/srv\/vsmr\/dta holds no store, but/);
      refusedOnDataDir(() => judgeStore(bound, site, { kind: 'store', id: OTHER_STORE }, false), /\/srv\/vsmr\/data holds store 02020202020202020202020202020202, but/);
    });

    it('takes either, as an override, when the operator says the key\'s store is lost', () => {
      assert.equal(judgeStore(bound, site, { kind: 'none' }, true), 'override');
      assert.equal(judgeStore(bound, site, { kind: 'store', id: OTHER_STORE }, true), 'override');
      // The key's own store needs no override.
      assert.equal(judgeStore(bound, site, { kind: 'store', id: STORE }, true), 'keep');
    });
  });

  describe('the record file', () => {
    const record = fc.record({
      chainId: fc.string({ minLength: 1, maxLength: 40 }),
      genesis: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      storeId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      dataDir: fc.string({ minLength: 1, maxLength: 80 }),
    });

    it('reads back what it wrote', () => {
      fc.assert(fc.property(record, (r) => assert.deepEqual(parseSafetyBinding(encodeSafetyBinding(r)), { ...r })));
    });

    it('refuses a record that is not one, with a ConfigError naming the field', () => {
      const good = JSON.parse(encodeSafetyBinding(bound)) as Record<string, unknown>;
      const cases: [unknown, string | undefined, RegExp][] = [
        ['{', undefined, /not JSON/],
        [[], undefined, /not a JSON object/],
        [{ ...good, version: 2 }, 'version', /must be 1, got 2/],
        [{ ...good, chainId: '' }, 'chainId', /non-empty string/],
        [{ ...good, storeId: 'ab' }, 'storeId', /16 bytes of lowercase hex/],
        [{ ...good, genesis: 'G'.repeat(64) }, 'genesis', /32 bytes of lowercase hex/],
        [{ ...good, dataDir: 3 }, 'dataDir', /non-empty string/],
      ];
      for (const [doc, field, reason] of cases) {
        const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
        assert.throws(
          () => parseSafetyBinding(text),
          (err: unknown) => err instanceof ConfigError && err.field === field && reason.test(err.reason),
          text,
        );
      }
    });

    it('replaces the record whole, names the file in a refusal, and reads no file as no record', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'vsmr-binding-'));
      try {
        const path = join(dir, 'safety-store.json');
        assert.equal(await readSafetyBinding(path), undefined);
        await writeSafetyBinding(path, bound);
        assert.deepEqual(await readSafetyBinding(path), bound);
        const moved = { ...bound, dataDir: '/mnt/big/data' };
        await writeSafetyBinding(path, moved);
        assert.deepEqual(await readSafetyBinding(path), moved);
        assert.deepEqual(await readdir(dir), ['safety-store.json'], 'no temporary file left behind');
        assert.equal(statSync(path).mode & 0o777, 0o600);
        await writeFile(path, (await readFile(path, 'utf8')).replace('"version": 1', '"version": 9'));
        await assert.rejects(readSafetyBinding(path), (err: unknown) => err instanceof ConfigError && err.file === path && err.field === 'version');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('SafetyBindingCheck (as vsmr start runs it)', () => {
    let home: string;
    let warnings: string[];
    const log = { warn: (_fields: Record<string, unknown>, message: string) => void warnings.push(message) };
    const at = (dataDir: string): StoreSite => ({ ...site, dataDir: join(home, dataDir), configFile: join(home, 'config.json') });
    const recordFile = () => join(home, 'safety-store.json');
    const failingWrite = async () => {
      throw new Error('EROFS: read-only file system');
    };
    beforeEach(async () => {
      home = await mkdtemp(join(tmpdir(), 'vsmr-binding-home-'));
      warnings = [];
    });
    afterEach(async () => {
      await rm(home, { recursive: true, force: true });
    });

    it('records a first store, keeps it, and warns when --fresh-safety-state was not needed', async () => {
      const first = await SafetyBindingCheck.open(home, at('data'), false, log);
      first.beforeStore();
      await first.afterStore(STORE);
      assert.deepEqual(await readSafetyBinding(recordFile()), { ...bound, dataDir: join(home, 'data') });
      const again = await SafetyBindingCheck.open(home, at('data'), true, log);
      again.beforeStore();
      await again.afterStore(STORE);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /was not needed/);
    });

    it('refuses a record that does not parse, naming the remedy; under the flag replaces it', async () => {
      await writeFile(recordFile(), 'not json');
      await assert.rejects(
        SafetyBindingCheck.open(home, at('data'), false, log),
        (err: unknown) => err instanceof ConfigError && err.file === recordFile() && /not JSON.*start once with --fresh-safety-state, which replaces it with a record of the store in dataDir/.test(err.message),
      );
      const check = await SafetyBindingCheck.open(home, at('data'), true, log);
      check.beforeStore();
      await check.afterStore(OTHER_STORE);
      assert.deepEqual((await readSafetyBinding(recordFile()))?.storeId, OTHER_STORE);
      assert.match(warnings[0]!, /UNSAFE: --fresh-safety-state: replacing a record/);
    });

    it('under the flag, refuses to start when it cannot record the new store (the record would go on naming the lost one)', async () => {
      await writeSafetyBinding(recordFile(), { ...bound, dataDir: join(home, 'data') });
      const check = await SafetyBindingCheck.open(home, at('data'), true, log, failingWrite);
      check.beforeStore();
      await assert.rejects(check.afterStore(OTHER_STORE), (err: unknown) => err instanceof ConfigError && err.file === recordFile() && /cannot record store 0202.*EROFS.*make the home writable: the record must name the new store/.test(err.message));
      assert.deepEqual((await readSafetyBinding(recordFile()))?.storeId, STORE, 'the record is unchanged');
    });

    it('without a record to keep, a home it cannot write costs the check, not the start', async () => {
      const first = await SafetyBindingCheck.open(home, at('data'), false, log, failingWrite);
      await first.afterStore(STORE);
      assert.match(warnings[0]!, /a dataDir typo or a wipe will not be caught/);
      await writeSafetyBinding(recordFile(), { ...bound, dataDir: join(home, 'data') });
      const moved = await SafetyBindingCheck.open(home, at('moved'), false, log, failingWrite);
      await moved.afterStore(STORE);
      assert.match(warnings[1]!, /still matched by its id/);
    });

    it('tells a directory it cannot look into from one with no store', async () => {
      await writeSafetyBinding(recordFile(), { ...bound, dataDir: join(home, 'data') });
      // What the system refuses to look up (EACCES for a user, ENAMETOOLONG for anyone) is not
      // "no store": the operator would be pointed at the flag for a directory that may hold one.
      const check = await SafetyBindingCheck.open(home, at('x'.repeat(300)), true, log);
      assert.throws(() => check.beforeStore(), (err: unknown) => err instanceof StorageOpenError && /ENAMETOOLONG/.test(err.message));
      const typo = await SafetyBindingCheck.open(home, at('dta'), false, log);
      assert.throws(() => typo.beforeStore(), (err: unknown) => err instanceof ConfigError && /dta holds no store/.test(err.message));
    });
  });
});
