import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDirPerTest } from '../config/fixtures.js';
import { makeDirectories } from '../../../node/storage/directories.js';

const MODULE = fileURLToPath(new URL('../../../node/storage/directories.js', import.meta.url));

describe('storage: makeDirectories (mkdir -p, bounded)', () => {
  const root = tempDirPerTest('vsmr-dirs-');

  it('creates every missing level with the mode asked, and leaves an existing directory be', async () => {
    const deep = join(root(), 'a', 'b', 'c');
    makeDirectories(deep, 0o700);
    for (const dir of [join(root(), 'a'), join(root(), 'a', 'b'), deep]) assert.equal((await stat(dir)).mode & 0o777, 0o700);
    makeDirectories(deep);
    assert.ok((await stat(deep)).isDirectory());
  });

  it('refuses a path through a file, naming the file', async () => {
    await writeFile(join(root(), 'f'), 'x');
    assert.throws(() => makeDirectories(join(root(), 'f', 'sub')), (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR' && err.path === join(root(), 'f'));
  });

  it('fails, instead of spinning, where the kernel refuses the name under a directory that exists', function () {
    // Node's own recursive mkdir never returns here (it loops between the name and its parent),
    // so the call runs in a child process that a timeout can stop, not in this one.
    if (process.platform !== 'linux') this.skip();
    const script = `import { makeDirectories } from ${JSON.stringify(MODULE)};\ntry { makeDirectories('/proc/vsmr-no-such-dir/data'); console.log('made'); } catch (err) { console.log(err.code); }\n`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.signal, null, 'it returned instead of spinning until the timeout');
    assert.equal(r.stdout.trim(), 'ENOENT');
  });
});
