import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { BLS_BACKEND_NAMES, blsBackend } from '../../crypto/bls/index.js';
import { runBlsVectors } from '../../crypto/bls/vectors.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..', '..');
/** The shared Ethereum-format vectors sit beside the repository (see DESIGN.md). */
const SHARED = process.env.VSMR_BLS_VECTORS ?? resolve(ROOT, '..', 'shared', 'vectors', 'bls-eth');
const CLI = join(ROOT, 'bin', 'vsmr.js');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('BLS conformance vectors', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'vsmr-vectors-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  for (const name of BLS_BACKEND_NAMES) {
    it(`${name} passes every shared case`, async () => {
      const report = await runBlsVectors(SHARED, blsBackend(name));
      assert.deepEqual(report.failures, []);
      assert.ok(report.passed >= 43, `only ${report.passed} cases found in ${SHARED}`);
    });

    it(`${name}: the CLI prints one line per failing case and exits 1 when a case is wrong`, async () => {
      const dir = join(scratch, `mutated-${name}`);
      await cp(SHARED, dir, { recursive: true });
      // Claim a valid signature is invalid, and corrupt one expected aggregate.
      const verifyCase = join(dir, 'verify', 'verify_valid_case_195246ee3bd3b6ec.json');
      const doc = JSON.parse(await readFile(verifyCase, 'utf8'));
      doc.output = false;
      await writeFile(verifyCase, JSON.stringify(doc));
      const aggCase = join(dir, 'aggregate', 'aggregate_single_signature.json');
      const agg = JSON.parse(await readFile(aggCase, 'utf8'));
      agg.output = `${agg.output.slice(0, -2)}00`;
      await writeFile(aggCase, JSON.stringify(agg));
      await writeFile(join(dir, 'sign', 'broken.json'), '{"input": ');
      await writeFile(join(dir, 'sign', 'notes.txt'), 'ignored: not a case file');

      const { code, stdout } = await cli(['crypto', 'vectors', dir, '--backend', name]);
      const lines = stdout.trim().split('\n');
      assert.equal(code, 1);
      assert.equal(lines.at(-1), '41 passed, 3 failed');
      assert.equal(lines.filter((l) => l.startsWith('FAIL ')).length, 3);
      assert.ok(lines.some((l) => l.includes('verify_valid_case_195246ee3bd3b6ec.json')));
    });
  }

  it('the CLI exits 0 on the shared vectors and 1 on a directory with no cases', async () => {
    const ok = await cli(['crypto', 'vectors', SHARED]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout.trim().split('\n').at(-1)!, /^\d+ passed, 0 failed$/);
    const empty = await cli(['crypto', 'vectors', scratch, '--backend', 'noble']);
    assert.equal(empty.code, 1);
    assert.equal(empty.stdout.trim(), '0 passed, 0 failed');
    assert.match(empty.stderr, /no cases found in .* \(expected folders sign, verify/);
    assert.equal(ok.stderr, '');
    const missing = await cli(['crypto', 'vectors', join(scratch, 'nope')]);
    assert.equal(missing.code, 2);
    const badBackend = await cli(['crypto', 'vectors', SHARED, '--backend', 'openssl']);
    assert.equal(badBackend.code, 2);
  });
});
