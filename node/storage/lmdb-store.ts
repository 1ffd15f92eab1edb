/**
 * The node's durable state in one LMDB environment (DESIGN.md invariants 4 and 6):
 *
 *   safety     the SafetyRules state; store() returns only after an fsynced commit, so no
 *              signature leaves the process before the state that forbids a conflicting one;
 *              and the consensus core's certified tip (highest QC and TC, its blocks' ids),
 *              with the tip's uncommitted blocks under tip-block/<id>, each written once
 *   blocks     committed blocks by height (u64 BE key), each carrying its parent's QC
 *   executed   ExecutedState by height (a prune may keep a window of them below the blocks)
 *   snapshots  the latest application snapshot, keyed by its height
 *   meta       chain id and format version, the ledger bounds, the QC of the top block
 *
 * Every write is one synchronous LMDB transaction, so a kill -9 leaves either all of an append
 * (block, executed state, ledger bounds, commit QC) or none of it. Every read goes through the
 * checksummed envelope of codec.ts: damaged data raises StorageCorruptionError, never a value.
 *
 * Durability: lmdb-js enables `overlappingSync` by default on Linux and macOS, and then its
 * putSync()/removeSync() commit with NO_SYNC_FLUSH: they return once the transaction is visible
 * but before it is flushed. This environment is therefore opened with overlappingSync, noSync
 * and noMetaSync all off, and every write goes through transactionSync(), whose commit is a
 * plain mdb_txn_commit with its fdatasync.
 */
import type { Database, RootDatabase } from 'lmdb';
import { open } from 'lmdb';
import { randomBytes } from 'node:crypto';
import { bytesEqual, bytesToHex, fromHex, toHex } from '../../crypto/bytes.js';
import { genesisBlockId } from '../../protocol/block.js';
import { checkDataFile, DataFileDamagedError } from './data-file.js';
import type { SafetyState, SafetyStorage } from '../consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert } from '../../protocol/types.js';
import type { CertifiedTip } from '../consensus/messages.js';
import {
  decodeBlock,
  decodeInlineTip,
  decodeExecutedStateRecord,
  decodeLedgerMeta,
  decodeOpaque,
  decodeQuorumCert,
  decodeSafetyState,
  decodeStoreMeta,
  decodeTipRecord,
  encodeBlock,
  encodeExecutedStateRecord,
  encodeLedgerMeta,
  encodeQuorumCert,
  encodeSafetyState,
  encodeStoreMeta,
  encodeTipRecord,
  heightKey,
  type LedgerMeta,
  openDecoded,
  STORAGE_FORMAT_VERSION,
  StorageCorruptionError,
  StorageError,
  sealedFormatVersion,
  sealValue,
  ValueKind,
} from './codec.js';

export { StorageCorruptionError, StorageError } from './codec.js';
export { DataFileDamagedError } from './data-file.js';

/** Names of the LMDB sub-databases; exported for tests and offline tools. */
export const TABLES = Object.freeze({
  safety: 'safety',
  blocks: 'blocks',
  executed: 'executed',
  snapshots: 'snapshots',
  meta: 'meta',
});

const utf8 = new TextEncoder();
/** Fixed keys; exported so tests can reach a specific stored value. */
export const KEYS = Object.freeze({
  safetyState: utf8.encode('state'),
  format: utf8.encode('format'),
  identity: utf8.encode('identity'),
  ledger: utf8.encode('ledger'),
  commitQc: utf8.encode('commit-qc'),
  certifiedTip: utf8.encode('certified-tip'),
  genesis: utf8.encode('genesis'),
  storeId: utf8.encode('store-id'),
});

/** Bytes of a store's id: random, so that two stores are told apart wherever they sit. */
export const STORE_ID_BYTES = 16;

const TIP_BLOCK_PREFIX = utf8.encode('tip-block/');
/** Where a certified tip's block is kept (in the safety table); exported for tests. */
export function tipBlockKey(id: Uint8Array): Uint8Array {
  const key = new Uint8Array(TIP_BLOCK_PREFIX.length + id.length);
  key.set(TIP_BLOCK_PREFIX, 0);
  key.set(id, TIP_BLOCK_PREFIX.length);
  return key;
}
const tipBlockLabel = (id: Uint8Array) => `tip-block/${bytesToHex(id)}`;

