import assert from 'node:assert/strict';
import fc from 'fast-check';
import { publishesHeader } from '../../../node/runtime/query-service.js';

describe('certificate publishing shared among validators', () => {
  it('every header has exactly `copies` publishers, consecutive from its height mod n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 200 }), (n, height, c) => {
        const copies = Math.min(c, n);
        const publishers = Array.from({ length: n }, (_, index) => index).filter((index) => publishesHeader({ index, n, copies }, height));
        assert.equal(publishers.length, copies);
        assert.ok(publishers.includes(height % n));
      }),
    );
  });

  it('each validator publishes its fair share of consecutive headers', () => {
    const n = 4;
    const copies = 2;
    for (let index = 0; index < n; index++) {
      const mine = Array.from({ length: 400 }, (_, h) => h).filter((h) => publishesHeader({ index, n, copies }, h));
      assert.equal(mine.length, 200);
    }
  });
});
