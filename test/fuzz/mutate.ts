import { Prng } from '../../sim/prng.js';

/**
 * Small-scope byte mutations, seeded so a failing case replays: 1-4 edits, each a bit flip, a
 * byte set to 0x00/0xff/random, a truncation, an insertion, a duplicated slice or a length-like
 * field (a u32 at a random offset) set to a huge value.
 */
export function mutateBytes(input: Uint8Array, seed: number): Uint8Array {
  const rng = new Prng(seed, 0xf022);
  let b = Uint8Array.from(input);
  const edits = rng.int(1, 4);
  for (let k = 0; k < edits; k++) {
    const at = b.length === 0 ? 0 : rng.int(0, b.length - 1);
    switch (rng.int(0, 6)) {
      case 0:
        if (b.length > 0) b[at]! ^= 1 << rng.int(0, 7);
        break;
      case 1:
        if (b.length > 0) b[at] = [0x00, 0xff, rng.int(0, 255)][rng.int(0, 2)]!;
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      case 3: {
        const ins = Uint8Array.from({ length: rng.int(1, 8) }, () => rng.int(0, 255));
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 4: {
        const end = Math.min(b.length, at + rng.int(1, 16));
        b = Uint8Array.from([...b.subarray(0, end), ...b.subarray(at, end), ...b.subarray(end)]);
        break;
      }
      case 5:
        for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = i === 0 ? 0x7f : 0xff;
        break;
      default:
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(Math.min(b.length, at + rng.int(1, 8)))]);
        break;
    }
  }
  return b;
}