/** The data directory belongs to another chain. */
export class ChainIdMismatchError extends StorageError {
  constructor(
    readonly dir: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`data directory ${dir} belongs to chain '${found}', not '${expected}'`, 'STORAGE_CHAIN_ID');
  }
}

/** The data directory's history was produced under another genesis of the same chain id. */
export class GenesisMismatchError extends StorageError {
  constructor(
    readonly dir: string,
    readonly expected: Uint8Array,
    readonly found: Uint8Array,
  ) {
    super(
      `data directory ${dir} was written under another genesis of this chain (digest ${bytesToHex(found).slice(0, 16)}..., this one ${bytesToHex(expected).slice(0, 16)}...): ` +
        'a genesis changed after the chain began (validators, consensus or application settings) needs a new chain id and new data directories',
      'STORAGE_GENESIS',
    );
  }
}

/** The data directory was written by another storage format version. */
export class StorageFormatError extends StorageError {
  constructor(
    readonly dir: string,
    readonly found: number,
  ) {
    super(`data directory ${dir} has storage format ${found}; this build reads format ${STORAGE_FORMAT_VERSION}`, 'STORAGE_FORMAT');
  }
}

/**
 * The data directory could not be opened or read: an emptied data file, no permission, no
 * space, a path that is not a directory. `cause` is the underlying error (LMDB's, mostly). A
 * data file cut short or with damaged meta pages, which LMDB would crash on, is
 * DataFileDamagedError instead (data-file.ts).
 */
export class StorageOpenError extends StorageError {
  constructor(
    readonly dir: string,
    override readonly cause: unknown,
  ) {
    super(`cannot open the data directory ${dir}: ${cause instanceof Error ? cause.message : String(cause)}`, 'STORAGE_OPEN');
  }
}

export type LedgerErrorReason =
  | 'height-gap'
  | 'executed-mismatch'
  | 'parent-mismatch'
  | 'qc-mismatch'
  | 'snapshot-height'
  | 'prune-height'
  | 'pruned'
  | 'closed';

