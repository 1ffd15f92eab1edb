/**
 * Strict readers for JSON configuration values. Each takes the value and its field path and
 * either returns the typed value or throws a ConfigError naming that path, so the parsers
 * above them read like a schema.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { fromHex } from '../crypto/bytes.js';
import { ConfigError } from './config-error.js';

export type JsonObject = { readonly [key: string]: unknown };

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

/**
 * An object with exactly the allowed keys: a misspelt optional field ("metricPort") would
 * otherwise be silently ignored and the default used, which is worse than refusing to start.
 */
export function object(value: unknown, path: string, allowed: readonly string[]): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(path, `expected an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ConfigError(`${path}.${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
  return value as JsonObject;
}

export function required(obj: JsonObject, key: string, path: string): unknown {
  const v = obj[key];
  if (v === undefined) throw new ConfigError(`${path}.${key}`, 'missing');
  return v;
}

export function array(value: unknown, path: string, min: number, max: number): readonly unknown[] {
  if (!Array.isArray(value)) throw new ConfigError(path, `expected an array, got ${describe(value)}`);
  if (value.length < min || value.length > max) throw new ConfigError(path, `expected ${min}..${max} entries, got ${value.length}`);
  return value;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new ConfigError(path, `expected a string, got ${describe(value)}`);
  return value;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(path, `expected true or false, got ${describe(value)}`);
  return value;
}

export function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ConfigError(path, `expected an integer in [${min}, ${max}], got ${describe(value)}`);
  }
  if (value < min || value > max) throw new ConfigError(path, `expected an integer in [${min}, ${max}], got ${value}`);
  return value;
}

export function port(value: unknown, path: string): number {
  return integer(value, path, 1, 65_535);
}

/** `0x`-prefixed hex of exactly `length` bytes (or `min..max` bytes). */
export function hexBytes(value: unknown, path: string, min: number, max = min): Uint8Array {
  const s = string(value, path);
  if (!/^0x[0-9a-fA-F]*$/.test(s) || s.length % 2 !== 0) {
    throw new ConfigError(path, `expected 0x-prefixed hex, got ${JSON.stringify(s.slice(0, 24))}${s.length > 24 ? '...' : ''}`);
  }
  const bytes = fromHex(s);
  if (bytes.length < min || bytes.length > max) {
    throw new ConfigError(path, `expected ${min === max ? min : `${min}..${max}`} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export const U64_MAX = (1n << 64n) - 1n;

/** A decimal string: JSON numbers lose precision above 2^53, so amounts travel as text. */
export function decimalU64(value: unknown, path: string): bigint {
  const s = string(value, path);
  if (!/^(0|[1-9][0-9]{0,19})$/.test(s)) throw new ConfigError(path, `expected a decimal string without sign or leading zeros, got ${JSON.stringify(s.slice(0, 24))}`);
  const v = BigInt(s);
  if (v > U64_MAX) throw new ConfigError(path, `amount exceeds 2^64 - 1`);
  return v;
}

export interface ParsedMultiaddr {
  /** Canonical string form. */
  readonly text: string;
  readonly components: readonly { readonly name: string; readonly value?: string }[];
}

/**
 * A valid multiaddr with a TCP port (the only transport the node runs), returned in canonical
 * string form so that two spellings of one address compare equal.
 */
export function tcpMultiaddr(value: unknown, path: string): ParsedMultiaddr {
  const s = string(value, path);
  let parsed: ParsedMultiaddr;
  try {
    const ma = multiaddr(s);
    parsed = { text: ma.toString(), components: ma.getComponents() };
  } catch (err) {
    throw new ConfigError(path, `not a multiaddr (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!parsed.components.some((c) => c.name === 'tcp')) throw new ConfigError(path, `expected a TCP multiaddr such as /ip4/127.0.0.1/tcp/26600, got ${JSON.stringify(s)}`);
  return parsed;
}
