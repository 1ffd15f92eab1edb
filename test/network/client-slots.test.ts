import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientSlots } from '../../network/client-slots.js';

describe('network/client-slots: which clients make room', () => {
  it('evicts the least recently active first, never the newcomer, until the rest fit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 12, maxLength: 12 }),
        (limit, touches, counts) => {
          const slots = new ClientSlots(limit);
          const order: string[] = [];
          for (const t of touches) {
            const peer = `p${t}`;
            slots.connected(peer);
            const at = order.indexOf(peer);
            if (at >= 0) order.splice(at, 1);
            order.push(peer);
          }
          const held = (p: string) => counts[Number(p.slice(1))]!;
          const keep = order[order.length - 1]!;
          const total = order.reduce((sum, p) => sum + held(p), 0);
          const evicted = slots.toEvict(total, held, keep);
          assert.ok(!evicted.includes(keep));
          // Exactly a prefix of the recency order (skipping the newcomer and peers with nothing held).
          const candidates = order.filter((p) => p !== keep && held(p) > 0);
          assert.deepEqual(evicted, candidates.slice(0, evicted.length));
          const left = total - evicted.reduce((sum, p) => sum + held(p), 0);
          // Within the limit, or nobody but the newcomer is left to evict; and not one more than needed.
          assert.ok(left <= limit || evicted.length === candidates.length);
          if (evicted.length > 0) assert.ok(left + held(evicted[evicted.length - 1]!) > limit);
        },
      ),
    );
  });

  it('activity moves a connected peer, and never brings back one that is gone', () => {
    const slots = new ClientSlots(1);
    slots.connected('a');
    slots.connected('b');
    slots.touch('a');
    assert.deepEqual(slots.toEvict(2, () => 1, 'none'), ['b'], 'a, active since, stays');
    slots.forget('a');
    slots.touch('a');
    // Were a back, it would be the one to go (b is kept as the newcomer).
    assert.deepEqual(slots.toEvict(2, () => 1, 'b'), [], 'a frame read after its connection closed adds nothing');
  });

  it('refuses a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ClientSlots(bad), RangeError);
  });
});
