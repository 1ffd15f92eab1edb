import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { bytesEqual, bytesToHex, fromHex } from '../../crypto/bytes.js';
import { ConfigError } from '../../protocol/config-error.js';
import { writeNewFile } from '../config/keys.js';
import { STORE_ID_BYTES } from '../storage/lmdb-store.js';

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
 * What it cannot see: a restored older copy of the same store (same id: DEPLOY.md warns
 * against it), and a `keys.json` copied to another home without this file.
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
