import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { cp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadGenesis, parseGenesis } from '../../../protocol/genesis.js';
import { loadNodeConfig, MAX_VALIDATION_WORKERS } from '../../../node/config/node-config.js';
import { maxValidationWorkers } from '../../../node/config/validation-workers.js';
import { KvApplication } from '../../../node/app/kv-app.js';
import { open as openLmdb } from 'lmdb';
import { KEYS, NodeStore, TABLES } from '../../../node/storage/lmdb-store.js';
import { REPO_ROOT, withTempDir } from './fixtures.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process, as an operator would. */
function vsmr(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function assertUsageError(r: Run, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('vsmr keygen and genesis (CLI)', () => {
  it('keygen on each host, then genesis --from, gives a genesis parseGenesis accepts', async () => {
    await withTempDir(async (dir) => {
      const pubs: string[] = [];
      for (let i = 0; i < 4; i++) {
        const out = join(dir, `host-${i}`, 'keys.json');
        const r = await vsmr('keygen', '--out', out, '--address', `/ip4/10.0.0.${i + 1}/tcp/26600`);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await mode(out), 0o600);
        const pub = join(dir, `host-${i}`, 'keys.pub.json');
        const pubText = await readFile(pub, 'utf8');
        const priv = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
        assert.ok(!pubText.includes(priv['blsSecretKey']!.slice(2)), 'BLS secret key in the public file');
        assert.ok(!pubText.includes(priv['libp2pPrivateKey']!.slice(2, 66)), 'libp2p key in the public file');
        assert.deepEqual(Object.keys(JSON.parse(pubText) as object).sort(), ['address', 'blsPublicKey', 'peerId', 'proofOfPossession', 'version']);
        pubs.push(pub);
      }
      const genesisFile = join(dir, 'genesis.json');
      const r = await vsmr('genesis', '--from', ...pubs, '--out', genesisFile, '--chain-id', 'multi-host-1');
      assert.equal(r.code, 0, r.stderr);
      const g = parseGenesis(await readFile(genesisFile, 'utf8'));
      assert.equal(g.chainId, 'multi-host-1');
      assert.deepEqual(g.validators.map((v) => v.address), [1, 2, 3, 4].map((i) => `/ip4/10.0.0.${i}/tcp/26600`));
      for (const [i, pub] of pubs.entries()) {
        assert.equal(g.validators[i]!.peerId, (JSON.parse(await readFile(pub, 'utf8')) as { peerId: string }).peerId);
      }
      assertUsageError(await vsmr('genesis', '--from', ...pubs, '--out', genesisFile, '--chain-id', 'multi-host-1'), /already exists; refusing to overwrite/);
      assertUsageError(await vsmr('genesis', '--from', ...pubs, '--out', `${genesisFile}.2`), /--from needs --chain-id/);
    });
  });

  it('genesis --from refuses a forged proof of possession and a duplicate, naming the public file', async () => {
    await withTempDir(async (dir) => {
      const a = join(dir, 'a.json');
      const b = join(dir, 'b.json');
      assert.equal((await vsmr('keygen', '--out', a, '--address', '/ip4/10.0.0.1/tcp/1')).code, 0);
      assert.equal((await vsmr('keygen', '--out', b, '--address', '/ip4/10.0.0.2/tcp/1')).code, 0);
      const pa = join(dir, 'a.pub.json');
      const pb = join(dir, 'b.pub.json');
      assertUsageError(await vsmr('genesis', '--from', pa, pa, '--out', join(dir, 'g.json'), '--chain-id', 'c-1'), new RegExp(`${pa}: genesis\\.validators\\[1\\]\\.peerId: duplicate peer id`));
      const docA = JSON.parse(await readFile(pa, 'utf8')) as Record<string, unknown>;
      const docB = JSON.parse(await readFile(pb, 'utf8')) as Record<string, unknown>;
      await writeFile(pb, JSON.stringify({ ...docB, proofOfPossession: docA['proofOfPossession'] }));
      assertUsageError(
        await vsmr('genesis', '--from', pa, pb, '--out', join(dir, 'g.json'), '--chain-id', 'c-1'),
        new RegExp(`${pb}: genesis\\.validators\\[1\\]\\.proofOfPossession: proof of possession does not verify`),
      );
      await writeFile(pb, JSON.stringify({ ...docB, address: undefined }));
      assertUsageError(await vsmr('genesis', '--from', pa, pb, '--out', join(dir, 'g.json'), '--chain-id', 'c-1'), new RegExp(`${pb}: pub\\.address: missing`));
      await assert.rejects(stat(join(dir, 'g.json')));
    });
  });

  it('keygen refuses to overwrite a key file and rejects a bad address, in one line with exit 2', async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'keys.json');
      assert.equal((await vsmr('keygen', '--out', out)).code, 0);
      const before = await readFile(out, 'utf8');
      assertUsageError(await vsmr('keygen', '--out', out), /keys\.json already exists; refusing to overwrite it/);
      assert.equal(await readFile(out, 'utf8'), before);
      assertUsageError(await vsmr('keygen', '--out', join(dir, 'other.json'), '--address', 'localhost:1'), /--address: not a multiaddr/);
      assertUsageError(await vsmr('keygen'), /--out/);
      await assert.rejects(stat(join(dir, 'other.json')));
    });
  });

  it('genesis --validators 4 writes 4 homes whose configs load and whose keys match the genesis', async () => {
    await withTempDir(async (dir) => {
      const net = join(dir, 'net');
      const r = await vsmr('genesis', '--validators', '4', '--out', net, '--base-port', '31000');
      assert.equal(r.code, 0, r.stderr);
      const genesis = await loadGenesis(join(net, 'genesis.json'));
      assert.equal(genesis.chainId, 'vsmr-devnet');
      const ports = new Set<number>();
      for (let i = 0; i < 4; i++) {
        const home = join(net, `node-${i}`);
        assert.equal(await mode(join(home, 'keys.json')), 0o600);
        const node = await loadNodeConfig(home);
        assert.equal(node.config.index, i);
        assert.equal(node.config.dataDir, join(home, 'data'));
        assert.equal(node.keys.peerId, genesis.validators[i]!.peerId);
        assert.deepEqual(node.keys.blsPublicKey.bytes, genesis.validators[i]!.blsPublicKey);
        assert.equal(genesis.validators[i]!.address, `/ip4/127.0.0.1/tcp/${31000 + i}`);
        assert.equal(node.config.listen, `/ip4/127.0.0.1/tcp/${31000 + i}`);
        for (const p of [31000 + i, node.config.metricsPort, node.config.statusPort!]) ports.add(p);
      }
      assert.equal(ports.size, 12, 'every port distinct');
      assertUsageError(await vsmr('genesis', '--validators', '4', '--out', net), /genesis\.json already exists; refusing to overwrite it/);
    });
  });

  it('genesis rejects bad flags with exit 2 and one line', async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'x');
      assertUsageError(await vsmr('genesis', '--validators', 'four', '--out', out), /--validators/);
      assertUsageError(await vsmr('genesis', '--validators', '0', '--out', out), /--validators/);
      assertUsageError(await vsmr('genesis', '--out', out), /exactly one of --from and --validators/);
      assertUsageError(await vsmr('genesis', '--validators', '4', '--out', out, '--chain-id', 'has space'), /--chain-id: chain id must be/);
      assertUsageError(await vsmr('genesis', '--validators', '4', '--out', out, '--base-port', '65500'), /--base-port/);
      assertUsageError(await vsmr('genesis', '--validators', '4'), /--out/);
      // The flags' ranges are the genesis parser's own, and a fund's account is what it says.
      assertUsageError(await vsmr('genesis', '--validators', '1', '--out', out, '--max-batch-bytes', '1'), /--max-batch-bytes .*\[1024, 2097152\]/);
      assertUsageError(await vsmr('genesis', '--validators', '1', '--out', out, '--base-timeout-ms', '5'), /--base-timeout-ms .*\[10, 600000\]/);
      assertUsageError(await vsmr('genesis', '--validators', '1', '--out', out, '--fund', '0xzz=5'), /--fund "0xzz=5": an account written 0x\.\.\. must be whole bytes of hex/);
      assertUsageError(await vsmr('genesis', '--validators', '1', '--out', out, '--fund', 'alice=1=2'), /--fund "alice=1=2": expected ACCOUNT=AMOUNT with one '='/);
      assertUsageError(await vsmr('genesis', '--from', join(dir, 'missing.pub.json'), '--out', out, '--chain-id', 'c-1'), /missing\.pub\.json: file not found/);
      await assert.rejects(stat(out));
      await writeFile(out, 'not a directory');
      assertUsageError(await vsmr('genesis', '--validators', '4', '--out', out), /exists and is not a directory/);
    });
  });

  it('start exits when its metrics port is taken, instead of running on without its ports, in one line naming config.metricsPort (exit 2)', async function () {
    this.timeout(60_000);
    await withTempDir(async (dir) => {
      const basePort = 20_000 + Math.floor(Math.random() * 12_000);
      const made = await vsmr('genesis', '--validators', '1', '--out', dir, '--base-port', String(basePort));
      assert.equal(made.code, 0, made.stderr);
      const config = JSON.parse(await readFile(join(dir, 'node-0', 'config.json'), 'utf8')) as { metricsPort: number };
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(config.metricsPort, '127.0.0.1', resolve));
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), 'start', '--home', join(dir, 'node-0')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      // Stopped by its PID if it does not exit by itself: that is the failure this test catches.
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
        assert.equal(signal, null, `it exited by itself (stderr: ${stderr})`);
        assertUsageError({ code, stdout: '', stderr }, /^vsmr start: config\.metricsPort: cannot listen on 127\.0\.0\.1:\d+: the address is in use .*\(EADDRINUSE\)$/);
      } finally {
        clearTimeout(killer);
        await new Promise((r) => squatter.close(r));
      }
    });
  });
  /** A home's config.json as written, to be edited and written back with writeConfig. */
  const readConfig = async (home: string) => JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as Record<string, unknown>;
  const writeConfig = (home: string, config: Record<string, unknown>) => writeFile(join(home, 'config.json'), JSON.stringify(config));

  /** One validator's home from `genesis --validators 1`, on ports no other test uses at once. */
  async function oneValidatorHome(dir: string): Promise<{ home: string; basePort: number }> {
    const basePort = 20_000 + Math.floor(Math.random() * 12_000);
    const made = await vsmr('genesis', '--validators', '1', '--out', dir, '--base-port', String(basePort));
    assert.equal(made.code, 0, made.stderr);
    return { home: join(dir, 'node-0'), basePort };
  }

  /**
   * `vsmr start` that is expected to refuse and exit: if it runs on instead (the failure these
   * tests catch), it is stopped by its PID after `limitMs` rather than left running.
   */
  async function startThatMustExit(home: string, limitMs = 30_000, flags: readonly string[] = []): Promise<Run> {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), 'start', '--home', home, ...flags], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(killer);
    return { code, stdout, stderr };
  }

  /**
   * Runs `vsmr start --home home` for as long as `body` runs, from the moment it answers status;
   * then stops it by its PID (SIGTERM, SIGKILL after 20 s) and waits for it to exit.
   */
  async function whileRunning(home: string, body: (pid: number) => Promise<void>, flags: readonly string[] = []): Promise<void> {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), 'start', '--home', home, ...flags], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 30_000;
      while ((await vsmr('status', '--home', home)).code !== 0) {
        if (Date.now() > deadline) assert.fail('the validator never answered status');
        await new Promise((r) => setTimeout(r, 200));
      }
      await body(child.pid!);
    } finally {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    }
  }

  it('a validator whose storage fails while it runs stops and exits in one line (exit 3), so that a supervisor sees it', async function () {
    this.timeout(90_000);
    await withTempDir(async (dir) => {
      // An immutable data file makes the kernel refuse LMDB's next write. Setting the attribute
      // takes root and a file system that has it: where it cannot be set there is nothing to run.
      const probe = join(dir, 'probe');
      await writeFile(probe, 'x');
      if (spawnSync('chattr', ['+i', probe]).status !== 0) this.skip();
      spawnSync('chattr', ['-i', probe]);
      const { home } = await oneValidatorHome(dir);
      const dataFile = join(home, 'data', 'data.mdb');
      const genesis = join(dir, 'genesis.json');
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vsmr.js'), 'start', '--home', home], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      try {
        const deadline = Date.now() + 30_000;
        while ((await vsmr('status', '--home', home)).code !== 0) {
          if (Date.now() > deadline) assert.fail('the validator never answered status');
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal((await vsmr('client', 'submit', '--genesis', genesis, '--count', '3')).code, 0, 'commits before the failure');
        assert.equal(spawnSync('chattr', ['+i', dataFile]).status, 0);
        await vsmr('client', 'submit', '--genesis', genesis, '--count', '3');
        // Stopped by its PID if it runs on: that is the failure this test catches.
        const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const [code, signal] = await exited;
        clearTimeout(killer);
        assert.notEqual(signal, 'SIGKILL', `it ended by itself (stderr: ${stderr})`);
        // lmdb-js, after a write the system refused, sometimes corrupts its heap and the C library
        // aborts the process (free(): invalid pointer) before the validator can say why: that
        // ends it too, which is what a supervisor needs. Otherwise the validator's line is the
        // last (LMDB's own C code writes its lines first) and the status is 3.
        if (signal === 'SIGABRT') return;
        assert.equal(signal, null, `signal ${signal}; stderr: ${stderr}`);
        assert.equal(code, 3, `exit code; stderr: ${stderr}`);
        assert.match(stderr.trimEnd().split('\n').at(-1)!, /^vsmr start: stopped on a fatal error: \S.*$/);
      } finally {
        spawnSync('chattr', ['-i', dataFile]);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
      }
    });
  });

  it("a second start on a running validator's home, or on a copy of it, is refused in one line (exit 3), and the first runs on", async function () {
    this.timeout(90_000);
    await withTempDir(async (dir) => {
      const { home } = await oneValidatorHome(dir);
      await whileRunning(home, async (first) => {
        // The same home again, and a copy of it (a backup restored beside the live one) on ports
        // and a data directory of its own: both are the same validator key.
        const copy = join(dir, 'copy');
        await cp(home, copy, { recursive: true });
        const config = await readConfig(copy);
        const spare = 20_000 + Math.floor(Math.random() * 12_000);
        await writeConfig(copy, { ...config, listen: `/ip4/127.0.0.1/tcp/${spare}`, metricsPort: spare + 1, statusPort: spare + 2, dataDir: 'data-copy' });
        for (const second of [await startThatMustExit(home), await startThatMustExit(copy)]) {
          assert.equal(second.code, 3, `exit code; stderr: ${second.stderr}`);
          const lines = second.stderr.trimEnd().split('\n');
          assert.equal(lines.length, 1, `one line on stderr, got: ${second.stderr}`);
          assert.match(lines[0]!, new RegExp(`^vsmr start: validator \\S+ of chain \\S+ is already running on this host, as process ${first};`));
        }
        assert.equal((await vsmr('status', '--home', home)).code, 0, 'the first validator still answers');
      });
    });
  });

  it("start refuses a data directory that does not hold its key's safety state (a dataDir typo, a wipe) unless told the store is lost, and follows a moved one", async function () {
    this.timeout(120_000);
    await withTempDir(async (dir) => {
      const { home } = await oneValidatorHome(dir);
      const configFile = join(home, 'config.json');
      const config = await readConfig(home);
      const useDataDir = (dataDir: string) => writeConfig(home, { ...config, dataDir });
      const record = async () => JSON.parse(await readFile(join(home, 'safety-store.json'), 'utf8')) as { storeId: string; dataDir: string };
      await whileRunning(home, async () => undefined);
      const first = await record();
      assert.equal(first.dataDir, join(home, 'data'));
      assert.match(first.storeId, /^[0-9a-f]{32}$/);

      // A typo: refused in one line naming both directories, and nothing created under its name.
      await useDataDir('dta');
      const typo = join(home, 'dta');
      assertUsageError(
        await startThatMustExit(home),
        new RegExp(`^vsmr start: ${configFile}: config\\.dataDir: ${typo} holds no store, but this validator's key last signed from store ${first.storeId} in ${join(home, 'data')}\\. .*--fresh-safety-state$`),
      );
      await assert.rejects(stat(typo), /ENOENT/);

      // The store moved (same id): followed, and recorded where it is now.
      await rename(join(home, 'data'), join(home, 'moved'));
      await useDataDir('moved');
      await whileRunning(home, async () => undefined);
      assert.deepEqual(await record(), { ...first, dataDir: join(home, 'moved') });

      // Wiped: refused; started with --fresh-safety-state it runs on a new store, recorded as the key's.
      await rm(join(home, 'moved'), { recursive: true });
      assertUsageError(await startThatMustExit(home), /config\.dataDir: .*\/moved holds no store, but/);
      await whileRunning(home, async () => undefined, ['--fresh-safety-state']);
      const fresh = await record();
      assert.notEqual(fresh.storeId, first.storeId);
      assert.equal(fresh.dataDir, join(home, 'moved'));
      // The flag is needed once: the new store is the key's now.
      await whileRunning(home, async () => undefined);
    });
  });

  it('start refuses a damaged value in one line that says what to do (exit 3)', async function () {
    this.timeout(90_000);
    await withTempDir(async (dir) => {
      const { home } = await oneValidatorHome(dir);
      await whileRunning(home, async () => undefined);
      // One bit of the ledger's bounds flipped, as a bad sector would.
      const root = openLmdb<Uint8Array, Uint8Array>({ path: join(home, 'data'), maxDbs: 8, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
      const meta = root.openDB<Uint8Array, Uint8Array>(TABLES.meta, { encoding: 'binary', keyEncoding: 'binary' });
      const value = Uint8Array.from(meta.get(KEYS.ledger)!);
      value[value.length - 1]! ^= 1;
      meta.transactionSync(() => meta.putSync(KEYS.ledger, value));
      await root.close();
      const r = await startThatMustExit(home);
      assert.equal(r.code, 3, `exit code; stderr: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
      assert.match(lines[0]!, /^vsmr start: storage corruption in table 'meta' at key 'ledger': .*; if a newer build wrote this directory, run that build on it; otherwise it is damaged: .*--fresh-safety-state \(docs\/DEPLOY\.md section 6\)$/);
    });
  });

  it('a start that fails after its host and workers are up exits (exit 3, one line) instead of hanging on them; an edited genesis is refused', async function () {
    this.timeout(120_000);
    await withTempDir(async (dir) => {
      const { home } = await oneValidatorHome(dir);
      const genesisFile = join(dir, 'genesis.json');
      // A chain that committed something, stopped cleanly.
      await whileRunning(home, async () => {
        const submitted = await vsmr('client', 'submit', '--genesis', genesisFile, '--count', '3');
        assert.equal(submitted.code, 0, submitted.stderr);
      });
      // A snapshot that does not match the ledger: the node finds out while recovering, after its
      // libp2p host listens and its validation workers run (the start's last refusal point).
      const chainId = (JSON.parse(await readFile(genesisFile, 'utf8')) as { chainId: string }).chainId;
      const store = NodeStore.open(join(home, 'data'), { chainId });
      const height = store.committedHeight();
      assert.ok(height > 0, 'something committed');
      store.saveSnapshot(height, new KvApplication({ chainId }).snapshot());
      await store.close();
      const r = await startThatMustExit(home);
      assert.equal(r.code, 3, `exit code; stderr: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`^vsmr start: cannot recover the application from the ledger: the snapshot at height ${height} does not match the executed state stored for it$`));
      // The same chain id under an edited genesis: the directory's history is not this genesis's.
      const edited = JSON.parse(await readFile(genesisFile, 'utf8')) as { consensus: Record<string, number> };
      edited.consensus['maxBatchCommands'] = 7;
      await writeFile(genesisFile, JSON.stringify(edited));
      const refused = await startThatMustExit(home);
      assert.equal(refused.code, 3, `exit code; stderr: ${refused.stderr}`);
      assert.match(refused.stderr, /^vsmr start: data directory .* was written under another genesis of this chain .*needs a new chain id and new data directories\n$/);
    });
  });

  it('start refuses a libp2p listen address that is taken in one line naming config.listen (exit 2)', async function () {
    this.timeout(60_000);
    await withTempDir(async (dir) => {
      const { home, basePort } = await oneValidatorHome(dir);
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(basePort, '127.0.0.1', resolve));
      try {
        assertUsageError(await startThatMustExit(home), /^vsmr start: config\.listen: cannot listen on \/ip4\/127\.0\.0\.1\/tcp\/\d+: the address is in use .*\(EADDRINUSE\)$/);
      } finally {
        await new Promise((r) => squatter.close(r));
      }
    });
  });

  it('start refuses more validation workers than this machine can use, before starting any (exit 2)', async function () {
    this.timeout(60_000);
    await withTempDir(async (dir) => {
      const { home } = await oneValidatorHome(dir);
      const config = await readConfig(home);
      await writeConfig(home, { ...config, validationWorkers: maxValidationWorkers() + 1 });
      // On a machine of 64 cores or more the config's own bound (256) is the lower one.
      const refusal = maxValidationWorkers() < MAX_VALIDATION_WORKERS ? `${maxValidationWorkers() + 1} is more than this machine can use` : 'expected an integer in \\[0, 256\\]';
      assertUsageError(await startThatMustExit(home), new RegExp(`config\\.validationWorkers: ${refusal}`));
      await writeConfig(home, { ...config, listen: '/ip4/127.0.0.1/tcp/1/ws' });
      assertUsageError(await startThatMustExit(home), /config\.listen: expected \/ip4\/<address>\/tcp\/<port>/);
    });
  });
});
