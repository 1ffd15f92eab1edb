import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MIN_COMMAND_BYTES, paddedPut } from '../../bench/e2e/load.js';
import { decodeCommand } from '../../protocol/command.js';

/** The load generator's commands: the exact size asked for, and one fresh key per command. */
describe('bench load: padded puts', () => {
  it('are puts of exactly the asked size, from the issue\'s 8 bytes to 1 KiB', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_COMMAND_BYTES, max: 1024 }), fc.integer({ min: 0, max: 2 ** 24 - 1 }), (bytes, ordinal) => {
        const encoded = paddedPut(bytes, ordinal);
        assert.equal(encoded.length, bytes);
        assert.equal(decodeCommand(encoded).type, 'put');
      }),
    );
    assert.equal(MIN_COMMAND_BYTES, 8);
  });

  it('give distinct ordinals distinct keys while the ordinal fits the key', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_COMMAND_BYTES, max: 64 }), fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: 0, max: 2 ** 24 - 1 }), (bytes, a, b) => {
        fc.pre(a !== b);
        const ka = decodeCommand(paddedPut(bytes, a));
        const kb = decodeCommand(paddedPut(bytes, b));
        assert.ok(ka.type === 'put' && kb.type === 'put');
        assert.notDeepEqual(ka.key, kb.key);
      }),
    );
    // The widest key holds ordinals past 2^32 (many clients times long runs).
    const wide = (o: number) => decodeCommand(paddedPut(128, o));
    assert.notDeepEqual(wide(2 ** 32), wide(0));
  });

  it('refuse sizes outside the range and bad ordinals', () => {
    for (const bytes of [0, 7, 4110, 8192, 12.5]) assert.throws(() => paddedPut(bytes, 0), RangeError, String(bytes));
    assert.equal(paddedPut(4109, 0).length, 4109, 'the largest value the application takes');
    for (const ordinal of [-1, 0.5, Number.NaN]) assert.throws(() => paddedPut(64, ordinal), RangeError, String(ordinal));
    // An ordinal past the key's width would collide with a smaller one: refused, not wrapped.
    assert.throws(() => paddedPut(8, 2 ** 24), RangeError);
    assert.equal(paddedPut(8, 2 ** 24 - 1).length, 8);
  });
});
