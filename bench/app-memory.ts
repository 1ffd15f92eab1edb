/**
 * What a replica's application keeps per committed command: the heap and off-heap bytes the
 * command log, the state tree and the whole KV application hold after applying blocks of
 * 400 128-byte puts to new keys (the end-to-end benchmark's workload), read between forced
 * garbage collections. Both structures grow with every committed command for the chain's life
 * (the state by one key, the log by one entry): these bytes set a long-running validator's
 * memory, and the heap share is what every major garbage collection walks. Slabs double when
 * full, so off-heap figures carry up to half a slab of slack; several sizes show it. Then the
 * pause of one pair-arena compaction, moving a quarter of 25 and 100 MB. Not part of
 * `npm run bench`; run it with `npm run bench:app-memory [-- --quick]`.
 */
import { createHash } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CommandLog } from '../node/app/log.js';
import { KvApplication } from '../node/app/kv-app.js';
import { PairArena } from '../node/app/pair-arena.js';
import { kvStateKey } from '../node/app/state-keys.js';
import { StateTree } from '../node/app/state-tree.js';
import { Result } from '../protocol/result.js';
import { paddedPut } from './e2e/load.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const quick = process.argv.includes('--quick');
const sizes = quick ? [20_000] : [50_000, 100_000, 200_000];
const PER_BLOCK = 400;
const COMMAND_BYTES = 128;
const CHAIN = 'vsmr-bench';

interface Usage {
  readonly heap: number;
  readonly external: number;
}

function usage(): Usage {
  gc();
  gc();
  const m = process.memoryUsage();
  // `external` already counts array buffers' backing stores.
  return { heap: m.heapUsed, external: m.external };
}

/** Bytes per command that `fill` leaves behind (the structure it returns kept alive until read). */
function retained(commands: number, fill: () => unknown): { heapBytes: number; externalBytes: number } {
  const before = usage();
  const kept = fill();
  const after = usage();
  if (kept === undefined) throw new Error('nothing was kept');
  return {
    heapBytes: Math.round((after.heap - before.heap) / commands),
    externalBytes: Math.round((after.external - before.external) / commands),
  };
}

const id = (i: number) => new Uint8Array(createHash('sha256').update(String(i)).digest());

const rows = sizes.flatMap((n) => {
  const log = retained(n, () => {
    const l = new CommandLog(CHAIN);
    for (let i = 0; i < n; i++) l.append(id(i), Result.OK);
    l.root();
    return l;
  });
  const tree = retained(n, () => {
    const t = new StateTree(CHAIN);
    for (let i = 0; i < n; i++) {
      const put = paddedPut(COMMAND_BYTES, i);
      // A put is tag, u16 key length, the 8-byte key, u16 value length, the value.
      t.set(kvStateKey(put.subarray(3, 11)), put.subarray(13));
    }
    t.root();
    return t;
  });
  const app = retained(n, () => {
    const a = new KvApplication({ chainId: CHAIN });
    for (let b = 0; b < n / PER_BLOCK; b++) a.applyBlock(Array.from({ length: PER_BLOCK }, (_, i) => paddedPut(COMMAND_BYTES, b * PER_BLOCK + i)));
    return a;
  });
  return [
    { commands: n, structure: 'command log', ...log },
    { commands: n, structure: 'state tree', ...tree },
    { commands: n, structure: `KV application (${COMMAND_BYTES}-byte puts)`, ...app },
  ];
});
console.table(rows);

/**
 * The pause a compaction takes: `liveMb` of 128-byte pairs, then three of every four dropped
 * (every chunk left sparse, garbage three times the live bytes), then one put, which opens a
 * chunk and so compacts: it moves the surviving quarter.
 */
function compactionPause(liveMb: number): { liveMbBefore: number; movedMb: number; pauseMs: number; compactions: number } {
  const arena = new PairArena();
  const pairs = Math.round((liveMb * 1e6) / COMMAND_BYTES);
  const key = new Uint8Array(9);
  const value = new Uint8Array(COMMAND_BYTES - key.length).fill(0x61);
  for (let slot = 0; slot < pairs; slot++) arena.put(slot, key, value);
  for (let slot = 0; slot < pairs; slot++) if (slot % 4 !== 0) arena.drop(slot);
  const moved = arena.liveBytes;
  // Fill the current chunk so that the next put must open one.
  let slot = pairs;
  const before = arena.compactions;
  let pauseMs = 0;
  while (arena.compactions === before) {
    const t = performance.now();
    arena.put(slot++, key, value);
    pauseMs = performance.now() - t;
  }
  return { liveMbBefore: liveMb, movedMb: Number((moved / 1e6).toFixed(1)), pauseMs: Number(pauseMs.toFixed(1)), compactions: arena.compactions };
}
console.table((quick ? [10] : [25, 100]).map(compactionPause));
