import assert from 'node:assert/strict';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { toHex } from '../../../crypto/bytes.js';
import { dealThresholdKeys } from '../../../crypto/qc/threshold.js';
import { ConfigError } from '../../../protocol/config-error.js';
import { genesisToJson, parseGenesis } from '../../../protocol/genesis.js';
import { loadNodeKeys, nodeKeysToJson, parseNodeKeys, publicFilePath } from '../../../node/config/keys.js';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_COMMANDS } from '../../../node/consensus/replica.js';
import { DEFAULT_EMPTY_PROPOSAL_HOLD_MS, loadNodeConfig, nodeConfigToJson, parseNodeConfig } from '../../../node/config/node-config.js';
import { backend, testKeys, validGenesisJson, withTempDir } from './fixtures.js';

const base = { version: 1, index: 1, listen: '/ip4/0.0.0.0/tcp/26601', metricsPort: 26701 };

function rejectsField(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.field, field, err.message);
    assert.ok(err.message.startsWith(`${field}: `) && !err.message.includes('\n'), err.message);
    return true;
  });
}

/** A home `<dir>/node-<index>` beside `<dir>/genesis.json`, holding validator `keyIndex`'s keys. */
async function writeHome(dir: string, index: number, keyIndex = index, keyMode = 0o600, thresholdShare?: Uint8Array): Promise<string> {
  const home = join(dir, `node-${index}`);
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), nodeConfigToJson({ index, listen: `/ip4/127.0.0.1/tcp/${26600 + index}`, metricsPort: 26700 + index }));
  const keys = await testKeys(keyIndex);
  const withShare = thresholdShare === undefined ? keys : { ...keys, thresholdShare: backend.secretKeyFromBytes(thresholdShare) };
  await writeFile(join(home, 'keys.json'), nodeKeysToJson(withShare), { mode: keyMode });
  await chmod(join(home, 'keys.json'), keyMode);
  return home;
}

