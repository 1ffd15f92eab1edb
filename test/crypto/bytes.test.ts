import assert from 'node:assert/strict';
import { bytesToHex as nobleBytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { bytesToHex, fromHex, toHex } from '../../crypto/bytes.js';
import { EncodingError } from '../../crypto/errors.js';

describe('crypto/bytes hex', () => {
  it('agrees with @noble/hashes on any bytes, subarray windows included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.nat(16), fc.nat(16), (bytes, skip, cut) => {
        const start = Math.min(skip, bytes.length);
        const view = bytes.subarray(start, Math.max(start, bytes.length - cut));
        assert.equal(bytesToHex(view), nobleBytesToHex(view));
        assert.deepEqual(fromHex(toHex(view)), new Uint8Array(view));
      }),
    );
  });

  it('refuses what is not a Uint8Array with an EncodingError', () => {
    assert.throws(() => bytesToHex('00' as unknown as Uint8Array), EncodingError);
    assert.throws(() => bytesToHex([1, 2] as unknown as Uint8Array), EncodingError);
  });
});
