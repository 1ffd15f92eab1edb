import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromHex, toHex } from '../../crypto/bytes.js';
import { EncodingError } from '../../crypto/errors.js';
import type { Command } from '../../protocol/command.js';
import {
  CommandDecodeError,
  CommandEncodeError,
  decodeCommand,
  encodeCommand,
  MAX_AMOUNT,
  MAX_COMMAND_BYTES,
  MAX_VALUE_BYTES,
} from '../../protocol/command.js';
import { anyCommand } from '../node/app/arbitraries.js';

const ascii = (s: string) => new TextEncoder().encode(s);

function decodesOrRefuses(bytes: Uint8Array): void {
  let cmd: Command;
  try {
    cmd = decodeCommand(bytes);
  } catch (err) {
    assert.ok(err instanceof CommandDecodeError, `unexpected ${String(err)}`);
    assert.ok(err instanceof EncodingError);
    return;
  }
  // Anything accepted must be the canonical form of what it decodes to.
  assert.equal(toHex(encodeCommand(cmd)), toHex(bytes));
}

describe('app/command codec', () => {
  it('encodes hand-checked examples byte for byte', () => {
    const cases: [Command, string][] = [
      [{ type: 'put', key: ascii('a'), value: ascii('bc') }, '01 0001 61 0002 6263'],
      [{ type: 'delete', key: ascii('k') }, '02 0001 6b'],
      [{ type: 'cas', key: ascii('k'), expected: null, value: ascii('v') }, '03 0001 6b 00 0001 76'],
      [{ type: 'cas', key: ascii('k'), expected: new Uint8Array(0), value: ascii('v') }, '03 0001 6b 01 0000 0001 76'],
      [
        { type: 'transfer', from: Uint8Array.of(0xaa), to: Uint8Array.of(0xbb, 0xcc), amount: 258n },
        '04 01 aa 02 bbcc 0000000000000102',
      ],
      [{ type: 'mint', account: Uint8Array.of(7), amount: MAX_AMOUNT }, '05 01 07 ffffffffffffffff'],
    ];
    for (const [cmd, hex] of cases) {
      const bytes = fromHex(hex.replaceAll(' ', ''));
      assert.deepEqual(encodeCommand(cmd), bytes, hex);
      assert.deepEqual(decodeCommand(bytes), cmd, hex);
    }
  });

  it('round-trips every valid command and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(anyCommand, (cmd) => {
        const bytes = encodeCommand(cmd);
        assert.ok(bytes.length <= MAX_COMMAND_BYTES);
        const back = decodeCommand(bytes);
        assert.deepEqual(back, cmd);
        assert.deepEqual(encodeCommand(back), bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes only ever decode canonically or throw CommandDecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => decodesOrRefuses(b)), { numRuns: 2000 });
    // A valid tag first makes the parser go deeper than pure noise would.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 80 }), (tag, rest) =>
        decodesOrRefuses(Uint8Array.of(tag, ...rest)),
      ),
      { numRuns: 2000 },
    );
  });

  it('single-byte changes, truncations and extensions of valid commands are caught', () => {
    fc.assert(
      fc.property(anyCommand, fc.nat(), fc.integer({ min: 1, max: 255 }), (cmd, at, xor) => {
        const bytes = encodeCommand(cmd);
        const mutated = bytes.slice();
        mutated[at % bytes.length]! ^= xor;
        decodesOrRefuses(mutated);
        assert.throws(() => decodeCommand(bytes.subarray(0, bytes.length - 1 - (at % bytes.length))), CommandDecodeError);
        assert.throws(() => decodeCommand(Uint8Array.of(...bytes, xor)), CommandDecodeError);
      }),
      { numRuns: 300 },
    );
  });

  it('enforces the limits on both sides', () => {
    const k = (n: number) => new Uint8Array(n).fill(1);
    const tooBig: Command[] = [
      { type: 'put', key: k(257), value: k(0) },
      { type: 'put', key: k(0), value: k(0) },
      { type: 'put', key: k(1), value: k(MAX_VALUE_BYTES + 1) },
      { type: 'delete', key: k(257) },
      { type: 'cas', key: k(1), expected: k(MAX_VALUE_BYTES + 1), value: k(0) },
      // Each field within its cap, the whole over 8 KiB.
      { type: 'cas', key: k(256), expected: k(MAX_VALUE_BYTES), value: k(MAX_VALUE_BYTES) },
      { type: 'transfer', from: k(65), to: k(1), amount: 1n },
      { type: 'transfer', from: k(1), to: k(0), amount: 1n },
      { type: 'mint', account: k(1), amount: MAX_AMOUNT + 1n },
      { type: 'mint', account: k(1), amount: -1n },
    ];
    for (const cmd of tooBig) assert.throws(() => encodeCommand(cmd), CommandEncodeError, JSON.stringify(cmd.type));
    assert.throws(() => encodeCommand({ type: 'mint', account: k(1), amount: 1 } as unknown as Command), CommandEncodeError);
    assert.throws(() => encodeCommand({ type: 'nope' } as unknown as Command), CommandEncodeError);

    const refused = [
      '', // empty
      '06', // unknown tag
      '00',
      `01 0101 ${'01'.repeat(257)} 0000`, // key of 257 bytes
      '01 0000 0000', // empty key
      `01 0001 61 1001 ${'00'.repeat(4097)}`, // value of 4097 bytes
      '03 0001 6b 02 0001 76', // hasExpected = 2
      '04 00 01 aa 0000000000000001', // empty from
      `04 41 ${'01'.repeat(65)} 01 aa 0000000000000001`, // from of 65 bytes
      '05 01 07 ffffffffffffff', // truncated amount
      '02 0001 6b 00', // trailing byte
    ];
    for (const hex of refused) assert.throws(() => decodeCommand(fromHex(hex.replaceAll(' ', ''))), CommandDecodeError, hex);
    // Over 8 KiB is refused before parsing, even when it starts like a command.
    assert.throws(() => decodeCommand(new Uint8Array(MAX_COMMAND_BYTES + 1).fill(1)), /limit 8192/);
    assert.throws(() => decodeCommand('01' as unknown as Uint8Array), CommandDecodeError);
  });

  it('decoded fields do not alias the input buffer', () => {
    const bytes = encodeCommand({ type: 'put', key: ascii('k'), value: ascii('v') });
    const cmd = decodeCommand(bytes);
    bytes.fill(0);
    assert.deepEqual(cmd, { type: 'put', key: ascii('k'), value: ascii('v') });
  });
});
