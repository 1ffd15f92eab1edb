import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataDirInUseError, lockDataDir } from '../../../node/storage/data-dir-lock.js';
import { StorageOpenError } from '../../../node/storage/lmdb-store.js';

const LOCK_MODULE = fileURLToPath(new URL('../../../node/storage/data-dir-lock.js', import.meta.url));

describe('storage: one process per data directory', function () {
  this.timeout(30_000);
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'vsmr-dir-lock-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a second claim, naming the holder, until the first is released', async () => {
    const dir = join(root, 'data');
    const first = await lockDataDir(dir);
    assert.equal(first.held, true);
    const refused = await lockDataDir(dir).then(
      () => assert.fail('a second claim was granted'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof DataDirInUseError, String(refused));
    assert.equal(refused.holder, process.pid);
    assert.match(refused.message, new RegExp(`in use by process ${process.pid}`));
    await first.release();
    const again = await lockDataDir(dir);
    await again.release();
  });

  it('names the directory by its inode: a symlink to it is the same directory, another directory is not', async () => {
    const dir = join(root, 'data');
    const lock = await lockDataDir(dir);
    try {
      await symlink(dir, join(root, 'alias'));
      await assert.rejects(lockDataDir(join(root, 'alias')), DataDirInUseError);
      const other = await lockDataDir(join(root, 'other'));
      await other.release();
    } finally {
      await lock.release();
    }
  });

  it('is free again the moment its holder is killed (no stale lock after kill -9)', async () => {
    const dir = join(root, 'data');
    // A child process claims the directory and says so; this process then kills it outright.
    const script = `import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};\nawait lockDataDir(${JSON.stringify(dir)});\nprocess.stdout.write('held\\n');\nsetInterval(() => {}, 1000);\n`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
      assert.equal(line.trim(), 'held');
      const refused = await lockDataDir(dir).then(
        () => assert.fail('claimed while the child held it'),
        (err: unknown) => err,
      );
      assert.ok(refused instanceof DataDirInUseError);
      assert.equal(refused.holder, child.pid);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    const lock = await lockDataDir(dir);
    await lock.release();
  });

  it('a path that cannot be a directory is a StorageOpenError, not a crash', async () => {
    const file = join(root, 'file');
    await writeFile(file, 'x');
    await assert.rejects(lockDataDir(join(file, 'data')), StorageOpenError);
  });

  it('claims nothing where the platform has no abstract sockets, and says so', async () => {
    const lock = await lockDataDir(join(root, 'data'), 'darwin');
    assert.equal(lock.held, false);
    const second = await lockDataDir(join(root, 'data'), 'darwin');
    assert.equal(second.held, false);
  });
});
