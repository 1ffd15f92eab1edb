import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HashInputError, sha256Noble } from '../../crypto/hash.js';
import { PAIR_BYTES, sha256PairsBackend, sha256PairsInto, sha256PairsIntoPortable } from '../../crypto/sha256-pairs.js';

/** The reference: pure-JS SHA-256 of each 64-byte input on its own. */
function reference(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length / 2);
  for (let i = 0; i < input.length / PAIR_BYTES; i++) out.set(sha256Noble(input.subarray(i * PAIR_BYTES, (i + 1) * PAIR_BYTES)), i * 32);
  return out;
}

describe('sha256PairsInto (a Merkle level in one call)', () => {
  it('loads the native multi-buffer backend on this machine', () => {
    // Linux x64 is a platform @chainsafe/hashtree ships a binary for; a silent fallback here
    // would leave the tree on the slow path with nothing else noticing.
    if (process.platform === 'linux' && process.arch === 'x64') assert.equal(sha256PairsBackend, 'hashtree');
    else assert.ok(sha256PairsBackend === 'hashtree' || sha256PairsBackend === 'sodium');
  });

  it('gives SHA-256 of every 64-byte input, on both backends, for any count and any window of a larger buffer', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 63 }), fc.integer(), (count, offset, seed) => {
        const backing = new Uint8Array(offset + count * PAIR_BYTES + 7);
        for (let i = 0; i < backing.length; i++) backing[i] = (seed + i * 131) & 0xff;
        const input = backing.subarray(offset, offset + count * PAIR_BYTES);
        const expected = reference(input);
        for (const run of [sha256PairsInto, sha256PairsIntoPortable]) {
          const outBacking = new Uint8Array(count * 32 + 5);
          const out = outBacking.subarray(3, 3 + count * 32);
          run(input, out);
          assert.deepEqual(out, expected);
          // Nothing outside the output window is written.
          assert.deepEqual([...outBacking.subarray(0, 3), ...outBacking.subarray(3 + count * 32)], [0, 0, 0, 0, 0]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses inputs that are not whole pairs and outputs of the wrong size', () => {
    for (const run of [sha256PairsInto, sha256PairsIntoPortable]) {
      assert.throws(() => run(new Uint8Array(63), new Uint8Array(32)), HashInputError);
      assert.throws(() => run(new Uint8Array(128), new Uint8Array(32)), HashInputError);
      assert.throws(() => run(new Uint8Array(64), new Uint8Array(64)), HashInputError);
      // Windows of one buffer: refused where they overlap, hashed where they do not.
      const shared = new Uint8Array(192).fill(7);
      assert.throws(() => run(shared.subarray(0, 128), shared.subarray(96, 160)), /overlaps/);
      run(shared.subarray(0, 128), shared.subarray(128, 192));
      assert.deepEqual(shared.subarray(128, 192), reference(new Uint8Array(128).fill(7)));
    }
  });
});