describe('node config', () => {
  it('applies defaults, resolving paths against the home directory', () => {
    const c = parseNodeConfig(base, '/srv/vsmr/node-1');
    assert.equal(c.index, 1);
    assert.equal(c.listen, '/ip4/0.0.0.0/tcp/26601');
    assert.equal(c.dataDir, '/srv/vsmr/node-1/data');
    assert.equal(c.genesis, '/srv/vsmr/genesis.json');
    assert.equal(c.keysFile, '/srv/vsmr/node-1/keys.json');
    assert.equal(c.blsBackend, 'blst');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.statusPort, undefined);
    assert.equal(c.snapshotInterval, 1000);
    assert.equal(c.retainBlocks, 1000);
    assert.equal(c.emptyProposalHoldMs, DEFAULT_EMPTY_PROPOSAL_HOLD_MS);
    assert.equal(c.maxPendingRequests, DEFAULT_MAX_PENDING_COMMANDS);
    assert.equal(c.maxPendingBytes, DEFAULT_MAX_PENDING_BYTES);
    assert.equal(c.maxPendingPerClient, undefined, "a client's share: the runtime's default");
    assert.equal(c.validationWorkers, undefined, 'one validation worker per core, decided by the pool');
  });

  it('takes the validation workers, 0 meaning the main thread, and writes them back', () => {
    for (const workers of [0, 3]) {
      const doc = { ...base, validationWorkers: workers };
      for (const c of [parseNodeConfig(doc, '/home'), parseNodeConfig(nodeConfigToJson(doc), '/home')]) assert.equal(c.validationWorkers, workers);
    }
  });

  it('takes the mempool bounds and writes them back', () => {
    const doc = { ...base, maxPendingRequests: 100, maxPendingBytes: 2 * 1024 * 1024, maxPendingPerClient: 100 };
    for (const c of [parseNodeConfig(doc, '/home'), parseNodeConfig(nodeConfigToJson(doc), '/home')]) {
      assert.equal(c.maxPendingRequests, 100);
      assert.equal(c.maxPendingBytes, 2 * 1024 * 1024);
      assert.equal(c.maxPendingPerClient, 100);
    }
  });

  it('takes the snapshot interval and retained blocks, 0 meaning never snapshot', () => {
    const c = parseNodeConfig({ ...base, snapshotInterval: 0, retainBlocks: 5 }, '/home');
    assert.equal(c.snapshotInterval, 0);
    assert.equal(c.retainBlocks, 5);
  });

  it('takes the empty-proposal hold, 0 meaning none, and writes it back', () => {
    for (const hold of [0, 25]) {
      const c = parseNodeConfig({ ...base, emptyProposalHoldMs: hold }, '/home');
      assert.equal(c.emptyProposalHoldMs, hold);
      assert.equal(parseNodeConfig(nodeConfigToJson({ ...base, emptyProposalHoldMs: hold }), '/home').emptyProposalHoldMs, hold);
    }
  });

  it('takes paths as written, relative to home or absolute', () => {
    const c = parseNodeConfig({ ...base, dataDir: '/var/lib/vsmr', genesis: 'g.json', statusPort: 26801, blsBackend: 'noble', logLevel: 'debug' }, 'rel/home');
    assert.equal(c.dataDir, '/var/lib/vsmr');
    assert.equal(c.genesis, resolve('rel/home/g.json'));
    assert.equal(c.statusPort, 26801);
    assert.equal(c.blsBackend, 'noble');
    assert.equal(c.logLevel, 'debug');
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['unsupported version', { ...base, version: 7 }, 'config.version'],
    ['missing index', { ...base, index: undefined }, 'config.index'],
    ['negative index', { ...base, index: -1 }, 'config.index'],
    ['listen not a multiaddr', { ...base, listen: '0.0.0.0:26601' }, 'config.listen'],
    ['listen without TCP', { ...base, listen: '/ip4/0.0.0.0/udp/1' }, 'config.listen'],
    ['listen over another transport', { ...base, listen: '/ip4/0.0.0.0/tcp/1/ws' }, 'config.listen'],
    ['listen on a name', { ...base, listen: '/dns4/localhost/tcp/1' }, 'config.listen'],
    ['listen naming a peer', { ...base, listen: '/ip4/0.0.0.0/tcp/1/p2p/12D3KooWQ3UxkEDssZWt6xre57kbyJDMnBT55DHBWe81H8GpQDDi' }, 'config.listen'],
    ['metrics port out of range', { ...base, metricsPort: 70_000 }, 'config.metricsPort'],
    ['metrics port as a string', { ...base, metricsPort: '26701' }, 'config.metricsPort'],
    ['status port equal to metrics port', { ...base, statusPort: 26701 }, 'config.statusPort'],
    ['empty data dir', { ...base, dataDir: '' }, 'config.dataDir'],
    ['negative snapshot interval', { ...base, snapshotInterval: -1 }, 'config.snapshotInterval'],
    ['fractional retained blocks', { ...base, retainBlocks: 1.5 }, 'config.retainBlocks'],
    ['negative empty-proposal hold', { ...base, emptyProposalHoldMs: -1 }, 'config.emptyProposalHoldMs'],
    ['an empty-proposal hold of more than a second', { ...base, emptyProposalHoldMs: 1001 }, 'config.emptyProposalHoldMs'],
    ['a mempool of no requests', { ...base, maxPendingRequests: 0 }, 'config.maxPendingRequests'],
    ['a mempool bound as a string', { ...base, maxPendingRequests: '100' }, 'config.maxPendingRequests'],
    ["a client's share of no requests", { ...base, maxPendingPerClient: 0 }, 'config.maxPendingPerClient'],
    ["a client's share larger than the mempool", { ...base, maxPendingRequests: 100, maxPendingPerClient: 101 }, 'config.maxPendingPerClient'],
    ['negative validation workers', { ...base, validationWorkers: -1 }, 'config.validationWorkers'],
    ['fractional validation workers', { ...base, validationWorkers: 1.5 }, 'config.validationWorkers'],
    ['more validation workers than MAX_VALIDATION_WORKERS', { ...base, validationWorkers: 100_000 }, 'config.validationWorkers'],
    ['a mempool of under 1 MiB', { ...base, maxPendingBytes: 1024 }, 'config.maxPendingBytes'],
    ['genesis path of the wrong type', { ...base, genesis: 5 }, 'config.genesis'],
    ['unknown BLS backend', { ...base, blsBackend: 'openssl' }, 'config.blsBackend'],
    ['unknown log level', { ...base, logLevel: 'loud' }, 'config.logLevel'],
    ['misspelt field', { ...base, metricPort: 1 }, 'config.metricPort'],
  ];
  for (const [name, doc, field] of cases) {
    it(`rejects ${name}, naming ${field}`, () => rejectsField(() => parseNodeConfig(doc, '/home'), field));
  }

  it('rejects key files with bad keys, naming the field', async () => {
    const good = JSON.parse(nodeKeysToJson(await testKeys(0))) as Record<string, unknown>;
    rejectsField(() => parseNodeKeys({ ...good, blsSecretKey: `0x${'00'.repeat(32)}` }, backend), 'keys.blsSecretKey');
    rejectsField(() => parseNodeKeys({ ...good, blsSecretKey: '0x1234' }, backend), 'keys.blsSecretKey');
    rejectsField(() => parseNodeKeys({ ...good, libp2pPrivateKey: '0x0801' }, backend), 'keys.libp2pPrivateKey');
    rejectsField(() => parseNodeKeys({ ...good, blsPublicKey: '0x00' }, backend), 'keys.blsPublicKey');
    rejectsField(() => parseNodeKeys({ ...good, thresholdShare: `0x${'ff'.repeat(32)}` }, backend), 'keys.thresholdShare');
    // A malformed secret is not quoted back into the error (and so into logs).
    for (const field of ['blsSecretKey', 'thresholdShare']) {
      assert.throws(
        () => parseNodeKeys({ ...good, [field]: '0xsecret-bytes-here' }, backend),
        (err: unknown) => err instanceof ConfigError && err.field === `keys.${field}` && !err.message.includes('secret-bytes'),
      );
    }
    assert.equal(parseNodeKeys(good, backend).peerId, (await testKeys(0)).peerId);
  });

  it('names the public file after the key file', () => {
    assert.equal(publicFilePath('/a/keys.json'), '/a/keys.pub.json');
    assert.equal(publicFilePath('/a/validator.key'), '/a/validator.key.pub.json');
  });

  describe('loadNodeConfig', () => {
    it('loads config, genesis and keys that match', async () => {
      await withTempDir(async (dir) => {
        await writeFile(join(dir, 'genesis.json'), genesisToJson(parseGenesis(await validGenesisJson(4))));
        for (let i = 0; i < 4; i++) {
          const node = await loadNodeConfig(await writeHome(dir, i));
          assert.equal(node.config.index, i);
          assert.equal(node.keys.peerId, node.validator.peerId);
          assert.equal(node.genesis.validatorSet.n, 4);
        }
      });
    });

    it('refuses a key file other users can read, naming the file', async () => {
      await withTempDir(async (dir) => {
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(await validGenesisJson(4)));
        const home = await writeHome(dir, 0, 0, 0o644);
        const keysFile = join(home, 'keys.json');
        const expected = `${keysFile}: private key file has mode 0644, readable by other users; run chmod 600 on it`;
        await assert.rejects(loadNodeConfig(home), (err: unknown) => err instanceof ConfigError && err.message === expected);
        await assert.rejects(loadNodeKeys(keysFile, backend), (err: unknown) => err instanceof ConfigError && err.file === keysFile);
        await chmod(keysFile, 0o600);
        assert.equal((await loadNodeConfig(home)).config.index, 0);
      });
    });

    it('names a key path that is a directory as one, not by its mode', async () => {
      await withTempDir(async (dir) => {
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(await validGenesisJson(4)));
        const home = await writeHome(dir, 0, 0, 0o600);
        const keysFile = join(home, 'keys.json');
        await rm(keysFile);
        await mkdir(keysFile, { mode: 0o755 });
        await assert.rejects(loadNodeConfig(home), (err: unknown) => err instanceof ConfigError && err.message === `${keysFile}: is a directory, not a key file`);
      });
    });

    it("refuses a mempool byte bound below the genesis' block byte bound, naming the config file", async () => {
      await withTempDir(async (dir) => {
        const genesis = (await validGenesisJson(4)) as { consensus: Record<string, number> };
        genesis.consensus['maxBatchBytes'] = 2 * 1024 * 1024;
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(genesis));
        const home = await writeHome(dir, 0);
        const config = { index: 0, listen: '/ip4/127.0.0.1/tcp/26600', metricsPort: 26700 };
        await writeFile(join(home, 'config.json'), nodeConfigToJson({ ...config, maxPendingBytes: 1024 * 1024 }));
        await assert.rejects(loadNodeConfig(home), (err: unknown) => err instanceof ConfigError && err.field === 'config.maxPendingBytes' && err.file === join(home, 'config.json'));
        await writeFile(join(home, 'config.json'), nodeConfigToJson({ ...config, maxPendingBytes: 2 * 1024 * 1024 }));
        assert.equal((await loadNodeConfig(home)).config.maxPendingBytes, 2 * 1024 * 1024);
      });
    });

    it("refuses another validator's keys, naming the key file and field", async () => {
      await withTempDir(async (dir) => {
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(await validGenesisJson(4)));
        const home = await writeHome(dir, 2, 3);
        await assert.rejects(loadNodeConfig(home), (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.file, join(home, 'keys.json'));
          assert.equal(err.field, 'keys.blsSecretKey');
          assert.match(err.message, /is not genesis\.validators\[2\]\.blsPublicKey/);
          return true;
        });
      });
    });

    it('on a threshold chain, loads the share that matches the commitments and refuses a missing or wrong one', async () => {
      await withTempDir(async (dir) => {
        const deal = dealThresholdKeys(4);
        const doc = { ...(await validGenesisJson(4)), quorumCertificates: { scheme: 'threshold', threshold: 3, commitments: deal.setup.commitments.map((c) => toHex(c)) } };
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(doc));
        const node = await loadNodeConfig(await writeHome(dir, 1, 1, 0o600, deal.shares[1]));
        assert.deepEqual(node.keys.thresholdShare?.toBytes(), deal.shares[1]);
        const field = (err: unknown, f: string, reason: RegExp) => err instanceof ConfigError && err.field === f && reason.test(err.reason);
        await assert.rejects(loadNodeConfig(await writeHome(dir, 2)), (err) => field(err, 'keys.thresholdShare', /missing/));
        await assert.rejects(loadNodeConfig(await writeHome(dir, 3, 3, 0o600, deal.shares[2])), (err) => field(err, 'keys.thresholdShare', /not validator 3's share/));
        // A share in the key file of a multisig chain means the file is from another chain.
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(await validGenesisJson(4)));
        await assert.rejects(loadNodeConfig(await writeHome(dir, 1, 1, 0o600, deal.shares[1])), (err) => field(err, 'keys.thresholdShare', /multi-signatures/));
      });
    });

    it('reports an index outside the genesis, a missing genesis and a bad config with their files', async () => {
      await withTempDir(async (dir) => {
        const home = await writeHome(dir, 4, 0);
        await assert.rejects(loadNodeConfig(home), (err: unknown) => err instanceof ConfigError && err.message === `${join(dir, 'genesis.json')}: file not found`);
        await writeFile(join(dir, 'genesis.json'), JSON.stringify(await validGenesisJson(4)));
        await assert.rejects(loadNodeConfig(home), (err: unknown) => err instanceof ConfigError && err.field === 'config.index' && err.file === join(home, 'config.json'));
        await writeFile(join(home, 'config.json'), JSON.stringify({ ...base, metricsPort: 0 }));
        await assert.rejects(loadNodeConfig(home), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${join(home, 'config.json')}: config.metricsPort: `));
        await assert.rejects(loadNodeConfig(join(dir, 'nowhere')), (err: unknown) => err instanceof ConfigError && err.message === `${join(dir, 'nowhere', 'config.json')}: file not found`);
      });
    });
  });
});
