/**
 * Run as a child by data-file.test.ts: opens the LMDB store in the directory given with LMDB
 * alone, as a validator's store is opened (no overlappingSync), and commits writes that take
 * pages from the free list and add new ones. A page missing from the file kills it (SIGBUS),
 * which is what the test looks for.
 */
import { open } from 'lmdb';

const dir = process.argv[2]!;
const env = open<Uint8Array, Uint8Array>({ path: dir, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, cache: false });
for (const name of ['blocks', 'meta', 't']) {
  const table = env.openDB<Uint8Array, Uint8Array>(name, { encoding: 'binary', keyEncoding: 'binary', cache: false });
  for (const _ of table.getRange({})) {
    // every value read: the pages a reader reaches
  }
  for (let t = 0; t < 20; t++) {
    table.transactionSync(() => {
      for (let i = 0; i < 20; i++) table.putSync(new Uint8Array([0xee, t, i]), new Uint8Array(i % 5 === 0 ? 9000 : 300).fill(t));
    });
  }
}
await env.close();
process.stdout.write('ok\n');
