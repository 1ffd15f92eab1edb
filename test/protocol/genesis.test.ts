import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toHex } from '../../crypto/bytes.js';
import { dealThresholdKeys, ThresholdQcScheme } from '../../crypto/qc/threshold.js';
import { ConfigError } from '../../protocol/config-error.js';
import { genesisHistoryDigest, genesisToJson, loadGenesis, parseGenesis } from '../../protocol/genesis.js';
import { bytesToHex } from '../../crypto/bytes.js';
import { validGenesisJson, withTempDir } from '../node/config/fixtures.js';

type Doc = Record<string, unknown> & { validators: Record<string, unknown>[]; consensus: Record<string, unknown>; app: Record<string, unknown> };

/** The document as a plain record, for mutations that break its shape. */
const raw = (d: Doc): Record<string, unknown> => d;

function expectConfigError(fn: () => unknown, field: string | undefined, reason?: RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.field, field, caught.message);
  assert.ok(!/[\r\n]/.test(caught.message), `message is not one line: ${JSON.stringify(caught.message)}`);
  if (field !== undefined) assert.ok(caught.message.includes(`${field}: `), `message names the field: ${caught.message}`);
  if (reason) assert.match(caught.reason, reason);
  return caught;
}

/** A threshold section for n = 4 with `threshold` fresh commitments. */
function thresholdSection(threshold: number): { scheme: string; threshold: number; commitments: string[] } {
  return { scheme: 'threshold', threshold, commitments: dealThresholdKeys(4, threshold).setup.commitments.map((c) => toHex(c)) };
}