/** A call that would leave the ledger inconsistent (or read what is gone); nothing was written. */
export class LedgerError extends StorageError {
  constructor(
    readonly reason: LedgerErrorReason,
    detail: string,
  ) {
    super(`ledger refuses: ${reason}: ${detail}`, `STORAGE_LEDGER_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

export interface NodeStoreOptions {
  readonly chainId: string;
  /**
   * The genesis the directory's history was produced under (genesisHistoryDigest). A directory
   * is bound to the first one it is opened with; another is refused (GenesisMismatchError).
   * Omitted, nothing is checked or recorded (tests and offline tools).
   */
  readonly genesisDigest?: Uint8Array;
  /** Initial LMDB map size in bytes; lmdb-js grows it as needed. */
  readonly mapSize?: number;
}

export interface StoredSnapshot {
  readonly height: number;
  readonly bytes: Uint8Array;
}

type Table = Database<Uint8Array, Uint8Array>;

function heightLabel(h: number): string {
  return String(h);
}

export class NodeStore {
  readonly #dir: string;
  readonly #chainId: string;
  readonly #genesisDigest: Uint8Array | undefined;
  readonly #root: RootDatabase<Uint8Array, Uint8Array>;
  readonly #safety: Table;
  readonly #blocks: Table;
  /** Hex ids of the tip blocks held: what a save need not write again. */
  #tipBlockIds = new Set<string>();
  /**
   * Each block's encoding, for as long as the block lives: a block is encoded for the tip and
   * again when it is appended to the ledger. This takes blocks as immutable values (nothing in
   * the node writes one after it is built; they are not frozen): a block changed in place after
   * its first encoding would be stored as it was.
   */
  readonly #encodedBlocks = new WeakMap<Block, Uint8Array>();
  readonly #executed: Table;
  readonly #snapshots: Table;
  readonly #meta: Table;
  #ledger: LedgerMeta;
  #storeId: Uint8Array = new Uint8Array(0);
  #closed = false;

  private constructor(dir: string, chainId: string, genesisDigest: Uint8Array | undefined, root: RootDatabase<Uint8Array, Uint8Array>) {
    this.#dir = dir;
    this.#chainId = chainId;
    this.#genesisDigest = genesisDigest;
    this.#root = root;
    const table = (name: string): Table => root.openDB<Uint8Array, Uint8Array>(name, { encoding: 'binary', keyEncoding: 'binary', cache: false });
    this.#safety = table(TABLES.safety);
    this.#blocks = table(TABLES.blocks);
    this.#executed = table(TABLES.executed);
    this.#snapshots = table(TABLES.snapshots);
    this.#meta = table(TABLES.meta);
    this.#ledger = { committedHeight: 0, lowestBlockHeight: 1 };
  }

  /**
   * Opens (creating if needed) the store in `dir` for `chainId`. Throws ChainIdMismatchError for
   * another chain's directory, GenesisMismatchError for one written under another genesis of the
   * chain, StorageFormatError for another format, StorageCorruptionError
   * when the ledger bounds disagree with the blocks present, DataFileDamagedError for a data file
   * LMDB would crash on (cut short, meta pages overwritten), StorageOpenError for an emptied
   * data file and for what LMDB itself refuses (no permission, no space, not a directory).
   */
  static open(dir: string, options: NodeStoreOptions): NodeStore {
    encodeStoreMeta({ chainId: options.chainId }); // validates the id before touching the disk
    let root: RootDatabase<Uint8Array, Uint8Array>;
    try {
      // LMDB opens an empty data file as a new store: this node would start with no safety
      // state and could sign again in rounds it already signed in. A new store is a deliberate
      // act (an empty directory), never what an emptied file turns into.
      if (checkDataFile(dir).kind === 'empty') throw new Error('data.mdb is empty; to start this validator over deliberately, remove the directory and start once with --fresh-safety-state (docs/DEPLOY.md section 6)');
      root = NodeStore.#openRoot(dir, options);
    } catch (err) {
      throw err instanceof DataFileDamagedError ? err : new StorageOpenError(dir, err);
    }
    if (options.genesisDigest !== undefined && options.genesisDigest.length !== 32) throw new RangeError(`genesisDigest must be 32 bytes, got ${options.genesisDigest.length}`);
    const store = new NodeStore(dir, options.chainId, options.genesisDigest, root);
    try {
      store.#initialise();
    } catch (err) {
      store.#closed = true;
      void root.close();
      throw err instanceof StorageError ? err : new StorageOpenError(dir, err);
    }
    return store;
  }

  static #openRoot(dir: string, options: NodeStoreOptions): RootDatabase<Uint8Array, Uint8Array> {
    return open<Uint8Array, Uint8Array>({
      path: dir,
      maxDbs: 8,
      encoding: 'binary',
      keyEncoding: 'binary',
      // lmdb-js guesses "a file, not a directory" when the last path segment contains a dot
      // (e.g. /data/node.1): the data dir is always a directory here.
      noSubdir: false,
      // See the module comment: each of these would let a "synchronous" commit return unflushed.
      overlappingSync: false,
      noSync: false,
      noMetaSync: false,
      useWritemap: false,
      cache: false,
      ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
    });
  }

  get chainId(): string {
    return this.#chainId;
  }

  /**
   * This directory's id, made when it was created: a copy of the directory has it too, a new
   * directory never does. It tells a validator whether the store it opened is the one its key
   * last signed from (node/runtime/safety-binding.ts).
   */
  get storeId(): Uint8Array {
    return this.#storeId.slice();
  }

  #initialise(): void {
    const storedFormat = this.#meta.get(KEYS.format);
    if (storedFormat === undefined) {
      // Only a directory holding nothing at all is fresh: without its format key, one that holds
      // blocks or a safety state is damaged, and opening it as height 0 would hide that.
      for (const [db, name] of [
        [this.#blocks, TABLES.blocks],
        [this.#executed, TABLES.executed],
        [this.#snapshots, TABLES.snapshots],
        [this.#safety, TABLES.safety],
        [this.#meta, TABLES.meta],
      ] as const) {
        if ([...db.getKeys({ limit: 1 })].length > 0) throw new StorageCorruptionError(TABLES.meta, 'format', `missing, while table '${name}' holds data`);
      }
      // A fresh directory: stamp it before anything else is written.
      this.#storeId = new Uint8Array(randomBytes(STORE_ID_BYTES));
      this.#meta.transactionSync(() => {
        this.#meta.putSync(KEYS.format, sealValue(TABLES.meta, KEYS.format, ValueKind.meta, new Uint8Array(0)));
        this.#putSealed(this.#meta, TABLES.meta, KEYS.storeId, ValueKind.meta, this.#storeId);
        this.#putSealed(this.#meta, TABLES.meta, KEYS.identity, ValueKind.meta, encodeStoreMeta({ chainId: this.#chainId }));
        this.#putSealed(this.#meta, TABLES.meta, KEYS.ledger, ValueKind.ledger, encodeLedgerMeta(this.#ledger));
        if (this.#genesisDigest !== undefined) this.#putSealed(this.#meta, TABLES.meta, KEYS.genesis, ValueKind.meta, this.#genesisDigest);
      });
      return;
    }
    const version = sealedFormatVersion(TABLES.meta, KEYS.format, 'format', storedFormat);
    if (version !== STORAGE_FORMAT_VERSION) throw new StorageFormatError(this.#dir, version);
    const identity = this.#read(this.#meta, TABLES.meta, KEYS.identity, 'identity', ValueKind.meta, decodeStoreMeta);
    if (identity === undefined) throw new StorageCorruptionError(TABLES.meta, 'identity', 'missing');
    if (identity.chainId !== this.#chainId) throw new ChainIdMismatchError(this.#dir, this.#chainId, identity.chainId);
    this.#checkGenesis();
    this.#storeId = this.#readOrMakeStoreId();
    const ledger = this.#read(this.#meta, TABLES.meta, KEYS.ledger, 'ledger', ValueKind.ledger, decodeLedgerMeta);
    if (ledger === undefined) throw new StorageCorruptionError(TABLES.meta, 'ledger', 'missing');
    this.#ledger = ledger;
    this.#checkLedgerBounds();
    this.#tipBlockIds = this.#storedTipBlockIds();
  }

  /** Binds the directory to its genesis: checked when recorded, recorded when not (a directory of an earlier build). */
  #checkGenesis(): void {
    const expected = this.#genesisDigest;
    if (expected === undefined) return;
    const found = this.#read(this.#meta, TABLES.meta, KEYS.genesis, 'genesis', ValueKind.meta, (body) => body);
    if (found === undefined) {
      this.#meta.transactionSync(() => this.#putSealed(this.#meta, TABLES.meta, KEYS.genesis, ValueKind.meta, expected));
      return;
    }
    if (!bytesEqual(found, expected)) throw new GenesisMismatchError(this.#dir, expected, found);
  }

  /** The directory's id, made now for a directory of a build from before ids (it keeps it from now on). */
  #readOrMakeStoreId(): Uint8Array {
    const found = this.#read(this.#meta, TABLES.meta, KEYS.storeId, 'store-id', ValueKind.meta, (body) => body);
    if (found !== undefined) {
      if (found.length !== STORE_ID_BYTES) throw new StorageCorruptionError(TABLES.meta, 'store-id', `${found.length} bytes, not ${STORE_ID_BYTES}`);
      return found;
    }
    const made = new Uint8Array(randomBytes(STORE_ID_BYTES));
    this.#meta.transactionSync(() => this.#putSealed(this.#meta, TABLES.meta, KEYS.storeId, ValueKind.meta, made));
    return made;
  }

  #storedTipBlockIds(): Set<string> {
    const ids = new Set<string>();
    // The prefix's keys sort together: from the prefix itself to its last byte plus one.
    const end = TIP_BLOCK_PREFIX.slice();
    end[end.length - 1]! += 1;
    for (const key of this.#safety.getKeys({ start: TIP_BLOCK_PREFIX, end })) {
      if (!(key instanceof Uint8Array) || key.length !== TIP_BLOCK_PREFIX.length + 32) {
        throw new StorageCorruptionError(TABLES.safety, key instanceof Uint8Array ? toHex(key) : String(key), 'malformed tip block key');
      }
      ids.add(bytesToHex(key.subarray(TIP_BLOCK_PREFIX.length)));
    }
    return ids;
  }

  #encodedBlock(block: Block): Uint8Array {
    let body = this.#encodedBlocks.get(block);
    if (body === undefined) {
      body = encodeBlock(block);
      this.#encodedBlocks.set(block, body);
    }
    return body;
  }

  /** The highest and lowest block keys must be exactly the recorded bounds. */
  #checkLedgerBounds(): void {
    const { committedHeight, lowestBlockHeight } = this.#ledger;
    const keys = (reverse: boolean) => [...this.#blocks.getKeys({ reverse, limit: 1 })];
    const [first] = keys(false);
    const [last] = keys(true);
    const expectEmpty = lowestBlockHeight > committedHeight;
    const describe = (k: unknown) => (k instanceof Uint8Array ? toHex(k) : String(k));
    if (expectEmpty) {
      if (first !== undefined) throw new StorageCorruptionError(TABLES.blocks, describe(first), 'block present outside the recorded ledger');
      return;
    }
    if (!(first instanceof Uint8Array) || !bytesEqual(first, heightKey(lowestBlockHeight))) {
      throw new StorageCorruptionError(TABLES.blocks, heightLabel(lowestBlockHeight), `lowest block key is ${describe(first)}`);
    }
    if (!(last instanceof Uint8Array) || !bytesEqual(last, heightKey(committedHeight))) {
      throw new StorageCorruptionError(TABLES.blocks, heightLabel(committedHeight), `highest block key is ${describe(last)}`);
    }
  }

  #live(): void {
    if (this.#closed) throw new LedgerError('closed', `store ${this.#dir} is closed`);
  }

  #putSealed(db: Table, table: string, key: Uint8Array, kind: ValueKind, body: Uint8Array): void {
    db.putSync(key, sealValue(table, key, kind, body));
  }

  #read<T>(db: Table, table: string, key: Uint8Array, label: string, kind: ValueKind, decode: (body: Uint8Array) => T): T | undefined {
    const stored = db.get(key);
    if (stored === undefined) return undefined;
    // A plain copy: lmdb-js hands out Buffers, whose slice() is a view, and decoded values must
    // neither alias lmdb's memory nor differ in type from what was stored.
    return openDecoded(table, key, label, kind, new Uint8Array(stored), decode);
  }

