/**
 * Child process of durability.test.ts (not a test itself): opens the store in argv[2], then
 * forever appends the next block and stores a safety state that voted for it, printing
 * "durable <height>" after both writes have returned. Every other step makes the two writes in
 * one durable group (NodeStore.durably), the way the runtime's consensus steps do. The parent
 * kills it with SIGKILL and checks that every reported step survived.
 */
import { NodeStore } from '../../../node/storage/lmdb-store.js';
import { CHAIN_ID, executedFor, nextBlock, qcFor, votedFor } from './fixtures.js';

const dir = process.argv[2];
const limit = Number(process.argv[3] ?? '1000000');
if (dir === undefined) throw new Error('usage: durability-child DIR [LIMIT]');

const store = NodeStore.open(dir, { chainId: CHAIN_ID });
const safety = store.safetyStorage();
let parent = store.block(store.committedHeight());
process.stdout.write(`open ${store.committedHeight()}\n`);
for (let i = 0; i < limit; i++) {
  const block = nextBlock(CHAIN_ID, parent);
  const step = () => {
    store.appendCommitted(block, executedFor(block), qcFor(block));
    safety.store(votedFor(block));
  };
  if (i % 2 === 1) store.durably(step);
  else step();
  // Pipes are synchronous on Linux, so this line is out before the next write starts.
  process.stdout.write(`durable ${block.height}\n`);
  parent = block;
}
await store.close();
