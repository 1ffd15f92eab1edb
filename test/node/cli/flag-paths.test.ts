import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, tempDirPerTest } from '../config/fixtures.js';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'bin', 'vsmr.js');

async function vsmr(cwd: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { cwd }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
}

function assertRefused(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit 2; stderr: ${r.stderr}`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), pattern);
}

describe('CLI: paths given by flags that the file system refuses (exit 2, naming the flag)', () => {
  const dir = tempDirPerTest('vsmr-flag-paths-');

  it('an output directory through a file: genesis --out, keygen --out, client submit --proofs', async () => {
    await writeFile(join(dir(), 'file'), 'x');
    assertRefused(await vsmr(dir(), 'genesis', '--validators', '1', '--out', 'file/net'), /^vsmr genesis: --out file\/net: cannot create directory \/.*\/file: a file is in the way$/);
    assertRefused(await vsmr(dir(), 'keygen', '--out', 'file/sub/k.json'), /^vsmr keygen: --out file\/sub\/k\.json: cannot create directory \/.*\/file: a file is in the way$/);
    assert.equal((await vsmr(dir(), 'genesis', '--validators', '1', '--out', 'net')).code, 0);
    assertRefused(
      await vsmr(dir(), 'client', 'submit', '--genesis', 'net/genesis.json', '--count', '1', '--proofs', 'file'),
      /^vsmr client submit: --proofs file: cannot create directory \/.*\/file: a file is in the way$/,
    );
  });

  it('client cert --out that could not be written is refused before any replica is asked', async () => {
    await writeFile(join(dir(), 'file'), 'x');
    await mkdir(join(dir(), 'adir'));
    assert.equal((await vsmr(dir(), 'genesis', '--validators', '1', '--out', 'net')).code, 0);
    const cert = (out: string) => vsmr(dir(), 'client', 'cert', '--genesis', 'net/genesis.json', '--height', '1', '--out', out);
    // No validator runs: a check made after the query would fail on the query instead (exit 1).
    assertRefused(await cert('adir'), /^vsmr client cert: --out adir: is a directory, expected a file$/);
    assertRefused(await cert('missing/b.json'), /^vsmr client cert: --out missing\/b\.json: no directory missing$/);
    assertRefused(await cert('file/b.json'), /^vsmr client cert: --out file\/b\.json: file is not a directory$/);
  });
});