  #writeLedger(ledger: LedgerMeta): void {
    this.#putSealed(this.#meta, TABLES.meta, KEYS.ledger, ValueKind.ledger, encodeLedgerMeta(ledger));
  }

  /** Runs `fn` as one durable transaction; the cached ledger bounds change only if it commits. */
  #commit(fn: () => LedgerMeta | undefined): void {
    this.#live();
    const next = this.#root.transactionSync(fn);
    if (next !== undefined) this.#ledger = next;
  }

  /**
   * One LMDB write transaction around `fn`: the writes inside (each a nested transactionSync,
   * which lmdb-js runs as a child of this one) commit with a single fdatasync pair when it
   * returns: what a consensus step (or the execution of what it committed) writes is flushed
   * once, however many records it touches. If `fn` throws, nothing of it is written, and the cached
   * ledger bounds (moved by the inner writes as they returned) are read back from disk.
   */
  durably<T>(fn: () => T): T {
    this.#live();
    try {
      return this.#root.transactionSync(fn);
    } catch (err) {
      const ledger = this.#read(this.#meta, TABLES.meta, KEYS.ledger, 'ledger', ValueKind.ledger, decodeLedgerMeta);
      if (ledger !== undefined) this.#ledger = ledger;
      // Likewise the tip's blocks: a save inside the group believed them written. Should the
      // rescan fail too, the set is emptied (the next save then writes every block it names)
      // and the group's own error is the one that escapes.
      try {
        this.#tipBlockIds = this.#storedTipBlockIds();
      } catch {
        this.#tipBlockIds = new Set();
      }
      throw err;
    }
  }

  // ---- safety ------------------------------------------------------------------------------

  /** SafetyStorage for SafetyRules: store() returns after the state is fsynced. */
  safetyStorage(): SafetyStorage {
    return {
      load: (): SafetyState | null => {
        this.#live();
        return this.#read(this.#safety, TABLES.safety, KEYS.safetyState, 'state', ValueKind.safetyState, decodeSafetyState) ?? null;
      },
      store: (state: SafetyState): void => {
        const body = encodeSafetyState(state);
        this.#commit(() => {
          this.#putSealed(this.#safety, TABLES.safety, KEYS.safetyState, ValueKind.safetyState, body);
          return undefined;
        });
      },
    };
  }

  // ---- committed ledger --------------------------------------------------------------------

  /** Height of the last committed block; 0 (genesis) for a fresh store. */
  committedHeight(): number {
    return this.#ledger.committedHeight;
  }

  /** Lowest height whose block is still held (committedHeight() + 1 when none is). */
  lowestBlockHeight(): number {
    return this.#ledger.lowestBlockHeight;
  }

  /**
   * Appends the next committed block, the state after executing it and, if given, the QC that
   * certifies it (kept for serving sync: the blocks above carry the QCs of those below).
   * Atomic and durable on return.
   */
  appendCommitted(block: Block, executed: ExecutedState, commitQc?: QuorumCert): void {
    this.#live();
    const { committedHeight, lowestBlockHeight } = this.#ledger;
    const h = block.height;
    if (h !== committedHeight + 1) throw new LedgerError('height-gap', `expected height ${committedHeight + 1}, got ${h}`);
    if (executed.height !== h || !bytesEqual(executed.blockId, block.id)) {
      throw new LedgerError('executed-mismatch', `executed state is for height ${executed.height}, block ${toHex(executed.blockId)}`);
    }
    const parentId = h === 1 ? genesisBlockId(this.#chainId) : this.executed(h - 1)?.blockId;
    if (parentId !== undefined && !bytesEqual(parentId, block.parentQc.vote.blockId)) {
      throw new LedgerError('parent-mismatch', `block ${h} extends ${toHex(block.parentQc.vote.blockId)}, committed ${h - 1} is ${toHex(parentId)}`);
    }
    if (commitQc !== undefined && (commitQc.vote.height !== h || !bytesEqual(commitQc.vote.blockId, block.id))) {
      throw new LedgerError('qc-mismatch', `commit QC certifies height ${commitQc.vote.height}, not block ${h}`);
    }
    const key = heightKey(h);
    const blockBody = this.#encodedBlock(block);
    const executedBody = encodeExecutedStateRecord(executed);
    const qcBody = commitQc === undefined ? undefined : encodeQuorumCert(commitQc);
    this.#commit(() => {
      this.#putSealed(this.#blocks, TABLES.blocks, key, ValueKind.block, blockBody);
      this.#putSealed(this.#executed, TABLES.executed, key, ValueKind.executedState, executedBody);
      // A QC for an older block must not outlive the append: it would be served as the top's.
      if (qcBody === undefined) this.#meta.removeSync(KEYS.commitQc);
      else this.#putSealed(this.#meta, TABLES.meta, KEYS.commitQc, ValueKind.quorumCert, qcBody);
      const next = { committedHeight: h, lowestBlockHeight: Math.min(lowestBlockHeight, h) };
      this.#writeLedger(next);
      return next;
    });
  }

  /**
   * Keeps the core's certified tip in place of the last one; durable with the group it is
   * written in. Written when the highest QC or TC or the block voted for moves, about once a
   * round. The record (safety/certified-tip) holds the QC, the TC and the blocks' ids (the chain
   * up to the QC, then the block last voted for when it extends it); it sits beside the safety
   * state, which the same groups write: kept in meta, it dirtied one more table's pages in every
   * round's flush, and block-1 latency rose by about 8% (A/B medians of 4 pairs, twice). The
   * blocks are kept beside it (tip-block/<id>), each written when it enters the tip and removed
   * when the tip no longer names it: a block stays in the tip two or three rounds, and a full
   * block is tens of KB, so rewriting the tip's blocks on every save had made the tip most of
   * what each round flushed (ordering-only with full blocks, 4 A/B pairs: +6.6% throughput).
   * In the same table for the reason above.
   */
  saveCertifiedTip(tip: CertifiedTip): void {
    this.#live();
    const record = encodeTipRecord({ highQc: tip.highQc, ...(tip.highTc === undefined ? {} : { highTc: tip.highTc }), blockIds: tip.blocks.map((b) => b.id) });
    const kept = new Set<string>();
    const fresh: { readonly id: Uint8Array; readonly body: Uint8Array }[] = [];
    for (const block of tip.blocks) {
      const id = bytesToHex(block.id);
      if (kept.has(id)) continue;
      kept.add(id);
      if (!this.#tipBlockIds.has(id)) fresh.push({ id: block.id, body: this.#encodedBlock(block) });
    }
    const gone = [...this.#tipBlockIds].filter((id) => !kept.has(id));
    this.#commit(() => {
      for (const { id, body } of fresh) this.#putSealed(this.#safety, TABLES.safety, tipBlockKey(id), ValueKind.block, body);
      for (const id of gone) this.#safety.removeSync(tipBlockKey(fromHex(id)));
      this.#putSealed(this.#safety, TABLES.safety, KEYS.certifiedTip, ValueKind.tipRecord, record);
      return undefined;
    });
    this.#tipBlockIds = kept;
  }

  certifiedTip(): CertifiedTip | undefined {
    this.#live();
    const stored = this.#safety.get(KEYS.certifiedTip);
    if (stored === undefined) return undefined;
    // A record with its blocks inline, as the first builds of this format wrote it; the next save
    // replaces it. The kind byte is only a hint here: the open checks it under the checksum.
    if (stored[1] === ValueKind.certifiedTip) {
      return openDecoded(TABLES.safety, KEYS.certifiedTip, 'certified-tip', ValueKind.certifiedTip, new Uint8Array(stored), decodeInlineTip);
    }
    const record = openDecoded(TABLES.safety, KEYS.certifiedTip, 'certified-tip', ValueKind.tipRecord, new Uint8Array(stored), decodeTipRecord);
    const blocks = record.blockIds.map((id) => {
      const label = tipBlockLabel(id);
      const block = this.#read(this.#safety, TABLES.safety, tipBlockKey(id), label, ValueKind.block, decodeBlock);
      if (block === undefined) throw new StorageCorruptionError(TABLES.safety, label, 'missing, while the certified tip names it');
      if (!bytesEqual(block.id, id)) throw new StorageCorruptionError(TABLES.safety, label, `holds block ${toHex(block.id)}`);
      return block;
    });
    return record.highTc === undefined ? { blocks, highQc: record.highQc } : { blocks, highQc: record.highQc, highTc: record.highTc };
  }

  /** The QC certifying the top committed block, when the caller supplied one. */
  commitQc(): QuorumCert | undefined {
    this.#live();
    return this.#read(this.#meta, TABLES.meta, KEYS.commitQc, 'commit-qc', ValueKind.quorumCert, decodeQuorumCert);
  }

  block(height: number): Block | undefined {
    this.#live();
    if (height < this.#ledger.lowestBlockHeight || height > this.#ledger.committedHeight) return undefined;
    const block = this.#read(this.#blocks, TABLES.blocks, heightKey(height), heightLabel(height), ValueKind.block, decodeBlock);
    if (block === undefined) throw new StorageCorruptionError(TABLES.blocks, heightLabel(height), 'missing inside the ledger');
    if (block.height !== height) throw new StorageCorruptionError(TABLES.blocks, heightLabel(height), `holds block of height ${block.height}`);
    return block;
  }

  /**
   * Blocks `from..to` inclusive, clipped at the committed height; LedgerError('pruned') when
   * `from` is below the lowest block held, so a syncing peer is told to use a snapshot instead.
   */
  blocks(from: number, to: number): Block[] {
    this.#live();
    if (from < this.#ledger.lowestBlockHeight) {
      throw new LedgerError('pruned', `blocks below ${this.#ledger.lowestBlockHeight} are pruned (asked from ${from})`);
    }
    const top = Math.min(to, this.#ledger.committedHeight);
    const out: Block[] = [];
    for (let h = from; h <= top; h++) out.push(this.block(h)!);
    return out;
  }

  executed(height: number): ExecutedState | undefined {
    this.#live();
    if (height > this.#ledger.committedHeight) return undefined;
    const e = this.#read(this.#executed, TABLES.executed, heightKey(height), heightLabel(height), ValueKind.executedState, decodeExecutedStateRecord);
    if (e !== undefined && e.height !== height) throw new StorageCorruptionError(TABLES.executed, heightLabel(height), `holds height ${e.height}`);
    // Every block held was appended with its executed state: one missing beside it is damage,
    // not "absent" (which callers read as "halted" or "nothing to check against").
    if (e === undefined && height >= this.#ledger.lowestBlockHeight) throw new StorageCorruptionError(TABLES.executed, heightLabel(height), 'missing inside the ledger');
    return e;
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /** Keeps `bytes` as the latest snapshot (state after block `height`); older ones are dropped. */
  saveSnapshot(height: number, bytes: Uint8Array): void {
    this.#live();
    const latest = this.#latestSnapshotHeight();
    if (height > this.#ledger.committedHeight || height < 1 || (latest !== undefined && height < latest)) {
      throw new LedgerError(
        'snapshot-height',
        `snapshot at ${height} must be within 1..${this.#ledger.committedHeight} and not below the latest (${latest ?? 'none'})`,
      );
    }
    const key = heightKey(height);
    this.#commit(() => {
      this.#dropSnapshotsBelow(height);
      this.#putSealed(this.#snapshots, TABLES.snapshots, key, ValueKind.snapshot, bytes);
      return undefined;
    });
  }

  latestSnapshot(): StoredSnapshot | undefined {
    this.#live();
    const height = this.#latestSnapshotHeight();
    if (height === undefined) return undefined;
    const bytes = this.#read(this.#snapshots, TABLES.snapshots, heightKey(height), heightLabel(height), ValueKind.snapshot, decodeOpaque)!;
    return { height, bytes };
  }

  #latestSnapshotHeight(): number | undefined {
    const [key] = [...this.#snapshots.getKeys({ reverse: true, limit: 1 })];
    if (key === undefined) return undefined;
    if (!(key instanceof Uint8Array) || key.length !== 8) throw new StorageCorruptionError(TABLES.snapshots, String(key), 'malformed height key');
    return Number(Buffer.from(key).readBigUInt64BE(0));
  }

  #dropSnapshotsBelow(height: number): void {
    for (const key of [...this.#snapshots.getKeys({ end: heightKey(height) })]) this.#snapshots.removeSync(key);
  }

  /**
   * Drops blocks below `height`, and executed states below `height - keepExecuted`. The latest
   * snapshot must be at or above `height`, so everything dropped is covered by it; the block at
   * the snapshot height is kept. Executed states are a hundred bytes each and a restarted core
   * checks headers against the newest ones (restartKnowledge), so the runtime keeps a window of
   * them past its blocks. Returns how many blocks were removed.
   */
  pruneBelow(height: number, keepExecuted = 0): number {
    this.#live();
    if (!Number.isSafeInteger(keepExecuted) || keepExecuted < 0) throw new RangeError(`keepExecuted must be a non-negative integer, got ${keepExecuted}`);
    const snap = this.#latestSnapshotHeight();
    if (snap === undefined || height > snap) {
      throw new LedgerError('prune-height', `cannot prune below ${height}: latest snapshot is at ${snap ?? 'none'}`);
    }
    const { committedHeight, lowestBlockHeight } = this.#ledger;
    if (height <= lowestBlockHeight) return 0;
    let removed = 0;
    this.#commit(() => {
      for (let h = lowestBlockHeight; h < height; h++) if (this.#blocks.removeSync(heightKey(h))) removed++;
      // By key range: states kept by an earlier prune lie below lowestBlockHeight.
      const executedFloor = Math.max(0, height - keepExecuted);
      for (const key of [...this.#executed.getKeys({ end: heightKey(executedFloor) })]) this.#executed.removeSync(key);
      const next = { committedHeight, lowestBlockHeight: height };
      this.#writeLedger(next);
      return next;
    });
    return removed;
  }

  /**
   * For a replica that caught up by state sync: adopts a verified snapshot at `executed.height`
   * (above everything held) as its committed state. All older ledger data is dropped, and the
   * next append must be executed.height + 1. The caller must have checked the snapshot's roots
   * against a certified header first.
   */
  installSnapshot(executed: ExecutedState, bytes: Uint8Array, commitQc?: QuorumCert): void {
    this.#live();
    const h = executed.height;
    if (h <= this.#ledger.committedHeight) {
      throw new LedgerError('snapshot-height', `installed snapshot at ${h} must be above committed height ${this.#ledger.committedHeight}`);
    }
    if (commitQc !== undefined && (commitQc.vote.height !== h || !bytesEqual(commitQc.vote.blockId, executed.blockId))) {
      throw new LedgerError('qc-mismatch', `commit QC certifies height ${commitQc.vote.height}, not the snapshot's block ${h}`);
    }
    const key = heightKey(h);
    const executedBody = encodeExecutedStateRecord(executed);
    this.#commit(() => {
      for (const k of [...this.#blocks.getKeys()]) this.#blocks.removeSync(k);
      for (const k of [...this.#executed.getKeys()]) this.#executed.removeSync(k);
      this.#dropSnapshotsBelow(h + 1);
      this.#putSealed(this.#executed, TABLES.executed, key, ValueKind.executedState, executedBody);
      this.#putSealed(this.#snapshots, TABLES.snapshots, key, ValueKind.snapshot, bytes);
      if (commitQc === undefined) this.#meta.removeSync(KEYS.commitQc);
      else this.#putSealed(this.#meta, TABLES.meta, KEYS.commitQc, ValueKind.quorumCert, encodeQuorumCert(commitQc));
      const next = { committedHeight: h, lowestBlockHeight: h + 1 };
      this.#writeLedger(next);
      return next;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#root.close();
  }
}
