import assert from 'node:assert/strict';
import { defaultRequestsPerClient, mempoolShare, ShareCheck, type ShareAmount } from '../../../node/runtime/mempool-shares.js';

describe('mempool shares: what one client key may hold in the queue', () => {
  it('defaults to a sixteenth of the queue, at least 256 requests or the whole of a shorter queue, and the same fraction of its bytes', () => {
    assert.equal(defaultRequestsPerClient(32_768), 2_048);
    assert.equal(defaultRequestsPerClient(1_024), 256);
    assert.equal(defaultRequestsPerClient(100), 100);
    assert.deepEqual(mempoolShare({ maxRequests: 32_768, maxBytes: 64 << 20, maxRequestBytes: 1 << 20 }), { commands: 2_048, bytes: 4 << 20 });
    // Never below one largest request, or such a request could never enter.
    assert.equal(mempoolShare({ maxRequests: 32_768, maxBytes: 64 << 20, maxRequestBytes: 8 << 20 }).bytes, 8 << 20);
    assert.deepEqual(mempoolShare({ maxRequests: 1_000, maxBytes: 10_000, maxRequestBytes: 100 }, 10), { commands: 10, bytes: 100 });
    assert.deepEqual(mempoolShare({ maxRequests: 10, maxBytes: 1_000, maxRequestBytes: 100 }, 50), { commands: 10, bytes: 1_000 }, 'never more than the queue');
    for (const bad of [0, -1, 1.5]) assert.throws(() => mempoolShare({ maxRequests: 10, maxBytes: 1_000, maxRequestBytes: 100 }, bad), RangeError);
  });

  it('a batch check lets through what fits beside what each client holds and what the batch let through before', () => {
    const held = new Map<number, ShareAmount>([[1, { commands: 2, bytes: 20 }]]);
    const check = new ShareCheck({ commands: 3, bytes: 100 }, (c) => held.get(c) ?? { commands: 0, bytes: 0 });
    assert.equal(check.fits(1, 10), true, 'a third request');
    assert.equal(check.fits(1, 10), false, 'a fourth is past the share');
    assert.equal(check.fits(2, 60), true);
    assert.equal(check.fits(2, 41), false, 'past the bytes');
    assert.equal(check.fits(2, 40), true);
    assert.equal(check.fits(2, 1), false);
  });
});
