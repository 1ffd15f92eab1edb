/**
 * State tree cost per block: a tree of n keys (KV-shaped: namespace byte + 16 random bytes,
 * 32-byte values), then rounds of 400 new keys each followed by root(), as in the end-to-end
 * benchmark where every command puts a new key. Prints the median time of the 400 sets and of
 * root(), the sustained cost per key over many more blocks (garbage collection included, which
 * a median of a few blocks misses), plus a state proof's size and verification time. Not part of
 * `npm run bench`; run it with `npm run bench:state-tree [-- --quick]`.
 */
import { randomBytes } from 'node:crypto';
import { encodeStateProof, verifyStateProof } from '../protocol/state-proof.js';
import { StateTree } from '../node/app/state-tree.js';
import { measure } from './harness.js';

const quick = process.argv.includes('--quick');
const sizes = quick ? [10_000] : [10_000, 100_000];
const rounds = quick ? 5 : 15;
/** Blocks of the sustained run, after the measured rounds. */
const sustainedBlocks = quick ? 20 : 250;
const PER_BLOCK = 400;
const CHAIN = 'vsmr-bench';

const newKey = () => {
  const k = randomBytes(17);
  k[0] = 0;
  return new Uint8Array(k);
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const rows = sizes.map((n) => {
  const tree = new StateTree(CHAIN);
  for (let i = 0; i < n; i++) tree.set(newKey(), new Uint8Array(randomBytes(32)));
  let t = performance.now();
  tree.root();
  const buildMs = performance.now() - t;
  const setMs: number[] = [];
  const rootMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const keys = Array.from({ length: PER_BLOCK }, newKey);
    t = performance.now();
    for (const k of keys) tree.set(k, new Uint8Array(randomBytes(32)));
    setMs.push(performance.now() - t);
    t = performance.now();
    tree.root();
    rootMs.push(performance.now() - t);
  }
  const blocks = Array.from({ length: sustainedBlocks }, () => Array.from({ length: PER_BLOCK }, () => [newKey(), new Uint8Array(randomBytes(32))] as const));
  t = performance.now();
  for (const block of blocks) {
    for (const [k, v] of block) tree.set(k, v);
    tree.root();
  }
  const sustainedUsPerKey = ((performance.now() - t) * 1000) / (sustainedBlocks * PER_BLOCK);
  const [someKey] = tree.entries().next().value!;
  const root = tree.root();
  const proof = tree.prove(someKey);
  const verify = measure(() => verifyStateProof(CHAIN, root, someKey, proof), { minMs: quick ? 100 : 500, minIterations: 20 });
  return {
    keys: n,
    firstRootMs: Number(buildMs.toFixed(1)),
    [`set${PER_BLOCK}MedianMs`]: Number(median(setMs).toFixed(2)),
    [`rootAfter${PER_BLOCK}MedianMs`]: Number(median(rootMs).toFixed(2)),
    [`sustainedUsPerKey${sustainedBlocks}Blocks`]: Number(sustainedUsPerKey.toFixed(1)),
    proofDepth: proof.siblings.length,
    proofBytes: encodeStateProof(proof).length,
    verifyMs: Number(verify.msPerOp.toFixed(4)),
  };
});
console.table(rows);
