import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CLIENT_CONDUCT_DEFAULTS, ClientConduct } from '../../../node/runtime/client-conduct.js';
import { accept, ignore, reject, type Verdict } from '../../../validation/verdict.js';

const ok: Verdict = accept(new Uint8Array(32));
const forged: Verdict = reject('bad-signature');
const stale: Verdict = ignore('expired');
const times = (v: Verdict, k: number): Verdict[] => Array.from({ length: k }, () => v);

describe('runtime/client-conduct', () => {
  it('bans a peer at its rejectLimit-th rejected request, not one before, and forgets it then', () => {
    const c = new ClientConduct({ rejectLimit: 4 });
    assert.equal(c.record('p', times(forged, 3)), false);
    assert.equal(c.record('p', [stale, ok, stale]), false, 'ignored and accepted requests are no fault');
    assert.equal(c.record('p', [forged]), true);
    assert.equal(c.size, 0, 'the ban is the host\'s to keep');
    assert.equal(c.record('q', times(forged, 10)), true, 'one frame can bring the ban');
  });

  it('checks a new peer\'s frames in two steps until it has earned trust, and again after a reject', () => {
    const c = new ClientConduct({ trustAfter: 8, probe: 3 });
    assert.equal(c.probeSize('p'), 3);
    c.record('p', times(ok, 7));
    assert.equal(c.probeSize('p'), 3);
    c.record('p', [ok]);
    assert.equal(c.probeSize('p'), Number.POSITIVE_INFINITY);
    c.record('p', [forged]);
    assert.equal(c.probeSize('p'), 3, 'a reject outstanding puts the peer back on probation');
  });

  it('forgives a reject per forgiveEvery accepted requests, so a client with a rare bad request is never banned', () => {
    const c = new ClientConduct({ rejectLimit: 3, forgiveEvery: 100, trustAfter: 10 });
    // One bad request in every 150 over 150,000 requests.
    for (let k = 0; k < 1000; k++) assert.equal(c.record('honest-but-buggy', [forged, ...times(ok, 149)]), false);
    assert.equal(c.probeSize('honest-but-buggy'), Number.POSITIVE_INFINITY);
    // One in every 50 is too many.
    const d = new ClientConduct({ rejectLimit: 3, forgiveEvery: 100 });
    let banned = false;
    for (let k = 0; k < 10 && !banned; k++) banned = d.record('sloppy', [forged, ...times(ok, 49)]);
    assert.ok(banned);
  });

  it('keeps at most maxPeers records, the least recently seen going first', () => {
    const c = new ClientConduct({ maxPeers: 3, rejectLimit: 2 });
    for (const p of ['a', 'b', 'c']) c.record(p, [forged]);
    c.record('a', [ok]);
    c.record('d', [ok]);
    assert.equal(c.size, 3);
    assert.equal(c.record('b', [forged]), false, 'b was forgotten: its first reject is gone');
    assert.equal(c.record('a', [forged]), true, 'a was kept');
  });

  it('refuses options that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ClientConduct({ probe: bad }), RangeError);
    assert.deepEqual(new ClientConduct().options, CLIENT_CONDUCT_DEFAULTS);
  });

  it('bans exactly when rejects, net of one forgiven per forgiveEvery accepts since a reject, reach the limit (property, against a model)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.array(fc.constantFrom<'a' | 'r' | 'i'>('a', 'r', 'i'), { maxLength: 12 }), { maxLength: 30 }),
        (rejectLimit, forgiveEvery, frames) => {
          const c = new ClientConduct({ rejectLimit, forgiveEvery });
          let rejected = 0;
          let credit = 0;
          for (const frame of frames) {
            for (const v of frame) {
              if (v === 'r') rejected++;
              else if (v === 'a' && rejected > 0 && ++credit >= forgiveEvery) {
                rejected--;
                credit = 0;
              }
            }
            const expected = rejected >= rejectLimit;
            assert.equal(c.record('p', frame.map((v) => (v === 'a' ? ok : v === 'r' ? forged : stale))), expected);
            if (expected) return;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
