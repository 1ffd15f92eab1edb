/**
 * Application commands and their canonical binary form.
 *
 * Layout (all integers big-endian), one tag byte then the fields of that kind:
 *
 *   0x01 put       u16 len(key) || key || u16 len(value) || value
 *   0x02 delete    u16 len(key) || key
 *   0x03 cas       u16 len(key) || key || u8 hasExpected (0|1) || [u16 len(expected) || expected]
 *                  || u16 len(value) || value
 *   0x04 transfer  u8 len(from) || from || u8 len(to) || to || u64 amount
 *   0x05 mint      u8 len(account) || account || u64 amount
 *
 * The tag space doubles as the version space: a changed layout gets a new tag, so old signed
 * commands never change meaning. Each field has exactly one encoding and trailing bytes are
 * refused, so decode(encode(c)) = c and encode(decode(b)) = b for every accepted b: the command
 * hash in the log identifies the command, not one of several spellings of it.
 *
 * Limits are checked on both sides (an encoder that accepts what the decoder refuses would
 * let a client sign a command that every replica commits as MALFORMED).
 */
import { EncodingError } from '../crypto/errors.js';
import { ByteReader, ByteWriter } from './bytes-io.js';

export const MAX_KEY_BYTES = 256;
export const MAX_VALUE_BYTES = 4096;
export const MAX_ACCOUNT_BYTES = 64;
export const MAX_COMMAND_BYTES = 8192;
export const MAX_AMOUNT = (1n << 64n) - 1n;

export type PutCommand = { type: 'put'; key: Uint8Array; value: Uint8Array };
export type DeleteCommand = { type: 'delete'; key: Uint8Array };
/** `expected: null` means the key must be absent (create-if-absent). */
export type CasCommand = { type: 'cas'; key: Uint8Array; expected: Uint8Array | null; value: Uint8Array };
export type TransferCommand = { type: 'transfer'; from: Uint8Array; to: Uint8Array; amount: bigint };
/**
 * Creates `amount` out of nothing: genesis and test funding only. Nothing in a command says who
 * may mint, so a production chain runs the application with `allowMint: false` and funds
 * accounts some other way (a genesis snapshot).
 */
export type MintCommand = { type: 'mint'; account: Uint8Array; amount: bigint };

export type Command = PutCommand | DeleteCommand | CasCommand | TransferCommand | MintCommand;
export type CommandType = Command['type'];

const TAGS = { put: 0x01, delete: 0x02, cas: 0x03, transfer: 0x04, mint: 0x05 } as const satisfies Record<
  CommandType,
  number
>;

/** Bytes that are not the canonical encoding of a valid command. */
export class CommandDecodeError extends EncodingError {
  override readonly code = 'COMMAND_DECODE';
  constructor(detail: string) {
    super(`invalid command: ${detail}`);
  }
}

/** A command object that cannot be encoded (limits, types); thrown by encodeCommand only. */
export class CommandEncodeError extends EncodingError {
  override readonly code = 'COMMAND_ENCODE';
  constructor(detail: string) {
    super(`cannot encode command: ${detail}`);
  }
}

type Fail = (detail: string) => Error;

function checkBytes(v: unknown, what: string, min: number, max: number, fail: Fail): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw fail(`${what} is not a Uint8Array`);
  if (v.length < min || v.length > max) throw fail(`${what} has ${v.length} bytes, allowed ${min}..${max}`);
}

function checkAmount(v: unknown, fail: Fail): asserts v is bigint {
  if (typeof v !== 'bigint' || v < 0n || v > MAX_AMOUNT) throw fail('amount is not a u64 bigint');
}

const key = (v: unknown, fail: Fail) => checkBytes(v, 'key', 1, MAX_KEY_BYTES, fail);
const value = (v: unknown, what: string, fail: Fail) => checkBytes(v, what, 0, MAX_VALUE_BYTES, fail);
const account = (v: unknown, what: string, fail: Fail) => checkBytes(v, what, 1, MAX_ACCOUNT_BYTES, fail);

const encodeFail: Fail = (d) => new CommandEncodeError(d);
const decodeFail: Fail = (d) => new CommandDecodeError(d);

