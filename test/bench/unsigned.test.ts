import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseNodeConfig } from '../../node/config/node-config.js';
import { ConfigError } from '../../protocol/config-error.js';
import { encodeRequest, REQUEST_SIGNATURE_BYTES } from '../../protocol/request.js';
import { validateRequest } from '../../validation/stateless.js';
import { ValidationPool } from '../../validation/pool.js';
import { REPO_ROOT } from '../node/config/fixtures.js';
import { CHAIN, client, put } from '../validation/fixtures.js';
import { encodeCommand } from '../../protocol/command.js';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'bin', 'vsmr.js');

/** A well-formed request whose signature is all zeros: what the unsigned benchmark sends. */
function unsignedRequest(seq: number): Uint8Array {
  return encodeRequest({
    chainId: CHAIN,
    clientKey: client(0).publicKey,
    sequence: BigInt(seq),
    expiry: 1000n,
    command: encodeCommand(put(seq)),
    signature: new Uint8Array(REQUEST_SIGNATURE_BYTES),
  });
}

describe('unsafe unsigned mode (benchmarks only)', () => {
  it('the stateless check rejects a zero signature unless told to skip signatures', () => {
    const bytes = unsignedRequest(1);
    assert.equal(validateRequest(bytes, { chainId: CHAIN, height: 0 }).kind, 'reject');
    assert.equal(validateRequest(bytes, { chainId: CHAIN, height: 0, unsafeSkipSignatures: true }).kind, 'accept');
    // Skipping signatures skips nothing else: a wrong chain is still refused.
    assert.equal(validateRequest(bytes, { chainId: 'other-chain', height: 0, unsafeSkipSignatures: true }).kind, 'reject');
    const sameLength = CHAIN.slice(0, -1) + (CHAIN.endsWith('X') ? 'Y' : 'X');
    assert.equal(validateRequest(bytes, { chainId: sameLength, height: 0, unsafeSkipSignatures: true }).kind, 'reject', 'a chain id of the same length');
  });

  it('the unsafe pool checks every request in place (workers always check signatures); the safe pool rejects a zero signature either way', async () => {
    const reqs = [unsignedRequest(2), unsignedRequest(3)];
    // inlineUpTo 0: a safe pool sends both requests to the worker; 2: both are checked in place.
    for (const inlineUpTo of [0, 2]) {
      const safe = new ValidationPool({ chainId: CHAIN, workers: 1, cacheSize: 0, inlineUpTo });
      const unsafe = new ValidationPool({ chainId: CHAIN, workers: 1, cacheSize: 0, inlineUpTo, unsafeSkipSignatures: true });
      try {
        assert.deepEqual((await safe.validate(reqs, 0)).map((v) => v.kind), ['reject', 'reject'], `inlineUpTo ${inlineUpTo}`);
        assert.equal(safe.stats().tasksDispatched > 0, inlineUpTo === 0, `inlineUpTo ${inlineUpTo}: where the safe check ran`);
        assert.deepEqual((await unsafe.validate(reqs, 0)).map((v) => v.kind), ['accept', 'accept'], `inlineUpTo ${inlineUpTo}`);
        assert.equal(unsafe.stats().tasksDispatched, 0, `inlineUpTo ${inlineUpTo}: the unsafe check ran in place`);
      } finally {
        await safe.close();
        await unsafe.close();
      }
    }
  });

  it('config.unsafeUnsignedRequests defaults to false and must be a boolean', () => {
    const base = { version: 1, index: 0, listen: '/ip4/127.0.0.1/tcp/26600', metricsPort: 26700 };
    assert.equal(parseNodeConfig(base, '/tmp/h').unsafeUnsignedRequests, false);
    assert.equal(parseNodeConfig({ ...base, unsafeUnsignedRequests: true }, '/tmp/h').unsafeUnsignedRequests, true);
    assert.throws(() => parseNodeConfig({ ...base, unsafeUnsignedRequests: 'yes' }, '/tmp/h'), (e: unknown) => e instanceof ConfigError && e.message.includes('config.unsafeUnsignedRequests'));
  });

  it('vsmr start refuses an unsigned config without --unsafe-unsigned', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vsmr-unsigned-'));
    let child: ChildProcess | undefined;
    try {
      const basePort = 20_000 + Math.floor(Math.random() * 11_000);
      await run(process.execPath, [CLI, 'genesis', '--validators', '1', '--out', dir, '--base-port', String(basePort)]);
      const configPath = join(dir, 'node-0', 'config.json');
      const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
      await writeFile(configPath, JSON.stringify({ ...config, unsafeUnsignedRequests: true }));
      const started = spawn(process.execPath, [CLI, 'start', '--home', join(dir, 'node-0')], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      let stderr = '';
      started.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      // A validator that did start would run until stopped: the deadline turns that into a failure.
      const code = await new Promise<number | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 60_000);
        started.once('exit', (c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
      assert.equal(code, 2, `expected exit 2, got ${code}; stderr: ${stderr}`);
      assert.match(stderr, /config\.unsafeUnsignedRequests.*--unsafe-unsigned/);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
