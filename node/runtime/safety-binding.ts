import { statSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { bytesEqual, bytesToHex, fromHex } from '../../crypto/bytes.js';
import { ConfigError } from '../../protocol/config-error.js';
import { writeNewFile } from '../config/keys.js';
import { STORE_ID_BYTES, StorageOpenError } from '../storage/lmdb-store.js';

/**
 * Which store holds this validator key's safety state: the last round the key voted or timed
 * out in. A new store knows none of those rounds, so a validator started on one can sign a
 * second, different vote in a round it already signed in (equivocation). A data directory
 * starts new by a typo in `config.dataDir`, a wrong mount, or a wipe, and nothing else told the
 * node: it started, caught up and voted as if it had never signed anything.
 *
 * The home (beside `keys.json`) records the id of the store the key signs from
 * (`safety-store.json`). A start on a directory with no store, or on another store, is refused
 * unless the operator says the old store is lost (`vsmr start --fresh-safety-state`). A store
 * that moved (same id, another path) is followed. The record names the chain and its genesis:
 * a key reused on another chain starts its own store there, which signs other messages.
 *
 * What it cannot see: a restored older copy of the same store, or the source of a copy (same
 * id: DEPLOY.md warns against both), and a `keys.json` copied to another home without this file.
 */
export const SAFETY_BINDING_FILE = 'safety-store.json';

const VERSION = 1;

export interface SafetyBinding {
  readonly chainId: string;
  /** The genesis digest the store is bound to (NodeStore's genesisDigest). */
  readonly genesis: Uint8Array;
  readonly storeId: Uint8Array;
  /** Where the store was when it was recorded, for the operator (stores are matched by id). */
  readonly dataDir: string;
}

/** The chain and directory a start is about. */
export interface StoreSite {
  readonly chainId: string;
  readonly genesis: Uint8Array;
  readonly dataDir: string;
  /** config.json, to which a refusal is attributed (`config.dataDir` is the field to correct). */
  readonly configFile: string;
}

/** What a start found in `dataDir`: no store yet, or a store with this id. */
export type StoreSeen = { readonly kind: 'none' } | { readonly kind: 'store'; readonly id: Uint8Array };

/** Where the check tells what it let through (a pino logger fits). */
export interface BindingLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * The check as `vsmr start` runs it: `open` reads the record (after the key's single-instance
 * claim), `beforeStore` refuses a directory with no store before anything creates it, and
 * `afterStore` refuses another store, or records this one, before anything is signed.
 */
export class SafetyBindingCheck {
  private constructor(
    readonly file: string,
    private readonly site: StoreSite,
    private readonly freshAllowed: boolean,
    private readonly record: SafetyBinding | undefined,
    /** The record did not parse and the operator said to start over: it is being replaced. */
    private readonly replacingDamaged: boolean,
    private readonly log: BindingLog,
    private readonly write: typeof writeSafetyBinding,
  ) {}

  /** `write` is the record's writer: writeSafetyBinding, or a failing one in tests. */
  static async open(home: string, site: StoreSite, freshAllowed: boolean, log: BindingLog, write = writeSafetyBinding): Promise<SafetyBindingCheck> {
    const file = join(home, SAFETY_BINDING_FILE);
    try {
      return new SafetyBindingCheck(file, site, freshAllowed, await readSafetyBinding(file), false, log, write);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (!freshAllowed) {
        throw new ConfigError(
          err.field,
          `${err.reason}. If it is damaged, start once with --fresh-safety-state, which replaces it with a record of the store in dataDir: first make sure that is this key's store, or that the key's store is lost (docs/DEPLOY.md section 6)`,
          file,
        );
      }
      log.warn({ file, err: err.message }, 'UNSAFE: --fresh-safety-state: replacing a record of the key\'s store that does not parse');
      return new SafetyBindingCheck(file, site, freshAllowed, undefined, true, log, write);
    }
  }

  /** Before the data directory is claimed (which creates it): refuses one with no store while the key has one. */
  beforeStore(): void {
    const { dataDir } = this.site;
    let present: boolean;
    try {
      present = statSync(join(dataDir, 'data.mdb'), { throwIfNoEntry: false }) !== undefined;
    } catch (err) {
      // Not "no store": a directory this process may not read (EACCES) holds whatever it holds.
      throw new StorageOpenError(dataDir, err);
    }
    if (!present) judgeStore(this.record, this.site, { kind: 'none' }, this.freshAllowed);
  }

  /** After the store is opened, before anything is signed: refuses another store, records this one. */
  async afterStore(storeId: Uint8Array): Promise<void> {
    const { site, record, file } = this;
    const verdict = judgeStore(record, site, { kind: 'store', id: storeId }, this.freshAllowed);
    if (this.freshAllowed && verdict !== 'override' && !this.replacingDamaged) {
      this.log.warn({ dataDir: site.dataDir }, '--fresh-safety-state was not needed: no record names another store for this key. Leave the flag out of unit files, where it would let a typo through');
    }
    if (verdict === 'keep') return;
    if (verdict === 'override') {
      this.log.warn({ dataDir: site.dataDir, previous: record?.dataDir }, 'UNSAFE: --fresh-safety-state: signing from a store that does not know the rounds this key signed in before');
    }
    try {
      await this.write(file, { chainId: site.chainId, genesis: site.genesis, storeId, dataDir: site.dataDir });
    } catch (err) {
      const why = (err as Error).message;
      // The record would go on naming the store the operator said is lost: started on later
      // without the flag, that store does not know the rounds this one signs in.
      if (verdict === 'override' || this.replacingDamaged) {
        throw new ConfigError(undefined, `cannot record store ${bytesToHex(storeId)} in ${site.dataDir} as this key's (${why}); make the home writable: the record must name the new store before the key signs from it`, file);
      }
      const applies = record !== undefined && record.chainId === site.chainId && bytesEqual(record.genesis, site.genesis);
      this.log.warn(
        { file, err: why },
        applies ? "could not record where this key's store moved to; it is still matched by its id" : "could not record which store holds this key's safety state; a dataDir typo or a wipe will not be caught",
      );
    }
  }
}

/**
 * Whether this start may use what it found, and whether the record must be (re)written:
 * `keep` (it already names this store here), `bind` (record this store), `override` (record
 * this store, which is not the key's, because the operator said the key's is lost). Throws a ConfigError on
 * `config.dataDir` when the key's safety state is in another store and the operator did not
 * say it is lost (`freshAllowed`).
 */
export function judgeStore(bound: SafetyBinding | undefined, site: StoreSite, seen: StoreSeen, freshAllowed: boolean): 'keep' | 'bind' | 'override' {
  // No record, or one of another chain (or another genesis of it): nothing this key signed
  // there is at stake here.
  if (bound === undefined || bound.chainId !== site.chainId || !bytesEqual(bound.genesis, site.genesis)) return 'bind';
  if (seen.kind === 'store' && bytesEqual(seen.id, bound.storeId)) return bound.dataDir === site.dataDir ? 'keep' : 'bind';
  if (freshAllowed) return 'override';
  const found = seen.kind === 'none' ? 'holds no store' : `holds store ${bytesToHex(seen.id)}`;
  throw new ConfigError(
    'config.dataDir',
    `${site.dataDir} ${found}, but this validator's key last signed from store ${bytesToHex(bound.storeId)} in ${bound.dataDir}. ` +
      'Started on it, the key would not know the rounds it signed in and could sign twice in one (equivocation). ' +
      'Correct dataDir; if that store is lost, see docs/DEPLOY.md section 6 and start once with --fresh-safety-state',
    site.configFile,
  );
}

/** The record in `path`, or undefined when there is none. Throws a ConfigError naming the file for one that does not parse. */
export async function readSafetyBinding(path: string): Promise<SafetyBinding | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(undefined, `cannot read it: ${(err as Error).message}`, path);
  }
  try {
    return parseSafetyBinding(text);
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(path) : err;
  }
}

