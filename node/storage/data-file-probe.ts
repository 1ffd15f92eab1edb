/**
 * Run as a child process by data-file.ts: opens the LMDB store in the directory given read-only
 * and reads every table and every value in it, so that every page the trees reach is touched.
 * A page missing from the file kills this process (SIGBUS), not the validator; an error LMDB
 * reports ends it with status 1 and the message on stderr.
 */
import { open } from 'lmdb';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: data-file-probe <data dir>\n');
  process.exit(2);
}
try {
  const root = open<Uint8Array, Uint8Array>({ path: dir, readOnly: true, encoding: 'binary', keyEncoding: 'binary', maxDbs: 64, cache: false });
  // The unnamed database's keys are the named tables (and nothing else, in a vsmr store).
  const names: string[] = [];
  for (const { key } of root.getRange({})) names.push(new TextDecoder().decode(key as Uint8Array));
  let values = 0;
  let bytes = 0;
  for (const name of names) {
    const table = root.openDB<Uint8Array, Uint8Array>(name, { encoding: 'binary', keyEncoding: 'binary', cache: false });
    for (const { value } of table.getRange({})) {
      values++;
      bytes += value.length;
    }
  }
  await root.close();
  process.stdout.write(`${names.length} tables, ${values} values, ${bytes} bytes\n`);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
