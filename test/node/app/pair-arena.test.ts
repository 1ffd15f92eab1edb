import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PairArena } from '../../../node/app/pair-arena.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

type Op = { kind: 'put'; slot: number; key: Uint8Array; value: Uint8Array } | { kind: 'drop'; slot: number };

const arbOp = (slots: number, maxBytes: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), slot: fc.nat({ max: slots - 1 }), key: fc.uint8Array({ maxLength: maxBytes }), value: fc.uint8Array({ maxLength: maxBytes }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), slot: fc.nat({ max: slots - 1 }) }) },
  );

/** Every slot reads back what the model holds, and the arena's byte counts add up. */
function assertMatches(arena: PairArena, model: Map<number, Uint8Array>, slots: number, chunkBytes: number, largest: number): void {
  let live = 0;
  for (let slot = 0; slot < slots; slot++) {
    const want = model.get(slot);
    assert.equal(arena.has(slot), want !== undefined, `slot ${slot}`);
    if (want === undefined) assert.throws(() => arena.bytes(slot), RangeError);
    else assert.equal(hex(arena.bytes(slot)), hex(want), `slot ${slot}`);
    live += want?.length ?? 0;
  }
  assert.equal(arena.liveBytes, live);
  // Garbage is reclaimed once it outgrows the live bytes and a chunk fills, so what the chunks
  // hold stays within twice the live bytes, plus the current chunk and one over-sized pair.
  assert.ok(arena.garbageBytes >= 0);
  assert.ok(arena.allocatedBytes <= 2 * live + 3 * Math.max(chunkBytes, largest), `${arena.allocatedBytes} bytes held for ${live} live`);
}

