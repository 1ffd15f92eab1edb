import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createConnection } from 'node:net';
import { once } from 'node:events';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDirPerTest } from '../config/fixtures.js';
import { claimDataDir, claimValidatorKey, DataDirInUseError, ValidatorKeyInUseError } from '../../../node/runtime/single-instance.js';
import { StorageOpenError } from '../../../node/storage/lmdb-store.js';

const MODULE = fileURLToPath(new URL('../../../node/runtime/single-instance.js', import.meta.url));

describe('runtime: one process per data directory and per validator key', function () {
  this.timeout(30_000);
  const root = tempDirPerTest('vsmr-dir-lock-');

  it('refuses a second claim, naming the holder, until the first is released', async () => {
    const dir = join(root(), 'data');
    const first = await claimDataDir(dir);
    assert.equal(first.held, true);
    const refused = await claimDataDir(dir).then(
      () => assert.fail('a second claim was granted'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof DataDirInUseError, String(refused));
    assert.equal(refused.holder, process.pid);
    assert.match(refused.message, new RegExp(`in use by process ${process.pid}`));
    await first.release();
    const again = await claimDataDir(dir);
    await again.release();
  });

  it('names the directory by its inode: a symlink to it is the same directory, another directory is not', async () => {
    const dir = join(root(), 'data');
    const lock = await claimDataDir(dir);
    try {
      await symlink(dir, join(root(), 'alias'));
      await assert.rejects(claimDataDir(join(root(), 'alias')), DataDirInUseError);
      const other = await claimDataDir(join(root(), 'other'));
      await other.release();
    } finally {
      await lock.release();
    }
  });

  it('is free again the moment its holder is killed (no stale lock after kill -9)', async () => {
    const dir = join(root(), 'data');
    // A child process claims the directory and says so; this process then kills it outright.
    const script = `import { claimDataDir } from ${JSON.stringify(MODULE)};\nawait claimDataDir(${JSON.stringify(dir)});\nprocess.stdout.write('held\\n');\nsetInterval(() => {}, 1000);\n`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
      assert.equal(line.trim(), 'held');
      const refused = await claimDataDir(dir).then(
        () => assert.fail('claimed while the child held it'),
        (err: unknown) => err,
      );
      assert.ok(refused instanceof DataDirInUseError);
      assert.equal(refused.holder, child.pid);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    const lock = await claimDataDir(dir);
    await lock.release();
  });

  it('a path that cannot be a directory is a StorageOpenError, not a crash', async () => {
    const file = join(root(), 'file');
    await writeFile(file, 'x');
    await assert.rejects(claimDataDir(join(file, 'data')), StorageOpenError);
  });

  it('claims nothing where the platform has no abstract sockets, and says so', async () => {
    const lock = await claimDataDir(join(root(), 'data'), 'darwin');
    assert.equal(lock.held, false);
    const second = await claimDataDir(join(root(), 'data'), 'darwin');
    assert.equal(second.held, false);
  });

  it('refuses a second process on a validator key, wherever its home is, and a connected visitor does not hold up the release', async () => {
    const peerId = '12D3KooWQ3UxkEDssZWt6xre57kbyJDMnBT55DHBWe81H8GpQDDi';
    const first = await claimValidatorKey('chain-a', peerId);
    const other = await claimValidatorKey('chain-b', peerId);
    const refused = await claimValidatorKey('chain-a', peerId).then(
      () => assert.fail('a second claim on the key was granted'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof ValidatorKeyInUseError, String(refused));
    assert.match(refused.message, new RegExp(`validator ${peerId} of chain chain-a is already running on this host, as process ${process.pid}`));
    // Someone connects to the claim and never reads: the release must not wait on them.
    const key = createHash('sha256').update(`chain-a\0${peerId}`).digest('hex');
    const visitor = createConnection({ path: `\0vsmr/validator/${key}` });
    await once(visitor, 'connect');
    await first.release();
    visitor.destroy();
    const again = await claimValidatorKey('chain-a', peerId);
    await Promise.all([again.release(), other.release()]);
  });
});