export function parseSafetyBinding(text: string): SafetyBinding {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(undefined, `not JSON (${(err as Error).message}); it records which data directory holds this key's safety state`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError(undefined, 'not a JSON object');
  const o = doc as Record<string, unknown>;
  if (o['version'] !== VERSION) throw new ConfigError('version', `must be ${VERSION}, got ${JSON.stringify(o['version'])}`);
  const stringField = (field: string): string => {
    const v = o[field];
    if (typeof v !== 'string' || v === '') throw new ConfigError(field, 'must be a non-empty string');
    return v;
  };
  const hexField = (field: string, bytes: number): Uint8Array => {
    const v = stringField(field);
    if (!/^[0-9a-f]*$/.test(v) || v.length !== 2 * bytes) throw new ConfigError(field, `must be ${bytes} bytes of lowercase hex`);
    return fromHex(v);
  };
  return { chainId: stringField('chainId'), genesis: hexField('genesis', 32), storeId: hexField('storeId', STORE_ID_BYTES), dataDir: stringField('dataDir') };
}

export function encodeSafetyBinding(b: SafetyBinding): string {
  return `${JSON.stringify({ version: VERSION, chainId: b.chainId, genesis: bytesToHex(b.genesis), storeId: bytesToHex(b.storeId), dataDir: b.dataDir }, null, 2)}\n`;
}

/**
 * Replaces the record at `path` in one step: a crash leaves the old record or the new one,
 * never half of either. The new one is synced before the rename and the directory after it.
 */
export async function writeSafetyBinding(path: string, b: SafetyBinding): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await rm(temp, { force: true });
  await writeNewFile(temp, encodeSafetyBinding(b), 0o600);
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
