import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual, fromHex, toHex } from '../bytes.js';
import { CryptoError } from '../errors.js';
import type { BlsBackend, BlsPublicKey, BlsSignature } from './types.js';

/**
 * Conformance runner for BLS test vectors in the Ethereum consensus-spec format
 * (`tests/formats/bls/*.md`): one JSON file per case under a folder named after the
 * operation. Folders it does not know and files that are not `.json` are ignored, so any
 * directory with that layout can be run.
 */
export const VECTOR_FOLDERS = ['sign', 'verify', 'aggregate', 'fast_aggregate_verify', 'aggregate_verify', 'batch_verify'] as const;
export type VectorFolder = (typeof VECTOR_FOLDERS)[number];

export interface VectorFailure {
  readonly file: string;
  readonly reason: string;
}

export interface VectorReport {
  readonly backend: string;
  readonly passed: number;
  readonly failed: number;
  readonly failures: readonly VectorFailure[];
}

/** Thrown for a case file that is not a well-formed vector; counted as a failed case. */
class MalformedCase extends Error {}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function field(obj: Json, key: string): Json {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || !(key in obj)) {
    throw new MalformedCase(`missing field ${key}`);
  }
  return obj[key]!;
}

function hexField(value: Json, what: string): Uint8Array {
  if (typeof value !== 'string') throw new MalformedCase(`${what} is not a hex string`);
  try {
    return fromHex(value);
  } catch {
    throw new MalformedCase(`${what} is not valid hex`);
  }
}

function hexList(value: Json, what: string): Uint8Array[] {
  if (!Array.isArray(value)) throw new MalformedCase(`${what} is not a list`);
  return value.map((v, i) => hexField(v, `${what}[${i}]`));
}

/** Decodes, mapping any typed crypto refusal to `undefined` (the vector's "invalid input"). */
function tryDecode<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (err instanceof CryptoError) return undefined;
    throw err;
  }
}

function decodeAll<T>(items: Uint8Array[], decode: (b: Uint8Array) => T): T[] | undefined {
  const out: T[] = [];
  for (const item of items) {
    const v = tryDecode(() => decode(item));
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/** Runs one case and returns the actual output in the vector's own terms. */
function runCase(backend: BlsBackend, folder: VectorFolder, input: Json): Uint8Array | boolean | null {
  const pk = (b: Uint8Array): BlsPublicKey => backend.publicKeyFromBytes(b);
  const sig = (b: Uint8Array): BlsSignature => backend.signatureFromBytes(b);
  switch (folder) {
    case 'sign': {
      const sk = tryDecode(() => backend.secretKeyFromBytes(hexField(field(input, 'privkey'), 'privkey')));
      if (sk === undefined) return null;
      return backend.sign(sk, hexField(field(input, 'message'), 'message')).bytes;
    }
    case 'verify': {
      const message = hexField(field(input, 'message'), 'message');
      const p = tryDecode(() => pk(hexField(field(input, 'pubkey'), 'pubkey')));
      const s = tryDecode(() => sig(hexField(field(input, 'signature'), 'signature')));
      return p !== undefined && s !== undefined && backend.verify(p, message, s);
    }
    case 'aggregate': {
      if (!Array.isArray(input)) throw new MalformedCase('aggregate input is not a list');
      const sigs = decodeAll(hexList(input, 'input'), sig);
      if (sigs === undefined || sigs.length === 0) return null;
      return backend.aggregateSignatures(sigs).bytes;
    }
    case 'fast_aggregate_verify': {
      const message = hexField(field(input, 'message'), 'message');
      const pks = decodeAll(hexList(field(input, 'pubkeys'), 'pubkeys'), pk);
      const s = tryDecode(() => sig(hexField(field(input, 'signature'), 'signature')));
      return pks !== undefined && s !== undefined && backend.fastAggregateVerify(pks, message, s);
    }
    case 'aggregate_verify': {
      const messages = hexList(field(input, 'messages'), 'messages');
      const pks = decodeAll(hexList(field(input, 'pubkeys'), 'pubkeys'), pk);
      const s = tryDecode(() => sig(hexField(field(input, 'signature'), 'signature')));
      return pks !== undefined && s !== undefined && backend.aggregateVerify(pks, messages, s);
    }
    case 'batch_verify': {
      const messages = hexList(field(input, 'messages'), 'messages');
      const pks = decodeAll(hexList(field(input, 'pubkeys'), 'pubkeys'), pk);
      const sigs = decodeAll(hexList(field(input, 'signatures'), 'signatures'), sig);
      if (pks === undefined || sigs === undefined) return false;
      if (pks.length !== messages.length || sigs.length !== messages.length) return false;
      return backend.verifyBatch(pks.map((p, i) => ({ publicKey: p, message: messages[i]!, signature: sigs[i]! })));
    }
  }
}

function expectedOf(output: Json): Uint8Array | boolean | null {
  if (output === null || typeof output === 'boolean') return output;
  return hexField(output, 'output');
}

function describe(v: Uint8Array | boolean | null): string {
  return v instanceof Uint8Array ? toHex(v) : String(v);
}

function same(a: Uint8Array | boolean | null, b: Uint8Array | boolean | null): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return bytesEqual(a, b);
  return a === b;
}

async function listJson(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && e.name.endsWith('.json'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function runBlsVectors(dir: string, backend: BlsBackend): Promise<VectorReport> {
  let passed = 0;
  const failures: VectorFailure[] = [];
  for (const folder of VECTOR_FOLDERS) {
    for (const name of await listJson(join(dir, folder))) {
      const file = join(folder, name);
      try {
        const doc = JSON.parse(await readFile(join(dir, file), 'utf8')) as Json;
        const expected = expectedOf(field(doc, 'output'));
        const actual = runCase(backend, folder, field(doc, 'input'));
        if (same(actual, expected)) passed++;
        else failures.push({ file, reason: `expected ${describe(expected)}, got ${describe(actual)}` });
      } catch (err) {
        const reason = err instanceof MalformedCase || err instanceof SyntaxError ? `malformed case: ${err.message}` : `threw: ${String(err)}`;
        failures.push({ file, reason });
      }
    }
  }
  return { backend: backend.name, passed, failed: failures.length, failures };
}
