import assert from 'node:assert/strict';
import { VerifiedIdCache } from '../../validation/verified-cache.js';

const id = (n: number): Uint8Array => new Uint8Array(32).fill(n);

describe('VerifiedIdCache', () => {
  it('evicts the least recently used id once full; a hit refreshes an id', () => {
    const cache = new VerifiedIdCache(3);
    for (const n of [1, 2, 3]) cache.add(id(n), BigInt(n));
    assert.equal(cache.get(id(1)), 1n, 'hit: 1 is now the most recent');
    cache.add(id(4), 4n);
    assert.equal(cache.size, 3);
    assert.equal(cache.has(id(2)), false, '2 was the least recently used');
    for (const n of [1, 3, 4]) assert.equal(cache.get(id(n)), BigInt(n));
  });

  it('stays bounded and keeps the newest ids through many evictions', () => {
    const cache = new VerifiedIdCache(100);
    for (let n = 0; n < 1000; n++) cache.addKey(`k${n}`, BigInt(n));
    assert.equal(cache.size, 100);
    assert.equal(cache.getKey('k899'), undefined);
    assert.equal(cache.getKey('k900'), 900n);
    assert.equal(cache.getKey('k999'), 999n);
  });

  it('re-adding an id updates its expiry', () => {
    const cache = new VerifiedIdCache(2);
    cache.add(id(1), 10n);
    cache.add(id(1), 20n);
    assert.equal(cache.size, 1);
    assert.equal(cache.get(id(1)), 20n);
  });

  it('a limit of 0 caches nothing; a bad limit is refused', () => {
    const off = new VerifiedIdCache(0);
    off.add(id(1), 1n);
    assert.equal(off.size, 0);
    assert.equal(off.get(id(1)), undefined);
    for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => new VerifiedIdCache(bad), RangeError);
  });
});