describe('genesis file', () => {
  let valid: Doc;
  const fresh = (): Doc => structuredClone(valid);

  before(async () => {
    valid = (await validGenesisJson(4)) as Doc;
  });

  it('parses a valid genesis, object or text, and builds the validator set', () => {
    for (const input of [fresh(), JSON.stringify(valid)]) {
      const g = parseGenesis(input);
      assert.equal(g.chainId, 'test-chain');
      assert.equal(g.validators.length, 4);
      assert.equal(g.validatorSet.n, 4);
      assert.equal(g.validatorSet.quorum, 3);
      assert.equal(toHex(g.validators[2]!.blsPublicKey), valid.validators[2]!['blsPublicKey']);
      assert.equal(g.validators[3]!.address, '/ip4/127.0.0.1/tcp/26603');
      assert.deepEqual(g.consensus, { baseTimeoutMs: 1000, maxBatchCommands: 500, maxBatchBytes: 1 << 20 });
      assert.equal(g.app.allowMint, true);
      assert.equal(g.app.initialBalances[0]!.amount, 2n ** 64n - 1n);
    }
  });

  it('history digest: the same for a moved validator, different for anything the history depends on', () => {
    const digest = (d: Doc) => bytesToHex(genesisHistoryDigest(parseGenesis(d)));
    const base = digest(fresh());
    assert.equal(digest(JSON.parse(JSON.stringify(valid)) as Doc), base, 'deterministic');
    const moved = fresh();
    moved.validators[1]!['address'] = '/ip4/10.0.0.9/tcp/4000';
    assert.equal(digest(moved), base, 'a validator may change its address');
    const edits: [string, (d: Doc) => void][] = [
      ['a consensus setting', (d) => { d.consensus['maxBatchCommands'] = 501; }],
      ['the application', (d) => { d.app['allowMint'] = false; }],
      ['the validator set', (d) => { d.validators = d.validators.slice(0, 3); }],
    ];
    for (const [what, edit] of edits) {
      const d = fresh();
      edit(d);
      assert.notEqual(digest(d), base, what);
    }
  });

  it('round-trips through genesisToJson', () => {
    const g = parseGenesis(fresh());
    const again = parseGenesis(genesisToJson(g));
    assert.equal(genesisToJson(again), genesisToJson(g));
    assert.deepEqual(JSON.parse(genesisToJson(g)), valid);
  });

  it('certifies with multi-signatures when the file names no QC scheme', () => {
    const g = parseGenesis(fresh());
    assert.deepEqual(g.quorumCertificates, { scheme: 'multisig' });
    assert.equal(g.quorumScheme.kind, 'multisig');
    assert.equal(parseGenesis({ ...fresh(), quorumCertificates: { scheme: 'multisig' } }).quorumScheme.kind, 'multisig');
  });

  it('reads a threshold QC setup: the group key is commitments[0], and it round-trips', () => {
    const deal = dealThresholdKeys(4);
    const d = { ...fresh(), quorumCertificates: { scheme: 'threshold', threshold: 3, commitments: deal.setup.commitments.map((c) => toHex(c)) } };
    const g = parseGenesis(d);
    assert.equal(g.quorumScheme.kind, 'threshold');
    assert.ok(g.quorumScheme instanceof ThresholdQcScheme);
    assert.deepEqual(g.quorumScheme.groupPublicKey.bytes, deal.setup.commitments[0]);
    assert.deepEqual(JSON.parse(genesisToJson(g)), d);
    assert.equal(genesisToJson(parseGenesis(genesisToJson(g))), genesisToJson(g));
  });

  it('accepts the noble backend and a genesis without initial balances', () => {
    const d = fresh();
    delete d.app['initialBalances'];
    const g = parseGenesis(d, { backend: 'noble' });
    assert.equal(g.validatorSet.backend.name, 'noble');
    assert.deepEqual(g.app.initialBalances, []);
  });

  it('accepts an address whose /p2p part names the validator itself, and stores it without', () => {
    const d = fresh();
    d.validators[1]!['address'] = `/ip4/127.0.0.1/tcp/26601/p2p/${d.validators[1]!['peerId']}`;
    assert.equal(parseGenesis(d).validators[1]!.address, '/ip4/127.0.0.1/tcp/26601');
  });

  const v = (i: number, k: string) => `genesis.validators[${i}].${k}`;
  const cases: { name: string; field: string; reason?: RegExp; mutate: (d: Doc) => void }[] = [
    { name: 'not an object', field: 'genesis', mutate: () => {} },
    { name: 'unsupported version', field: 'genesis.version', mutate: (d) => { d['version'] = 2; } },
    { name: 'missing version', field: 'genesis.version', reason: /missing/, mutate: (d) => { delete d['version']; } },
    { name: 'unknown top-level field', field: 'genesis.extra', reason: /unknown field/, mutate: (d) => { d['extra'] = 1; } },
    { name: 'missing chain id', field: 'genesis.chainId', reason: /missing/, mutate: (d) => { delete d['chainId']; } },
    { name: 'chain id with a space', field: 'genesis.chainId', mutate: (d) => { d['chainId'] = 'a b'; } },
    { name: 'empty chain id', field: 'genesis.chainId', mutate: (d) => { d['chainId'] = ''; } },
    { name: 'chain id of 65 characters', field: 'genesis.chainId', mutate: (d) => { d['chainId'] = 'x'.repeat(65); } },
    { name: 'non-ASCII chain id', field: 'genesis.chainId', mutate: (d) => { d['chainId'] = 'chäin'; } },
    { name: 'chain id of the wrong type', field: 'genesis.chainId', reason: /expected a string/, mutate: (d) => { d['chainId'] = 7; } },
    { name: 'validators not an array', field: 'genesis.validators', mutate: (d) => { raw(d)['validators'] = {}; } },
    { name: 'no validators', field: 'genesis.validators', mutate: (d) => { d['validators'] = []; } },
    { name: 'validator not an object', field: 'genesis.validators[2]', mutate: (d) => { (d['validators'] as unknown[])[2] = 'x'; } },
    { name: 'unknown validator field', field: v(0, 'secretKey'), mutate: (d) => { d.validators[0]!['secretKey'] = '0x00'; } },
    { name: 'index out of order', field: v(1, 'index'), mutate: (d) => { d.validators[1]!['index'] = 2; } },
    { name: 'index of the wrong type', field: v(1, 'index'), mutate: (d) => { d.validators[1]!['index'] = '1'; } },
    { name: 'missing public key', field: v(3, 'blsPublicKey'), reason: /missing/, mutate: (d) => { delete d.validators[3]!['blsPublicKey']; } },
    { name: 'public key not hex', field: v(2, 'blsPublicKey'), reason: /hex/, mutate: (d) => { d.validators[2]!['blsPublicKey'] = `0x${'zz'.repeat(48)}`; } },
    { name: 'public key without 0x', field: v(2, 'blsPublicKey'), reason: /hex/, mutate: (d) => { d.validators[2]!['blsPublicKey'] = (d.validators[2]!['blsPublicKey'] as string).slice(2); } },
    { name: 'public key odd length', field: v(2, 'blsPublicKey'), reason: /hex/, mutate: (d) => { d.validators[2]!['blsPublicKey'] = `${d.validators[2]!['blsPublicKey']}0`; } },
    { name: 'public key of 47 bytes', field: v(2, 'blsPublicKey'), reason: /48 bytes/, mutate: (d) => { d.validators[2]!['blsPublicKey'] = (d.validators[2]!['blsPublicKey'] as string).slice(0, -2); } },
    { name: 'public key not a curve point', field: v(2, 'blsPublicKey'), reason: /invalid BLS public key/, mutate: (d) => { d.validators[2]!['blsPublicKey'] = `0x${'ff'.repeat(48)}`; } },
    { name: 'public key the point at infinity', field: v(1, 'blsPublicKey'), mutate: (d) => { d.validators[1]!['blsPublicKey'] = `0xc0${'00'.repeat(47)}`; } },
    { name: 'proof of possession of 95 bytes', field: v(0, 'proofOfPossession'), reason: /96 bytes/, mutate: (d) => { d.validators[0]!['proofOfPossession'] = (d.validators[0]!['proofOfPossession'] as string).slice(0, -2); } },
    { name: 'proof of possession of another key', field: v(2, 'proofOfPossession'), reason: /proof of possession does not verify/, mutate: (d) => { d.validators[2]!['proofOfPossession'] = d.validators[3]!['proofOfPossession']; } },
    { name: 'proof of possession not a point', field: v(0, 'proofOfPossession'), reason: /does not verify/, mutate: (d) => { d.validators[0]!['proofOfPossession'] = `0x${'ab'.repeat(96)}`; } },
    {
      name: 'duplicate BLS key',
      field: v(3, 'blsPublicKey'),
      reason: /duplicate public key/,
      mutate: (d) => {
        d.validators[3]!['blsPublicKey'] = d.validators[0]!['blsPublicKey'];
        d.validators[3]!['proofOfPossession'] = d.validators[0]!['proofOfPossession'];
      },
    },
    { name: 'duplicate peer id', field: v(3, 'peerId'), reason: /duplicate peer id/, mutate: (d) => { d.validators[3]!['peerId'] = d.validators[1]!['peerId']; } },
    { name: 'malformed peer id', field: v(1, 'peerId'), reason: /not a peer id/, mutate: (d) => { d.validators[1]!['peerId'] = '12D3KooWnotapeerid'; } },
    { name: 'peer id of the wrong type', field: v(1, 'peerId'), mutate: (d) => { d.validators[1]!['peerId'] = 42; } },
    { name: 'duplicate address', field: v(2, 'address'), reason: /duplicate address/, mutate: (d) => { d.validators[2]!['address'] = d.validators[0]!['address']; } },
    { name: 'address not a multiaddr', field: v(1, 'address'), reason: /not a multiaddr/, mutate: (d) => { d.validators[1]!['address'] = '127.0.0.1:26601'; } },
    { name: 'address without TCP', field: v(1, 'address'), reason: /TCP/, mutate: (d) => { d.validators[1]!['address'] = '/ip4/127.0.0.1/udp/26601'; } },
    { name: 'address on port 0', field: v(1, 'address'), reason: /port 0 is any port/, mutate: (d) => { d.validators[1]!['address'] = '/ip4/127.0.0.1/tcp/0'; } },
    { name: 'unspecified address', field: v(1, 'address'), reason: /not dialable/, mutate: (d) => { d.validators[1]!['address'] = '/ip4/0.0.0.0/tcp/26601'; } },
    { name: 'address naming another peer', field: v(1, 'address'), reason: /\/p2p/, mutate: (d) => { d.validators[1]!['address'] = `/ip4/127.0.0.1/tcp/26601/p2p/${d.validators[0]!['peerId']}`; } },
    { name: 'consensus missing', field: 'genesis.consensus', reason: /missing/, mutate: (d) => { delete raw(d)['consensus']; } },
    { name: 'missing maxBatchBytes', field: 'genesis.consensus.maxBatchBytes', reason: /missing/, mutate: (d) => { delete d.consensus['maxBatchBytes']; } },
    { name: 'timeout as a string', field: 'genesis.consensus.baseTimeoutMs', mutate: (d) => { d.consensus['baseTimeoutMs'] = '1000'; } },
    { name: 'fractional timeout', field: 'genesis.consensus.baseTimeoutMs', mutate: (d) => { d.consensus['baseTimeoutMs'] = 10.5; } },
    { name: 'zero timeout', field: 'genesis.consensus.baseTimeoutMs', mutate: (d) => { d.consensus['baseTimeoutMs'] = 0; } },
    { name: 'empty batches', field: 'genesis.consensus.maxBatchCommands', mutate: (d) => { d.consensus['maxBatchCommands'] = 0; } },
    { name: 'batches larger than a message', field: 'genesis.consensus.maxBatchBytes', mutate: (d) => { d.consensus['maxBatchBytes'] = 64 * 1024 * 1024; } },
    { name: 'allowMint not a boolean', field: 'genesis.app.allowMint', mutate: (d) => { d.app['allowMint'] = 'yes'; } },
    { name: 'unknown app field', field: 'genesis.app.mint', mutate: (d) => { d.app['mint'] = true; } },
    { name: 'negative amount', field: 'genesis.app.initialBalances[0].amount', mutate: (d) => { d.app['initialBalances'] = [{ account: '0x01', amount: '-1' }]; } },
    { name: 'amount as a number', field: 'genesis.app.initialBalances[0].amount', mutate: (d) => { d.app['initialBalances'] = [{ account: '0x01', amount: 5 }]; } },
    { name: 'amount above u64', field: 'genesis.app.initialBalances[0].amount', reason: /2\^64/, mutate: (d) => { d.app['initialBalances'] = [{ account: '0x01', amount: '18446744073709551616' }]; } },
    { name: 'empty account', field: 'genesis.app.initialBalances[0].account', mutate: (d) => { d.app['initialBalances'] = [{ account: '0x', amount: '1' }]; } },
    { name: 'account too long', field: 'genesis.app.initialBalances[0].account', mutate: (d) => { d.app['initialBalances'] = [{ account: `0x${'01'.repeat(65)}`, amount: '1' }]; } },
    { name: 'an unknown QC scheme', field: 'genesis.quorumCertificates.scheme', mutate: (d) => { d['quorumCertificates'] = { scheme: 'bls-magic' }; } },
    { name: 'commitments on a multisig chain', field: 'genesis.quorumCertificates', mutate: (d) => { d['quorumCertificates'] = { scheme: 'multisig', commitments: [] }; } },
    { name: 'a threshold other than the quorum', field: 'genesis.quorumCertificates.threshold', reason: /quorum size 3/, mutate: (d) => { d['quorumCertificates'] = thresholdSection(2); } },
    { name: 'too few commitments', field: 'genesis.quorumCertificates.commitments', mutate: (d) => { d['quorumCertificates'] = { ...thresholdSection(3), commitments: thresholdSection(3).commitments.slice(1) }; } },
    { name: 'a commitment of 47 bytes', field: 'genesis.quorumCertificates.commitments[1]', reason: /48 bytes/, mutate: (d) => { const t = thresholdSection(3); t.commitments[1] = t.commitments[1]!.slice(0, -2); d['quorumCertificates'] = t; } },
    { name: 'a commitment off the curve', field: 'genesis.quorumCertificates.commitments', reason: /commitment 2/, mutate: (d) => { const t = thresholdSection(3); t.commitments[2] = `0x${'ff'.repeat(48)}`; d['quorumCertificates'] = t; } },
    { name: 'a threshold setup without commitments', field: 'genesis.quorumCertificates.commitments', reason: /missing/, mutate: (d) => { d['quorumCertificates'] = { scheme: 'threshold', threshold: 3 }; } },
    {
      name: 'duplicate account',
      field: 'genesis.app.initialBalances[1].account',
      reason: /duplicate account/,
      mutate: (d) => { d.app['initialBalances'] = [{ account: '0x01', amount: '1' }, { account: '0x01', amount: '2' }]; },
    },
  ];

  for (const c of cases) {
    it(`rejects ${c.name}, naming ${c.field}`, () => {
      const d = fresh();
      c.mutate(d);
      expectConfigError(() => parseGenesis(c.name === 'not an object' ? [d] : d), c.field, c.reason);
    });
  }

  it('rejects text that is not JSON, naming genesis', () => {
    expectConfigError(() => parseGenesis('{"version": 1,'), 'genesis', /not valid JSON/);
  });

  it('loadGenesis names the file in every error', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'genesis.json');
      await assert.rejects(loadGenesis(path), (err: unknown) => err instanceof ConfigError && err.file === path && err.message === `${path}: file not found`);
      await writeFile(path, '{ nope');
      await assert.rejects(loadGenesis(path), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${path}: not valid JSON`) && !err.message.includes('\n'));
      const d = fresh();
      d.validators[1]!['proofOfPossession'] = d.validators[0]!['proofOfPossession'];
      await writeFile(path, JSON.stringify(d));
      await assert.rejects(loadGenesis(path), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `${path}: genesis.validators[1].proofOfPossession: proof of possession does not verify`);
        return true;
      });
      await writeFile(path, JSON.stringify(valid));
      await chmod(path, 0o644);
      assert.equal((await loadGenesis(path)).validators.length, 4);
    });
  });
});
