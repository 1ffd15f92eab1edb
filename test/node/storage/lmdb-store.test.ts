import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { SafetyRules } from '../../../node/consensus/safety-rules.js';
import { fakeSigner } from '../../../node/consensus/fake-certs.js';
import { concatBytes } from '../../../crypto/bytes.js';
import { sha256 } from '../../../crypto/hash.js';
import { CHECKSUM_LENGTH, encodeInlineTip, heightKey, STORAGE_FORMAT_VERSION, sealValue, ValueKind } from '../../../node/storage/codec.js';
import {
  ChainIdMismatchError,
  GenesisMismatchError,
  KEYS,
  LedgerError,
  type LedgerErrorReason,
  NodeStore,
  StorageCorruptionError,
  StorageFormatError,
  StorageOpenError,
  STORE_ID_BYTES,
  TABLES,
  tipBlockKey,
} from '../../../node/storage/lmdb-store.js';
import { CHAIN_ID, chain, executedFor, nextBlock, qcFor, votedFor } from './fixtures.js';

function ledgerError(fn: () => unknown, reason: LedgerErrorReason): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LedgerError, `expected LedgerError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

function corruption(fn: () => unknown, table: string, key: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StorageCorruptionError, `expected StorageCorruptionError, got ${String(err)}`);
    assert.equal(err.table, table);
    assert.equal(err.key, key);
    return true;
  });
}

/** Writes raw bytes under a key, bypassing the store, as a damaged disk or a stray tool would. */
async function writeRaw(dir: string, table: string, key: Uint8Array, value: Uint8Array | ((old: Uint8Array) => Uint8Array)): Promise<void> {
  const root = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
  const db = root.openDB<Uint8Array, Uint8Array>(table, { encoding: 'binary', keyEncoding: 'binary' });
  const next = typeof value === 'function' ? value(Uint8Array.from(db.get(key)!)) : value;
  db.transactionSync(() => db.putSync(key, next));
  await root.close();
}

/** Deletes a key, bypassing the store. */
async function removeRaw(dir: string, table: string, key: Uint8Array): Promise<void> {
  const root = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
  const db = root.openDB<Uint8Array, Uint8Array>(table, { encoding: 'binary', keyEncoding: 'binary' });
  db.transactionSync(() => db.removeSync(key));
  await root.close();
}

describe('storage/lmdb-store', () => {
  let dir: string;
  const stores: NodeStore[] = [];
  const openStore = (chainId = CHAIN_ID, at = dir) => {
    const s = NodeStore.open(at, { chainId });
    stores.push(s);
    return s;
  };
  const fill = (store: NodeStore, n: number) => {
    const blocks = chain(CHAIN_ID, n);
    for (const b of blocks) store.appendCommitted(b, executedFor(b), qcFor(b));
    return blocks;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsmr-store-'));
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts empty at genesis height 0', () => {
    const store = openStore();
    assert.equal(store.committedHeight(), 0);
    assert.equal(store.safetyStorage().load(), null);
    assert.equal(store.block(0), undefined);
    assert.equal(store.block(1), undefined);
    assert.deepEqual(store.blocks(1, 10), []);
    assert.equal(store.latestSnapshot(), undefined);
    assert.equal(store.commitQc(), undefined);
  });

  it('keeps the safety state across reopen, and SafetyRules resumes from it', async () => {
    const [b1] = chain(CHAIN_ID, 1);
    let store = openStore();
    const rules = new SafetyRules(CHAIN_ID, fakeSigner(1), store.safetyStorage());
    const vote = rules.voteFor(b1!);
    store.safetyStorage().store(rules.state);
    await store.close();
    store = openStore();
    assert.deepEqual(store.safetyStorage().load(), rules.state);
    const again = new SafetyRules(CHAIN_ID, fakeSigner(1), store.safetyStorage());
    // Same round, same block: the stored vote is returned byte for byte, never re-signed.
    assert.deepEqual(again.voteFor(b1!), vote);
  });

  it('appends, reads back and reopens the committed ledger', async () => {
    let store = openStore();
    const blocks = fill(store, 12);
    assert.equal(store.committedHeight(), 12);
    assert.deepEqual(store.block(5), blocks[4]);
    assert.deepEqual(store.blocks(3, 7), blocks.slice(2, 7));
    assert.deepEqual(store.blocks(10, 99), blocks.slice(9));
    assert.deepEqual(store.executed(12), executedFor(blocks[11]!));
    assert.deepEqual(store.commitQc(), qcFor(blocks[11]!));
    await store.close();
    store = openStore();
    assert.equal(store.committedHeight(), 12);
    assert.deepEqual(store.blocks(1, 12), blocks);
    const next = nextBlock(CHAIN_ID, blocks[11]);
    store.appendCommitted(next, executedFor(next));
    assert.equal(store.committedHeight(), 13);
    assert.equal(store.commitQc(), undefined, 'a stale commit QC must not describe the new top');
  });

  it('durably() makes a safety write and an append one transaction: both or neither', async () => {
    let store = openStore();
    const [b1, b2] = chain(CHAIN_ID, 2);
    const state = (b: typeof b1) => {
      const rules = new SafetyRules(CHAIN_ID, fakeSigner(1), { load: () => null, store: () => undefined });
      rules.voteFor(b!);
      return rules.state;
    };
    store.durably(() => {
      store.appendCommitted(b1!, executedFor(b1!), qcFor(b1!));
      store.safetyStorage().store(state(b1));
    });
    assert.throws(
      () =>
        store.durably(() => {
          store.appendCommitted(b2!, executedFor(b2!), qcFor(b2!));
          store.safetyStorage().store(state(b2));
          throw new Error('the step failed after both writes');
        }),
      /the step failed/,
    );
    assert.equal(store.committedHeight(), 1, 'the bounds are read back after the failed group');
    await store.close();
    store = openStore();
    assert.equal(store.committedHeight(), 1, 'the failed group appended nothing');
    assert.deepEqual(store.safetyStorage().load(), state(b1), 'and stored no safety state');
    assert.deepEqual(store.block(1), b1);
  });

  it('refuses appends out of order or off the chain, writing nothing', () => {
    const store = openStore();
    const blocks = chain(CHAIN_ID, 4);
    ledgerError(() => store.appendCommitted(blocks[1]!, executedFor(blocks[1]!)), 'height-gap');
    store.appendCommitted(blocks[0]!, executedFor(blocks[0]!));
    ledgerError(() => store.appendCommitted(blocks[0]!, executedFor(blocks[0]!)), 'height-gap');
    ledgerError(() => store.appendCommitted(blocks[2]!, executedFor(blocks[2]!)), 'height-gap');
    ledgerError(() => store.appendCommitted(blocks[1]!, executedFor(blocks[0]!)), 'executed-mismatch');
    ledgerError(() => store.appendCommitted(blocks[1]!, executedFor(blocks[1]!), qcFor(blocks[0]!)), 'qc-mismatch');
    const otherChain = chain('another-chain', 2)[1]!;
    ledgerError(() => store.appendCommitted(otherChain, executedFor(otherChain)), 'parent-mismatch');
    assert.equal(store.committedHeight(), 1);
    assert.equal(store.block(2), undefined);
  });

  it('refuses a data directory of another chain', async () => {
    await openStore().close();
    assert.throws(
      () => openStore('some-other-chain'),
      (err: unknown) => err instanceof ChainIdMismatchError && err.expected === 'some-other-chain' && err.found === CHAIN_ID,
    );
    assert.equal(openStore().chainId, CHAIN_ID);
  });

  it('binds a directory to the genesis it is first opened with, recording it for a directory that has none', async () => {
    const genesisA = sha256(new TextEncoder().encode('genesis a'));
    const genesisB = sha256(new TextEncoder().encode('genesis b'));
    // A directory of an earlier build (nothing recorded) takes the genesis it is opened with.
    const old = openStore();
    fill(old, 2);
    await old.close();
    const first = NodeStore.open(dir, { chainId: CHAIN_ID, genesisDigest: genesisA });
    assert.equal(first.committedHeight(), 2);
    await first.close();
    assert.throws(
      () => NodeStore.open(dir, { chainId: CHAIN_ID, genesisDigest: genesisB }),
      (err: unknown) => err instanceof GenesisMismatchError && err.code === 'STORAGE_GENESIS' && /written under another genesis of this chain/.test(err.message),
    );
    const again = NodeStore.open(dir, { chainId: CHAIN_ID, genesisDigest: genesisA });
    assert.equal(again.committedHeight(), 2);
    await again.close();
    // A fresh directory records it at once.
    const fresh = join(dir, 'fresh');
    await NodeStore.open(fresh, { chainId: CHAIN_ID, genesisDigest: genesisB }).close();
    assert.throws(() => NodeStore.open(fresh, { chainId: CHAIN_ID, genesisDigest: genesisA }), GenesisMismatchError);
  });

  it('names each directory by an id of its own, kept across opens and made once for a directory of a build without ids', async () => {
    const a = openStore();
    fill(a, 1);
    const idA = a.storeId;
    assert.equal(idA.length, STORE_ID_BYTES);
    await a.close();
    const other = openStore(CHAIN_ID, join(dir, 'other'));
    assert.notDeepEqual(other.storeId, idA, 'a new directory has a new id');
    await other.close();
    const reopened = openStore();
    assert.deepEqual(reopened.storeId, idA);
    await reopened.close();
    stores.length = 0;
    // An earlier build's directory: no id until a build that keeps one opens it, then that one.
    await removeRaw(dir, TABLES.meta, KEYS.storeId);
    const upgraded = openStore();
    const made = upgraded.storeId;
    assert.notDeepEqual(made, idA);
    assert.equal(upgraded.committedHeight(), 1);
    await upgraded.close();
    const after = openStore();
    assert.deepEqual(after.storeId, made);
    await after.close();
    stores.length = 0;
    await writeRaw(dir, TABLES.meta, KEYS.storeId, sealValue(TABLES.meta, KEYS.storeId, ValueKind.meta, new Uint8Array(3)));
    corruption(() => openStore(), TABLES.meta, 'store-id');
  });

  it('refuses what LMDB cannot open with StorageOpenError, and an emptied data file rather than start over on it', async () => {
    writeFileSync(join(dir, 'a-file'), 'x');
    assert.throws(
      () => openStore(CHAIN_ID, join(dir, 'a-file', 'sub')),
      (err: unknown) => err instanceof StorageOpenError && err.code === 'STORAGE_OPEN' && /ENOTDIR/.test(err.message),
    );
    const store = openStore();
    fill(store, 2);
    await store.close();
    stores.length = 0;
    // An emptied data.mdb: LMDB alone would open it as a new store, with no safety state.
    writeFileSync(join(dir, 'data.mdb'), new Uint8Array(0));
    assert.throws(() => openStore(), (err: unknown) => err instanceof StorageOpenError && /data\.mdb is empty/.test(err.message));
  });

  it('reports garbage written under a block key as corruption, never as a block', async () => {
    let store = openStore();
    fill(store, 4);
    await store.close();
    await writeRaw(dir, TABLES.blocks, heightKey(2), new TextEncoder().encode('not a block at all'));
    store = openStore();
    corruption(() => store.block(2), TABLES.blocks, '2');
    corruption(() => store.blocks(1, 4), TABLES.blocks, '2');
    assert.equal(store.block(3)?.height, 3, 'undamaged values still read');
  });

  it('detects a single flipped byte in a stored block, executed state, snapshot and safety state', async () => {
    let store = openStore();
    fill(store, 3);
    store.saveSnapshot(3, new Uint8Array(5000).fill(7));
    store.safetyStorage().store(votedFor(chain(CHAIN_ID, 3)[2]!));
    await store.close();
    const flip = (at: number) => (old: Uint8Array) => {
      old[at < 0 ? old.length + at : at]! ^= 0x10;
      return old;
    };
    await writeRaw(dir, TABLES.blocks, heightKey(1), flip(40));
    await writeRaw(dir, TABLES.executed, heightKey(2), flip(-1));
    await writeRaw(dir, TABLES.snapshots, heightKey(3), flip(2500));
    await writeRaw(dir, TABLES.safety, KEYS.safetyState, flip(9));
    store = openStore();
    corruption(() => store.block(1), TABLES.blocks, '1');
    corruption(() => store.executed(2), TABLES.executed, '2');
    corruption(() => store.latestSnapshot(), TABLES.snapshots, '3');
    corruption(() => store.safetyStorage().load(), TABLES.safety, 'state');
  });

  it('keeps the certified tip across reopen, replaced by each save, and reports a damaged one as corruption', async () => {
    let store = openStore();
    const blocks = fill(store, 2);
    assert.equal(store.certifiedTip(), undefined);
    const later = chain(CHAIN_ID, 5).slice(2);
    store.durably(() => store.saveCertifiedTip({ blocks: later.slice(0, 2), highQc: qcFor(later[1]!) }));
    store.durably(() => store.saveCertifiedTip({ blocks: later, highQc: qcFor(later[2]!) }));
    await store.close();
    store = openStore();
    assert.deepEqual(store.certifiedTip(), { blocks: later, highQc: qcFor(later[2]!) });
    assert.equal(store.committedHeight(), blocks.length, 'the tip is not the ledger');
    await store.close();
    await writeRaw(dir, TABLES.safety, KEYS.certifiedTip, (old) => {
      old[old.length - 3]! ^= 0x01;
      return old;
    });
    store = openStore();
    corruption(() => store.certifiedTip(), TABLES.safety, 'certified-tip');
  });

  it('writes each tip block once while the tip keeps it, drops those the tip no longer names, and reports a missing one as corruption', async () => {
    let store = openStore();
    const later = chain(CHAIN_ID, 6);
    const storedIds = async () => {
      await store.close();
      const root = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
      const db = root.openDB<Uint8Array, Uint8Array>(TABLES.safety, { encoding: 'binary', keyEncoding: 'binary' });
      const prefix = Buffer.from('tip-block/');
      const ids = [...db.getKeys()]
        .map((k) => Buffer.from(k as Uint8Array))
        .filter((k) => k.subarray(0, prefix.length).equals(prefix))
        .map((k) => k.subarray(prefix.length).toString('hex'))
        .sort();
      await root.close();
      store = openStore();
      return ids;
    };
    const hexIds = (bs: readonly { id: Uint8Array }[]) => bs.map((b) => Buffer.from(b.id).toString('hex')).sort();
    store.durably(() => store.saveCertifiedTip({ blocks: later.slice(0, 3), highQc: qcFor(later[2]!) }));
    assert.deepEqual(await storedIds(), hexIds(later.slice(0, 3)));
    // A block a later tip still names is not written again: damage it on disk, and the next
    // save leaves the damage in place (a rewrite would have mended it).
    await store.close();
    await writeRaw(dir, TABLES.safety, tipBlockKey(later[2]!.id), (old) => {
      old[40]! ^= 0x01;
      return old;
    });
    store = openStore();
    store.durably(() => store.saveCertifiedTip({ blocks: later.slice(2, 5), highQc: qcFor(later[4]!) }));
    assert.deepEqual(await storedIds(), hexIds(later.slice(2, 5)), 'blocks the tip no longer names are dropped');
    corruption(() => store.certifiedTip(), TABLES.safety, `tip-block/${Buffer.from(later[2]!.id).toString('hex')}`);
    store.durably(() => store.saveCertifiedTip({ blocks: later.slice(3, 6), highQc: qcFor(later[5]!) }));
    assert.deepEqual(store.certifiedTip(), { blocks: later.slice(3, 6), highQc: qcFor(later[5]!) });
    await store.close();
    await removeRaw(dir, TABLES.safety, tipBlockKey(later[4]!.id));
    store = openStore();
    corruption(() => store.certifiedTip(), TABLES.safety, `tip-block/${Buffer.from(later[4]!.id).toString('hex')}`);
  });

  it('reads a tip written with its blocks inline by an earlier build, and replaces it with one naming them on the next save', async () => {
    let store = openStore();
    const later = chain(CHAIN_ID, 4);
    await store.close();
    const inline = { blocks: later.slice(0, 2), highQc: qcFor(later[1]!) };
    await writeRaw(dir, TABLES.safety, KEYS.certifiedTip, sealValue(TABLES.safety, KEYS.certifiedTip, ValueKind.certifiedTip, encodeInlineTip(inline)));
    store = openStore();
    assert.deepEqual(store.certifiedTip(), inline);
    store.durably(() => store.saveCertifiedTip({ blocks: later.slice(1, 4), highQc: qcFor(later[3]!) }));
    await store.close();
    store = openStore();
    assert.deepEqual(store.certifiedTip(), { blocks: later.slice(1, 4), highQc: qcFor(later[3]!) });
  });

  it('keeps on disk only the blocks of the last tip after many saves on one open store, and does not rewrite a block a later save still names', async () => {
    let store = openStore();
    const later = chain(CHAIN_ID, 12);
    const window = (i: number) => later.slice(i, i + 3);
    store.durably(() => store.saveCertifiedTip({ blocks: window(0), highQc: qcFor(later[2]!) }));
    await store.close();
    // Damaged after its first write: saves that keep naming it must leave it as it is.
    await writeRaw(dir, TABLES.safety, tipBlockKey(later[2]!.id), (old) => {
      old[40]! ^= 0x01;
      return old;
    });
    store = openStore();
    for (let i = 1; i <= 2; i++) store.durably(() => store.saveCertifiedTip({ blocks: window(i), highQc: qcFor(later[i + 2]!) }));
    corruption(() => store.certifiedTip(), TABLES.safety, `tip-block/${Buffer.from(later[2]!.id).toString('hex')}`);
    for (let i = 3; i <= 9; i++) store.durably(() => store.saveCertifiedTip({ blocks: window(i), highQc: qcFor(later[i + 2]!) }));
    await store.close();
    const root = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
    const db = root.openDB<Uint8Array, Uint8Array>(TABLES.safety, { encoding: 'binary', keyEncoding: 'binary' });
    const held = [...db.getKeys()].map((k) => Buffer.from(k as Uint8Array).toString('latin1')).filter((k) => k.startsWith('tip-block/'));
    await root.close();
    assert.deepEqual(held.sort(), window(9).map((b) => Buffer.from(tipBlockKey(b.id)).toString('latin1')).sort(), 'only the last tip\'s blocks are held');
    store = openStore();
    assert.deepEqual(store.certifiedTip(), { blocks: window(9), highQc: qcFor(later[11]!) });
  });

  it('writes a tip block again after the group that first wrote it was rolled back', async () => {
    let store = openStore();
    const later = chain(CHAIN_ID, 4);
    assert.throws(
      () =>
        store.durably(() => {
          store.saveCertifiedTip({ blocks: later.slice(0, 2), highQc: qcFor(later[1]!) });
          throw new Error('the step failed after the save');
        }),
      /the step failed/,
    );
    assert.equal(store.certifiedTip(), undefined, 'nothing of the rolled-back group is kept');
    store.durably(() => store.saveCertifiedTip({ blocks: later.slice(1, 4), highQc: qcFor(later[3]!) }));
    await store.close();
    store = openStore();
    assert.deepEqual(store.certifiedTip(), { blocks: later.slice(1, 4), highQc: qcFor(later[3]!) });
  });

  it('reports a lost format key or a lost executed state beside its block as corruption, not as a fresh or shorter ledger', async () => {
    let store = openStore();
    fill(store, 3);
    await store.close();
    await removeRaw(dir, TABLES.executed, heightKey(2));
    store = openStore();
    corruption(() => store.executed(2), TABLES.executed, '2');
    assert.equal(store.executed(3)?.height, 3);
    await store.close();
    await removeRaw(dir, TABLES.meta, KEYS.format);
    assert.throws(
      () => NodeStore.open(dir, { chainId: CHAIN_ID }),
      (err: unknown) => err instanceof StorageCorruptionError && err.table === TABLES.meta && /holds data/.test(err.message),
    );
  });

  it('refuses an intact value moved under another key', async () => {
    let store = openStore();
    fill(store, 3);
    await store.close();
    const root = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
    const three = Uint8Array.from(root.openDB<Uint8Array, Uint8Array>(TABLES.blocks, { encoding: 'binary', keyEncoding: 'binary' }).get(heightKey(3))!);
    await root.close();
    await writeRaw(dir, TABLES.blocks, heightKey(2), three);
    store = openStore();
    corruption(() => store.block(2), TABLES.blocks, '2');
  });

  it('refuses to open when the ledger bounds disagree with the blocks held', async () => {
    const store = openStore();
    fill(store, 3);
    await store.close();
    await writeRaw(dir, TABLES.blocks, heightKey(9), new Uint8Array(16));
    assert.throws(() => openStore(), StorageCorruptionError);
    await writeRaw(dir, TABLES.meta, KEYS.ledger, new Uint8Array(30));
    corruption(() => openStore(), TABLES.meta, 'ledger');
  });

  it('refuses a data directory written by another storage format', async () => {
    await openStore().close();
    // A correctly checksummed format record of the next version, built from codec.ts's written layout.
    const table = new TextEncoder().encode(TABLES.meta);
    const header = Uint8Array.of(STORAGE_FORMAT_VERSION + 1, ValueKind.meta);
    const keyLen = Buffer.alloc(4);
    keyLen.writeUInt32BE(KEYS.format.length);
    const sum = sha256(concatBytes(Uint8Array.of(table.length), table, keyLen, KEYS.format, header)).subarray(0, CHECKSUM_LENGTH);
    await writeRaw(dir, TABLES.meta, KEYS.format, concatBytes(header, sum));
    assert.throws(
      () => openStore(),
      (err: unknown) => err instanceof StorageFormatError && err.found === STORAGE_FORMAT_VERSION + 1,
    );
  });

  it('keeps a window of executed states below its blocks through prunes and a reopen', async () => {
    let store = openStore();
    const blocks = fill(store, 12);
    store.saveSnapshot(6, Uint8Array.of(6));
    assert.throws(() => store.pruneBelow(6, -1), RangeError);
    assert.equal(store.pruneBelow(6, 2), 5);
    assert.equal(store.lowestBlockHeight(), 6);
    assert.equal(store.block(4), undefined);
    assert.deepEqual(store.executed(4), executedFor(blocks[3]!), 'within the window: kept without its block');
    assert.deepEqual(store.executed(5), executedFor(blocks[4]!));
    assert.equal(store.executed(3), undefined, 'below the window: dropped');
    store.saveSnapshot(10, Uint8Array.of(10));
    assert.equal(store.pruneBelow(10, 3), 4);
    await store.close();
    store = openStore();
    assert.equal(store.lowestBlockHeight(), 10);
    for (let h = 1; h <= 6; h++) assert.equal(store.executed(h), undefined, `height ${h}: below the second window, kept by the first`);
    for (let h = 7; h <= 12; h++) assert.deepEqual(store.executed(h), executedFor(blocks[h - 1]!), `height ${h}`);
    await store.close();
  });

  it('keeps the latest snapshot and prunes only what it covers', async () => {
    let store = openStore();
    const blocks = fill(store, 10);
    ledgerError(() => store.pruneBelow(2), 'prune-height');
    ledgerError(() => store.saveSnapshot(11, Uint8Array.of(1)), 'snapshot-height');
    store.saveSnapshot(4, Uint8Array.of(4));
    store.saveSnapshot(6, Uint8Array.of(6, 6));
    ledgerError(() => store.saveSnapshot(5, Uint8Array.of(5)), 'snapshot-height');
    assert.deepEqual(store.latestSnapshot(), { height: 6, bytes: Uint8Array.of(6, 6) });
    ledgerError(() => store.pruneBelow(7), 'prune-height');
    assert.equal(store.pruneBelow(6), 5);
    assert.equal(store.pruneBelow(3), 0);
    assert.equal(store.lowestBlockHeight(), 6);
    assert.equal(store.block(5), undefined);
    assert.equal(store.executed(5), undefined);
    ledgerError(() => store.blocks(5, 8), 'pruned');
    assert.deepEqual(store.blocks(6, 10), blocks.slice(5));
    await store.close();
    store = openStore();
    assert.equal(store.lowestBlockHeight(), 6);
    assert.equal(store.committedHeight(), 10);
    assert.deepEqual(store.latestSnapshot(), { height: 6, bytes: Uint8Array.of(6, 6) });
    const next = nextBlock(CHAIN_ID, blocks[9]);
    store.appendCommitted(next, executedFor(next));
    assert.deepEqual(store.block(11), next);
  });

  it('installs a state-sync snapshot above its ledger and continues from it', async () => {
    let store = openStore();
    const blocks = chain(CHAIN_ID, 30);
    for (const b of blocks.slice(0, 3)) store.appendCommitted(b, executedFor(b));
    const at = blocks[19]!;
    ledgerError(() => store.installSnapshot(executedFor(blocks[1]!), Uint8Array.of(1)), 'snapshot-height');
    store.installSnapshot(executedFor(at), Uint8Array.of(20), qcFor(at));
    assert.equal(store.committedHeight(), 20);
    assert.equal(store.lowestBlockHeight(), 21);
    assert.equal(store.block(2), undefined);
    assert.deepEqual(store.latestSnapshot(), { height: 20, bytes: Uint8Array.of(20) });
    assert.deepEqual(store.commitQc(), qcFor(at));
    ledgerError(() => store.appendCommitted(blocks[21]!, executedFor(blocks[21]!)), 'height-gap');
    await store.close();
    store = openStore();
    store.appendCommitted(blocks[20]!, executedFor(blocks[20]!));
    assert.deepEqual(store.blocks(21, 21), [blocks[20]]);
    ledgerError(() => store.blocks(20, 21), 'pruned');
  });

  it('refuses use after close', async () => {
    const store = openStore();
    await store.close();
    ledgerError(() => store.block(1), 'closed');
    ledgerError(() => store.safetyStorage().store(votedFor(chain(CHAIN_ID, 1)[0]!)), 'closed');
  });
});