describe('app/pair-arena', () => {
  it('reads back every pair through any history of puts and drops, across chunk changes and compactions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.array(arbOp(24, 40), { maxLength: 300 }), (chunkBytes, ops) => {
        const arena = new PairArena(chunkBytes);
        const model = new Map<number, Uint8Array>();
        let largest = 0;
        for (const op of ops) {
          if (op.kind === 'put') {
            arena.put(op.slot, op.key, op.value);
            const pair = new Uint8Array([...op.key, ...op.value]);
            model.set(op.slot, pair);
            largest = Math.max(largest, pair.length);
            // The arena copied the inputs: the caller may reuse them.
            op.key.fill(0xaa);
            op.value.fill(0xbb);
          } else {
            arena.drop(op.slot);
            model.delete(op.slot);
          }
          assertMatches(arena, model, 24, chunkBytes, largest);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('compacts chunks that long-lived pairs keep alive among overwritten ones, keeping what it holds near the live bytes', () => {
    // Each round overwrites slots 0..49 and adds one pair that stays (slot 50 + round): every
    // chunk keeps a live pair, so no chunk is ever freed whole, and only compaction reclaims.
    const arena = new PairArena(256);
    const model = new Map<number, Uint8Array>();
    const put = (slot: number, value: Uint8Array) => {
      arena.put(slot, Uint8Array.of(slot), value);
      model.set(slot, new Uint8Array([slot, ...value]));
    };
    // An empty pair lives in no chunk, and compaction must leave it be.
    arena.put(95, new Uint8Array(0), new Uint8Array(0));
    model.set(95, new Uint8Array(0));
    for (let round = 0; round < 40; round++) {
      for (let slot = 0; slot < 50; slot++) put(slot, new Uint8Array((slot + round) % 23).fill(round));
      put(50 + round, new Uint8Array(5).fill(round));
      assertMatches(arena, model, 96, 256, 24);
    }
    assert.ok(arena.compactions > 0, 'fragmented garbage must trigger compactions');
  });

  it('compacts only sparse chunks: a dense chunk\'s pairs stay where they are', () => {
    const arena = new PairArena(64);
    // Chunk A: four 16-byte pairs that stay, filling it.
    for (let slot = 0; slot < 4; slot++) arena.put(slot, new Uint8Array(8).fill(slot), new Uint8Array(8));
    const dense = arena.bytes(0).buffer;
    // Then chunks of one 56-byte pair that is soon replaced and one 8-byte pair that stays.
    arena.put(30, Uint8Array.of(30), new Uint8Array(7));
    const sparse = arena.bytes(30).buffer;
    for (let round = 0; round < 8 && arena.compactions === 0; round++) {
      arena.put(20, Uint8Array.of(20), new Uint8Array(55).fill(round));
      arena.put(31 + round, Uint8Array.of(31 + round), new Uint8Array(7));
    }
    assert.equal(arena.compactions, 1);
    assert.equal(arena.bytes(0).buffer, dense, 'the dense chunk was left in place');
    assert.notEqual(arena.bytes(30).buffer, sparse, 'a sparse chunk\'s pair moved');
    assert.deepEqual(arena.bytes(3), new Uint8Array([...new Uint8Array(8).fill(3), ...new Uint8Array(8)]));
  });

  it('frees a chunk whose pairs are all gone, without a compaction', () => {
    const arena = new PairArena(16);
    for (let slot = 0; slot < 8; slot++) arena.put(slot, new Uint8Array(4).fill(slot), new Uint8Array(4));
    const before = arena.allocatedBytes;
    // Slots 0 and 1 share the first chunk (8 bytes each in a 16-byte chunk, after the 4 KiB cap is
    // cut to 16): dropping both frees it.
    arena.drop(0);
    arena.drop(1);
    assert.equal(arena.allocatedBytes, before - 16);
    assert.equal(arena.compactions, 0);
    assert.equal(arena.garbageBytes, 0);
  });

  it('frees the chunk it leaves when nothing in it is live any more', () => {
    const arena = new PairArena(16);
    // Two full chunks stay live; a third fills and then loses both its pairs while current.
    for (let slot = 10; slot < 14; slot++) arena.put(slot, new Uint8Array(4).fill(slot), new Uint8Array(4));
    arena.put(0, new Uint8Array(8), new Uint8Array(0));
    arena.put(1, new Uint8Array(8), new Uint8Array(0));
    arena.drop(0);
    arena.drop(1);
    assert.equal(arena.allocatedBytes, 48);
    // Garbage (16 bytes) is below the live bytes (32): the next pair opens a chunk rather than
    // compacting, and the dead one it leaves goes.
    arena.put(2, new Uint8Array(8), new Uint8Array(0));
    assert.equal(arena.compactions, 0);
    assert.equal(arena.allocatedBytes, 48);
    assert.equal(arena.garbageBytes, 0);
  });

  it('keeps empty pairs, and refuses a slot that is not a non-negative integer', () => {
    const arena = new PairArena();
    arena.put(3, new Uint8Array(0), new Uint8Array(0));
    assert.equal(arena.has(3), true);
    assert.equal(arena.bytes(3).length, 0);
    arena.put(3, Uint8Array.of(1), Uint8Array.of(2));
    assert.deepEqual(arena.bytes(3), Uint8Array.of(1, 2));
    arena.drop(3);
    assert.equal(arena.has(3), false);
    assert.equal(arena.liveBytes, 0);
    // Slots far past the first thousand: the ones in between hold nothing.
    arena.put(5000, Uint8Array.of(7), new Uint8Array(0));
    assert.deepEqual(arena.bytes(5000), Uint8Array.of(7));
    for (const empty of [1024, 2047, 4999, 5001]) assert.equal(arena.has(empty), false, `slot ${empty}`);
    for (const bad of [-1, 1.5, Number.NaN]) {
      assert.throws(() => arena.put(bad, Uint8Array.of(1), Uint8Array.of(1)), RangeError);
      assert.throws(() => arena.bytes(bad), RangeError);
      assert.equal(arena.has(bad), false);
      arena.drop(bad); // nothing to drop, and the counts stay numbers
    }
    assert.equal(arena.liveBytes, 1);
    assert.equal(arena.garbageBytes, 2);
    assert.throws(() => new PairArena(0), RangeError);
  });
});
