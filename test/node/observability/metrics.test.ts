import assert from 'node:assert/strict';
import fc from 'fast-check';
import { reasonLabel } from '../../../node/observability/metrics.js';

describe('observability/metrics reasonLabel', () => {
  it('keeps a reason without values as it is, cut at its first colon', () => {
    assert.equal(reasonLabel('proposal repeats a command'), 'proposal repeats a command');
    assert.equal(reasonLabel('safety: not-safe-to-vote'), 'safety');
    assert.equal(reasonLabel(''), 'other');
  });

  it('gives one label per template whatever rounds, senders and ids a peer puts in it', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 2 ** 53 }), fc.uint8Array({ minLength: 3, maxLength: 32 }), (from, round, id) => {
        const hex = Buffer.from(id).toString('hex');
        assert.equal(reasonLabel(`sender ${from} is not the leader of round ${round}`), 'sender N is not the leader of round N');
        assert.equal(reasonLabel(`unknown block ${hex} at height ${round}`), 'unknown block N at height N');
      }),
    );
  });

  it('bounds the label length', () => {
    assert.equal(reasonLabel('x'.repeat(10_000)).length, 64);
  });
});