/** Canonical bytes of `cmd`; throws CommandEncodeError for anything the decoder would refuse. */
export function encodeCommand(cmd: Command): Uint8Array {
  if (typeof cmd !== 'object' || cmd === null) throw encodeFail('command is not an object');
  const w = new ByteWriter();
  switch (cmd.type) {
    case 'put':
      key(cmd.key, encodeFail);
      value(cmd.value, 'value', encodeFail);
      w.u8(TAGS.put).u16(cmd.key.length).bytes(cmd.key).u16(cmd.value.length).bytes(cmd.value);
      break;
    case 'delete':
      key(cmd.key, encodeFail);
      w.u8(TAGS.delete).u16(cmd.key.length).bytes(cmd.key);
      break;
    case 'cas':
      key(cmd.key, encodeFail);
      value(cmd.value, 'value', encodeFail);
      w.u8(TAGS.cas).u16(cmd.key.length).bytes(cmd.key);
      if (cmd.expected === null) {
        w.u8(0);
      } else {
        value(cmd.expected, 'expected', encodeFail);
        w.u8(1).u16(cmd.expected.length).bytes(cmd.expected);
      }
      w.u16(cmd.value.length).bytes(cmd.value);
      break;
    case 'transfer':
      account(cmd.from, 'from', encodeFail);
      account(cmd.to, 'to', encodeFail);
      checkAmount(cmd.amount, encodeFail);
      w.u8(TAGS.transfer).u8(cmd.from.length).bytes(cmd.from).u8(cmd.to.length).bytes(cmd.to).u64(cmd.amount);
      break;
    case 'mint':
      account(cmd.account, 'account', encodeFail);
      checkAmount(cmd.amount, encodeFail);
      w.u8(TAGS.mint).u8(cmd.account.length).bytes(cmd.account).u64(cmd.amount);
      break;
    default:
      throw encodeFail(`unknown command type ${JSON.stringify((cmd as { type?: unknown }).type)}`);
  }
  const out = w.finish();
  // Only cas can get here (a maximal expected plus a maximal value): the whole-command cap is
  // deliberately tighter than the sum of the field caps.
  if (out.length > MAX_COMMAND_BYTES) throw encodeFail(`encoded command has ${out.length} bytes, limit ${MAX_COMMAND_BYTES}`);
  return out;
}

/** Inverse of encodeCommand; throws CommandDecodeError (and nothing else) for any other bytes. */
export function decodeCommand(bytes: Uint8Array): Command {
  if (!(bytes instanceof Uint8Array)) throw decodeFail('input is not a Uint8Array');
  // Checked before parsing so an oversized input costs nothing beyond its length.
  if (bytes.length > MAX_COMMAND_BYTES) throw decodeFail(`${bytes.length} bytes, limit ${MAX_COMMAND_BYTES}`);
  const r = new ByteReader(bytes, decodeFail);
  const lenBytes = (lenWidth: 1 | 2, what: string, min: number, max: number): Uint8Array => {
    const n = lenWidth === 1 ? r.u8(`length of ${what}`) : r.u16(`length of ${what}`);
    if (n < min || n > max) throw decodeFail(`${what} has ${n} bytes, allowed ${min}..${max}`);
    return r.bytes(n, what);
  };
  const tag = r.u8('tag');
  let cmd: Command;
  switch (tag) {
    case TAGS.put:
      cmd = { type: 'put', key: lenBytes(2, 'key', 1, MAX_KEY_BYTES), value: lenBytes(2, 'value', 0, MAX_VALUE_BYTES) };
      break;
    case TAGS.delete:
      cmd = { type: 'delete', key: lenBytes(2, 'key', 1, MAX_KEY_BYTES) };
      break;
    case TAGS.cas: {
      const k = lenBytes(2, 'key', 1, MAX_KEY_BYTES);
      const flag = r.u8('hasExpected');
      if (flag > 1) throw decodeFail(`hasExpected is ${flag}, must be 0 or 1`);
      const expected = flag === 1 ? lenBytes(2, 'expected', 0, MAX_VALUE_BYTES) : null;
      cmd = { type: 'cas', key: k, expected, value: lenBytes(2, 'value', 0, MAX_VALUE_BYTES) };
      break;
    }
    case TAGS.transfer:
      cmd = {
        type: 'transfer',
        from: lenBytes(1, 'from', 1, MAX_ACCOUNT_BYTES),
        to: lenBytes(1, 'to', 1, MAX_ACCOUNT_BYTES),
        amount: r.u64('amount'),
      };
      break;
    case TAGS.mint:
      cmd = { type: 'mint', account: lenBytes(1, 'account', 1, MAX_ACCOUNT_BYTES), amount: r.u64('amount') };
      break;
    default:
      throw decodeFail(`unknown tag 0x${tag.toString(16).padStart(2, '0')}`);
  }
  r.end();
  return cmd;
}
