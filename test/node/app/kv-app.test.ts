import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesEqual, concatBytes, toHex } from '../../../crypto/bytes.js';
import { sha256Noble } from '../../../crypto/hash.js';
import { merkleRoot } from '../../../crypto/merkle.js';
import type { Command } from '../../../protocol/command.js';
import { encodeCommand, MAX_AMOUNT } from '../../../protocol/command.js';
import type { KvApplicationOptions } from '../../../node/app/kv-app.js';
import { KvApplication } from '../../../node/app/kv-app.js';
import { logLeafData, verifyLogEntry } from '../../../protocol/log-proof.js';
import { Result, resultName } from '../../../protocol/result.js';
import { SnapshotDecodeError } from '../../../node/app/snapshot.js';
import { balanceStateKey, encodeBalance, kvStateKey, verifyBalanceProof, verifyKvProof } from '../../../node/app/state-keys.js';
import { StateTree } from '../../../node/app/state-tree.js';
import { admitSequence } from '../../../node/app/replay-window.js';
import { CHAIN, interactingCommand } from './arbitraries.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const A = ascii('alice');
const B = ascii('bob');
const newApp = (options: Partial<KvApplicationOptions> = {}) => new KvApplication({ chainId: CHAIN, ...options });
const mint = (account: Uint8Array, amount: bigint): Command => ({ type: 'mint', account, amount });
const transfer = (from: Uint8Array, to: Uint8Array, amount: bigint): Command => ({ type: 'transfer', from, to, amount });
const put = (key: string, value: string): Command => ({ type: 'put', key: ascii(key), value: ascii(value) });
const cas = (key: string, expected: string | null, value: string): Command => ({
  type: 'cas',
  key: ascii(key),
  expected: expected === null ? null : ascii(expected),
  value: ascii(value),
});

function applyOne(app: KvApplication, cmd: Command | Uint8Array): number {
  const bytes = cmd instanceof Uint8Array ? cmd : encodeCommand(cmd);
  return app.applyBlock([bytes]).results[0]!;
}

/**
 * A second, deliberately naive implementation of the command semantics (kv-app.ts header), kept
 * in plain maps: the application must agree with it on every result and on the final state.
 */
class Model {
  readonly kv = new Map<string, Uint8Array>();
  readonly balances = new Map<string, bigint>();

  constructor(readonly allowMint = true) {}

  apply(cmd: Command | null): number {
    if (cmd === null) return Result.MALFORMED;
    const bal = (a: Uint8Array) => this.balances.get(hex(a)) ?? 0n;
    switch (cmd.type) {
      case 'put':
        this.kv.set(hex(cmd.key), cmd.value);
        return Result.OK;
      case 'delete':
        return this.kv.delete(hex(cmd.key)) ? Result.OK : Result.NOT_FOUND;
      case 'cas': {
        const cur = this.kv.get(hex(cmd.key));
        const ok = cmd.expected === null ? cur === undefined : cur !== undefined && bytesEqual(cur, cmd.expected);
        if (!ok) return Result.CAS_MISMATCH;
        this.kv.set(hex(cmd.key), cmd.value);
        return Result.OK;
      }
      case 'transfer': {
        if (cmd.amount === 0n) return Result.INVALID_AMOUNT;
        if (bal(cmd.from) < cmd.amount) return Result.INSUFFICIENT_BALANCE;
        const after = new Map(this.balances);
        after.set(hex(cmd.from), bal(cmd.from) - cmd.amount);
        after.set(hex(cmd.to), (after.get(hex(cmd.to)) ?? 0n) + cmd.amount);
        if (after.get(hex(cmd.to))! > MAX_AMOUNT) return Result.OVERFLOW;
        for (const [k, v] of after) this.balances.set(k, v);
        return Result.OK;
      }
      case 'mint': {
        if (!this.allowMint) return Result.UNAUTHORIZED;
        if (cmd.amount === 0n) return Result.INVALID_AMOUNT;
        if (bal(cmd.account) + cmd.amount > MAX_AMOUNT) return Result.OVERFLOW;
        this.balances.set(hex(cmd.account), bal(cmd.account) + cmd.amount);
        return Result.OK;
      }
    }
  }

  /** State root of the model's state, entries inserted in reverse key order. */
  stateRoot(): Uint8Array {
    const t = new StateTree(CHAIN);
    const pairs: [Uint8Array, Uint8Array][] = [
      ...[...this.kv].map(([k, v]): [Uint8Array, Uint8Array] => [kvStateKey(Buffer.from(k, 'hex')), v]),
      ...[...this.balances]
        .filter(([, v]) => v !== 0n)
        .map(([k, v]): [Uint8Array, Uint8Array] => [balanceStateKey(Buffer.from(k, 'hex')), encodeBalance(v)]),
    ];
    pairs.sort(([x], [y]) => -Buffer.compare(x, y));
    for (const [k, v] of pairs) t.set(k, v);
    return t.root();
  }
}

/** Valid commands, with now and then raw garbage that must commit as MALFORMED. */
const blockItem = fc.oneof(
  { weight: 9, arbitrary: interactingCommand.map((c) => ({ bytes: encodeCommand(c), cmd: c as Command | null })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }).map((b) => ({ bytes: Uint8Array.of(0xee, ...b), cmd: null })) },
);

/** Splits `items` into consecutive blocks at the given cut points (empty blocks included). */
function split<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b);
  const blocks: T[][] = [];
  let from = 0;
  for (const p of [...points, items.length]) {
    blocks.push(items.slice(from, p));
    from = p;
  }
  return blocks;
}

describe('app/kv-app', () => {
  describe('transfer and mint semantics', () => {
    type Row = { name: string; funds: [Uint8Array, bigint][]; cmd: Command; result: number; after: [bigint, bigint] };
    const rows: Row[] = [
      { name: 'moves funds', funds: [[A, 100n]], cmd: transfer(A, B, 30n), result: Result.OK, after: [70n, 30n] },
      { name: 'whole balance', funds: [[A, 100n]], cmd: transfer(A, B, 100n), result: Result.OK, after: [0n, 100n] },
      { name: 'one over balance', funds: [[A, 100n]], cmd: transfer(A, B, 101n), result: Result.INSUFFICIENT_BALANCE, after: [100n, 0n] },
      { name: 'unfunded sender', funds: [], cmd: transfer(A, B, 1n), result: Result.INSUFFICIENT_BALANCE, after: [0n, 0n] },
      { name: 'zero amount', funds: [[A, 100n]], cmd: transfer(A, B, 0n), result: Result.INVALID_AMOUNT, after: [100n, 0n] },
      { name: 'zero from unfunded', funds: [], cmd: transfer(A, B, 0n), result: Result.INVALID_AMOUNT, after: [0n, 0n] },
      { name: 'self-transfer', funds: [[A, 100n]], cmd: transfer(A, A, 60n), result: Result.OK, after: [100n, 0n] },
      { name: 'self-transfer of all', funds: [[A, 100n]], cmd: transfer(A, A, 100n), result: Result.OK, after: [100n, 0n] },
      { name: 'self-transfer over', funds: [[A, 100n]], cmd: transfer(A, A, 101n), result: Result.INSUFFICIENT_BALANCE, after: [100n, 0n] },
      {
        name: 'receiver overflow',
        funds: [[A, MAX_AMOUNT], [B, 1n]],
        cmd: transfer(B, A, 1n),
        result: Result.OVERFLOW,
        after: [MAX_AMOUNT, 1n],
      },
      {
        name: 'receiver reaches max',
        funds: [[A, MAX_AMOUNT - 1n], [B, 1n]],
        cmd: transfer(B, A, 1n),
        result: Result.OK,
        after: [MAX_AMOUNT, 0n],
      },
      { name: 'mint', funds: [[A, 5n]], cmd: mint(A, 7n), result: Result.OK, after: [12n, 0n] },
      { name: 'mint zero', funds: [], cmd: mint(A, 0n), result: Result.INVALID_AMOUNT, after: [0n, 0n] },
      { name: 'mint to max', funds: [[A, 1n]], cmd: mint(A, MAX_AMOUNT - 1n), result: Result.OK, after: [MAX_AMOUNT, 0n] },
      { name: 'mint overflow', funds: [[A, 1n]], cmd: mint(A, MAX_AMOUNT), result: Result.OVERFLOW, after: [1n, 0n] },
    ];
    for (const row of rows) {
      it(`${row.name}: ${resultName(row.result)}`, () => {
        const app = newApp();
        for (const [acct, amount] of row.funds) assert.equal(applyOne(app, mint(acct, amount)), Result.OK);
        const rootBefore = toHex(app.stateRoot());
        assert.equal(resultName(applyOne(app, row.cmd)), resultName(row.result));
        assert.deepEqual([app.balance(A), app.balance(B)], row.after);
        if (row.result !== Result.OK || row.name.startsWith('self')) assert.equal(toHex(app.stateRoot()), rootBefore, 'state changed');
        else assert.notEqual(toHex(app.stateRoot()), rootBefore);
      });
    }

    it('a balance spent to zero leaves the same state as one never funded', () => {
      const a = newApp();
      applyOne(a, mint(A, 10n));
      applyOne(a, transfer(A, B, 10n));
      const b = newApp();
      applyOne(b, mint(B, 10n));
      assert.equal(toHex(a.stateRoot()), toHex(b.stateRoot()));
      assert.notEqual(a.proveBalance(A).terminal.kind, 'leaf');
    });

    it('minting can be switched off for production chains', () => {
      const app = newApp({ allowMint: false });
      assert.equal(applyOne(app, mint(A, 1n)), Result.UNAUTHORIZED);
      assert.equal(app.balance(A), 0n);
    });
  });

  describe('key-value semantics', () => {
    it('cas compares with the current value, null meaning absent', () => {
      const rows: [string, Command[], Command, number, string | undefined][] = [
        ['create if absent', [], cas('k', null, 'v'), Result.OK, 'v'],
        ['create when present', [put('k', 'a')], cas('k', null, 'v'), Result.CAS_MISMATCH, 'a'],
        ['expect value, absent', [], cas('k', 'a', 'v'), Result.CAS_MISMATCH, undefined],
        ['expect value, matches', [put('k', 'a')], cas('k', 'a', 'v'), Result.OK, 'v'],
        ['expect value, differs', [put('k', 'a')], cas('k', 'b', 'v'), Result.CAS_MISMATCH, 'a'],
        ['expect prefix of value', [put('k', 'ab')], cas('k', 'a', 'v'), Result.CAS_MISMATCH, 'ab'],
        ['expect empty, empty present', [put('k', '')], cas('k', '', 'v'), Result.OK, 'v'],
        ['expect empty, absent', [], cas('k', '', 'v'), Result.CAS_MISMATCH, undefined],
        ['after delete, create', [put('k', 'a'), { type: 'delete', key: ascii('k') }], cas('k', null, 'v'), Result.OK, 'v'],
      ];
      for (const [name, setup, cmd, result, after] of rows) {
        const app = newApp();
        for (const c of setup) assert.equal(applyOne(app, c), Result.OK, name);
        assert.equal(resultName(applyOne(app, cmd)), resultName(result), name);
        const value = app.query(ascii('k'));
        assert.equal(value === undefined ? undefined : new TextDecoder().decode(value), after, name);
      }
    });

    it('put, query, delete and NOT_FOUND', () => {
      const app = newApp();
      assert.equal(applyOne(app, { type: 'delete', key: ascii('k') }), Result.NOT_FOUND);
      assert.equal(applyOne(app, put('k', 'v')), Result.OK);
      assert.deepEqual(app.query(ascii('k')), ascii('v'));
      assert.equal(applyOne(app, { type: 'delete', key: ascii('k') }), Result.OK);
      assert.equal(app.query(ascii('k')), undefined);
      assert.equal(app.query(new Uint8Array(0)), undefined);
      assert.equal(app.query(new Uint8Array(300)), undefined);
    });

    it('keeps KV keys and balances apart', () => {
      const app = newApp();
      applyOne(app, mint(A, 5n));
      // The bytes a balance is stored under, used as a KV key: touches only the KV namespace.
      applyOne(app, { type: 'put', key: balanceStateKey(A), value: encodeBalance(1000n) });
      applyOne(app, { type: 'put', key: A, value: encodeBalance(1000n) });
      assert.equal(app.balance(A), 5n);
      assert.equal(app.query(A)?.length, 8);
    });

    it('commits undecodable bytes as MALFORMED, at their position, without touching state', () => {
      const app = newApp();
      applyOne(app, put('k', 'v'));
      const root = toHex(app.stateRoot());
      const garbage = [new Uint8Array(0), Uint8Array.of(0xff), new Uint8Array(9000), Uint8Array.of(...encodeCommand(put('k', 'w')), 0)];
      const out = app.applyBlock([encodeCommand(put('x', 'y')), ...garbage]);
      assert.deepEqual(out.results, [Result.OK, ...garbage.map(() => Result.MALFORMED)]);
      assert.equal(out.firstPosition, 1);
      assert.equal(app.logSize, 6);
      applyOne(app, { type: 'delete', key: ascii('x') });
      assert.equal(toHex(app.stateRoot()), root);
      garbage.forEach((g, i) => {
        const { entry, proof } = app.proveLogEntry(2 + i);
        assert.deepEqual(entry, { position: 2 + i, requestId: sha256Noble(g), result: Result.MALFORMED });
        verifyLogEntry(CHAIN, app.logRoot(), entry, proof);
      });
    });

    it('throws only for a caller bug, before changing anything', () => {
      const app = newApp();
      assert.throws(() => app.applyBlock([encodeCommand(put('k', 'v')), 'x' as unknown as Uint8Array]), TypeError);
      assert.throws(() => app.applyBlock(null as unknown as Uint8Array[]), TypeError);
      assert.equal(app.height, 0);
      assert.equal(app.logSize, 0);
      assert.equal(app.query(ascii('k')), undefined);
    });
  });

  describe('determinism and commitments', () => {
    it('agrees with the model; block boundaries and replica do not change results or roots', () => {
      fc.assert(
        fc.property(
          fc.array(blockItem, { maxLength: 60 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          (items, cutsA, cutsB) => {
            const model = new Model();
            const expected = items.map(({ cmd }) => model.apply(cmd));
            const run = (cuts: number[]) => {
              const app = newApp();
              const blocks = split(items, cuts);
              const results = blocks.flatMap((b) => app.applyBlock(b.map((i) => i.bytes)).results);
              assert.equal(app.height, blocks.length);
              return { app, results };
            };
            const a = run(cutsA);
            const b = run(cutsB);
            assert.deepEqual(a.results.map(resultName), expected.map(resultName));
            assert.deepEqual(b.results, a.results);
            assert.equal(toHex(a.app.stateRoot()), toHex(model.stateRoot()));
            assert.equal(toHex(b.app.stateRoot()), toHex(a.app.stateRoot()));
            assert.equal(toHex(b.app.logRoot()), toHex(a.app.logRoot()));
            const leaves = items.map((it, position) =>
              logLeafData(CHAIN, { position, requestId: sha256Noble(it.bytes), result: expected[position]! as Result }),
            );
            assert.equal(toHex(a.app.logRoot()), toHex(merkleRoot(leaves)));
            for (const [k, v] of model.kv) assert.deepEqual(a.app.query(Buffer.from(k, 'hex')), v);
            for (const [acct, v] of model.balances) assert.equal(a.app.balance(Buffer.from(acct, 'hex')), v);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('reports roots per block that a second replica reproduces', () => {
      fc.assert(
        fc.property(fc.array(fc.array(blockItem, { maxLength: 6 }), { maxLength: 8 }), (blocks) => {
          const a = newApp();
          const b = newApp();
          for (const block of blocks) {
            const oa = a.applyBlock(block.map((i) => i.bytes));
            const ob = b.applyBlock(block.map((i) => i.bytes.slice()));
            assert.deepEqual(oa, ob);
            assert.deepEqual(oa.stateRoot, a.stateRoot());
            assert.deepEqual(oa.logRoot, a.logRoot());
          }
        }),
        { numRuns: 50 },
      );
    });

    it('different chains give different roots for the same commands', () => {
      const block = [encodeCommand(put('k', 'v'))];
      const a = newApp().applyBlock(block);
      const b = new KvApplication({ chainId: 'other-chain' }).applyBlock(block);
      assert.notDeepEqual(a.stateRoot, b.stateRoot);
      assert.notDeepEqual(a.logRoot, b.logRoot);
    });

    it('proves keys, balances and log entries against the block roots', () => {
      fc.assert(
        fc.property(fc.array(blockItem, { minLength: 1, maxLength: 40 }), (items) => {
          const app = newApp();
          const { stateRoot, logRoot, results } = app.applyBlock(items.map((i) => i.bytes));
          for (const k of [ascii('\x00'), ascii('\x01'), ascii('\x02\x01'), ascii('nope')]) {
            const value = verifyKvProof(CHAIN, stateRoot, k, app.proveKey(k));
            assert.deepEqual(value, app.query(k));
          }
          for (let i = 0; i < 4; i++) {
            const acct = Uint8Array.of(i);
            assert.equal(verifyBalanceProof(CHAIN, stateRoot, acct, app.proveBalance(acct)), app.balance(acct));
          }
          items.forEach((it, position) => {
            const { entry, proof } = app.proveLogEntry(position);
            assert.deepEqual(entry, { position, requestId: sha256Noble(it.bytes), result: results[position] });
            verifyLogEntry(CHAIN, logRoot, entry, proof);
          });
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('snapshots', () => {
    const sample = () => {
      const app = newApp();
      app.applyBlock([encodeCommand(mint(A, 50n)), encodeCommand(put('k', 'v')), Uint8Array.of(0xff)]);
      app.applyBlock([]);
      app.applyBlock([encodeCommand(transfer(A, B, 20n)), encodeCommand(cas('k', 'v', 'w'))]);
      return app;
    };

    it('round-trips the whole application; the restored one continues identically', () => {
      fc.assert(
        fc.property(fc.array(blockItem, { maxLength: 40 }), fc.array(blockItem, { maxLength: 10 }), (before, after) => {
          const app = newApp();
          app.applyBlock(before.map((i) => i.bytes));
          const snap = app.snapshot();
          const restored = KvApplication.fromSnapshot(snap, { chainId: CHAIN });
          assert.deepEqual(restored.snapshot(), snap);
          assert.equal(restored.height, app.height);
          assert.equal(restored.logSize, app.logSize);
          assert.deepEqual(restored.stateRoot(), app.stateRoot());
          assert.deepEqual(restored.logRoot(), app.logRoot());
          const block = after.map((i) => i.bytes);
          assert.deepEqual(restored.applyBlock(block), app.applyBlock(block));
          if (app.logSize > 0) {
            const { entry, proof } = restored.proveLogEntry(0);
            verifyLogEntry(CHAIN, app.logRoot(), entry, proof);
          }
        }),
        { numRuns: 80 },
      );
    });

    it('is canonical: the same state reached by different block splits gives the same bytes', () => {
      const cmds = [mint(A, 9n), put('b', '1'), put('a', '2'), transfer(A, B, 4n)].map(encodeCommand);
      const one = newApp();
      one.applyBlock(cmds.slice(0, 2));
      one.applyBlock(cmds.slice(2));
      const two = newApp();
      two.applyBlock(cmds.slice(0, 1));
      two.applyBlock(cmds.slice(1));
      assert.deepEqual(one.snapshot(), two.snapshot());
    });

    it('any single-byte change is refused or changes the height or a root', () => {
      const app = sample();
      const snap = app.snapshot();
      const fingerprint = (a: KvApplication) => `${a.height}/${toHex(a.stateRoot())}/${toHex(a.logRoot())}`;
      const original = fingerprint(app);
      for (let i = 0; i < snap.length; i++) {
        for (const xor of [0x01, 0x80, 0xff]) {
          const mutated = snap.slice();
          mutated[i]! ^= xor;
          let restored: KvApplication;
          try {
            restored = KvApplication.fromSnapshot(mutated, { chainId: CHAIN });
          } catch (err) {
            assert.ok(err instanceof SnapshotDecodeError, `byte ${i}: ${String(err)}`);
            continue;
          }
          assert.notEqual(fingerprint(restored), original, `byte ${i} ^ ${xor} went unnoticed`);
        }
      }
    });

    it('refuses truncation, trailing bytes, another chain and states no command could produce', () => {
      const snap = sample().snapshot();
      const refuse = (bytes: Uint8Array, chainId = CHAIN) =>
        assert.throws(() => KvApplication.fromSnapshot(bytes, { chainId }), SnapshotDecodeError);
      for (let n = 0; n < snap.length; n += 7) refuse(snap.subarray(0, n));
      refuse(snap.subarray(0, snap.length - 1));
      refuse(Uint8Array.of(...snap, 0));
      refuse(snap, 'other-chain');

      const craft = (entries: [Uint8Array, Uint8Array][], log: [Uint8Array, number][] = []) => {
        const parts: number[] = [...ascii('vsap'), 2, CHAIN.length, ...ascii(CHAIN), ...new Uint8Array(8)];
        const u = (v: number, w: number) => Array.from({ length: w }, (_, i) => Math.floor(v / 256 ** (w - 1 - i)) % 256);
        parts.push(...u(entries.length, 8));
        for (const [k, v] of entries) parts.push(...u(k.length, 2), ...k, ...u(v.length, 4), ...v);
        parts.push(...u(log.length, 8));
        for (const [h, r] of log) parts.push(...h, r);
        return Uint8Array.from(parts);
      };
      // The crafting itself is right: a well-formed one is accepted.
      const ok = KvApplication.fromSnapshot(craft([[kvStateKey(ascii('k')), ascii('v')]], [[new Uint8Array(32), 0]]), {
        chainId: CHAIN,
      });
      assert.deepEqual(ok.query(ascii('k')), ascii('v'));
      const kv = (k: string, v = 'v'): [Uint8Array, Uint8Array] => [kvStateKey(ascii(k)), ascii(v)];
      const badStates: [Uint8Array, Uint8Array][][] = [
        [kv('b'), kv('a')], // out of order
        [kv('a'), kv('a')], // duplicate
        [[Uint8Array.of(2, 1), ascii('v')]], // unknown namespace
        [[Uint8Array.of(0), ascii('v')]], // empty KV key
        [[kvStateKey(new Uint8Array(257)), ascii('v')]], // KV key over the limit
        [[kvStateKey(ascii('k')), new Uint8Array(4097)]], // value over the limit
        [[balanceStateKey(A), encodeBalance(0n).subarray(1)]], // balance not 8 bytes
        [[balanceStateKey(A), new Uint8Array(8)]], // stored zero balance
        [[balanceStateKey(new Uint8Array(65)), encodeBalance(1n)]], // account over the limit
      ];
      for (const entries of badStates) refuse(craft(entries));
      refuse(craft([], [[new Uint8Array(32), 200]])); // unknown result code
      // A count that the remaining bytes cannot hold is refused without trying.
      const huge = craft([]);
      huge.set([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 4 + 1 + 1 + CHAIN.length + 8);
      refuse(huge);
    });
  });
});

describe('KvApplication genesis balances', () => {
  const alice = new TextEncoder().encode('alice');
  const bob = new TextEncoder().encode('bob');

  it('start in the state at height 0, are provable, and spend like any balance', () => {
    const app = new KvApplication({ chainId: 'vsmr-test', initialBalances: [{ account: alice, amount: 100n }, { account: bob, amount: 0n }] });
    const empty = new KvApplication({ chainId: 'vsmr-test' });
    assert.equal(app.balance(alice), 100n);
    assert.equal(app.balance(bob), 0n);
    assert.equal(app.height, 0);
    assert.equal(app.logSize, 0, 'genesis balances are state, not log entries');
    assert.notDeepEqual(app.stateRoot(), empty.stateRoot());
    assert.equal(verifyBalanceProof('vsmr-test', app.stateRoot(), alice, app.proveBalance(alice)), 100n);
    const out = app.applyBlock([encodeCommand({ type: 'transfer', from: alice, to: bob, amount: 30n })]);
    assert.deepEqual(out.results, [Result.OK]);
    assert.equal(app.balance(bob), 30n);
  });

  it('refuses balances out of range', () => {
    assert.throws(() => new KvApplication({ chainId: 'vsmr-test', initialBalances: [{ account: new Uint8Array(0), amount: 1n }] }), RangeError);
    assert.throws(() => new KvApplication({ chainId: 'vsmr-test', initialBalances: [{ account: alice, amount: -1n }] }), RangeError);
  });
});

describe('KvApplication replay protection', () => {
  const client = new Uint8Array(32).fill(7);
  const other = new Uint8Array(32).fill(8);
  // Any 32 bytes serve as an id here; the runtime's is the SHA-256 of the signed request.
  const idOf = (clientKey: Uint8Array, sequence: bigint) => sha256Noble(concatBytes(clientKey, new TextEncoder().encode(String(sequence))));
  const origin = (sequence: bigint, clientKey = client, expiry = 1n << 40n) => ({ id: idOf(clientKey, sequence), clientKey, sequence, expiry });

  it("logs each entry under its request's id, so equal commands of two requests get different leaves", () => {
    const app = newApp();
    const cmd = encodeCommand(put('k', 'v'));
    const out = app.applyBlock([cmd, cmd, cmd], [origin(1n), origin(1n, other), undefined]);
    assert.deepEqual(out.results, [Result.OK, Result.OK, Result.MALFORMED]);
    assert.deepEqual(app.logEntry(0).requestId, origin(1n).id);
    assert.deepEqual(app.logEntry(1).requestId, origin(1n, other).id);
    // An entry with no origin (not a well-formed request) is logged under the hash of its bytes.
    assert.deepEqual(app.logEntry(2).requestId, sha256Noble(cmd));
    assert.notDeepEqual(app.logEntry(0).requestId, app.logEntry(1).requestId);
  });

  it('commits an entry that is not a request as MALFORMED, even when its bytes decode as a command', () => {
    const app = newApp();
    app.applyBlock([encodeCommand(mint(client, 100n))], [origin(0n)]);
    // The raw bytes of a transfer out of the client's account, in a block but signed by nobody.
    const raw = encodeCommand(transfer(client, B, 30n));
    assert.deepEqual(app.applyBlock([raw], [undefined]).results, [Result.MALFORMED]);
    assert.equal(app.balance(client), 100n);
    assert.equal(app.balance(B), 0n);
  });

  it('commits a transfer out of an account that is not its signer’s as UNAUTHORIZED, its sequence used', () => {
    const app = newApp();
    app.applyBlock([encodeCommand(mint(client, 100n))], [origin(0n)]);
    const theft = encodeCommand(transfer(client, B, 30n));
    assert.deepEqual(app.applyBlock([theft], [origin(1n, other)]).results, [Result.UNAUTHORIZED]);
    assert.equal(app.balance(client), 100n);
    // The thief's sequence 1 is spent; the owner's own transfer goes through.
    assert.deepEqual(app.applyBlock([theft], [origin(1n, other)]).results, [Result.REPLAYED]);
    assert.deepEqual(app.applyBlock([theft], [origin(1n)]).results, [Result.OK]);
    assert.equal(app.balance(B), 30n);
  });

  it('commits a replayed request as REPLAYED: a signed transfer moves the funds once', () => {
    const app = newApp();
    app.applyBlock([encodeCommand(mint(client, 100n))], [origin(0n)]);
    const pay = encodeCommand(transfer(client, B, 30n));
    assert.deepEqual(app.applyBlock([pay], [origin(1n)]).results, [Result.OK]);
    const rootBefore = app.stateRoot();
    // The same request again, in a later block and within one block.
    assert.deepEqual(app.applyBlock([pay, pay], [origin(1n), origin(1n)]).results, [Result.REPLAYED, Result.REPLAYED]);
    assert.equal(app.balance(client), 70n);
    assert.equal(app.balance(B), 30n);
    assert.deepEqual(app.stateRoot(), rootBefore, 'a replay changes no state');
    assert.equal(app.logSize, 4, 'replays are still logged at their positions');
    assert.equal(resultName(Result.REPLAYED), 'REPLAYED');
  });

  it('a failed command consumes its sequence; sequences are per client; commands without an origin are not tracked', () => {
    const app = newApp();
    const pay = encodeCommand(transfer(client, B, 10n));
    assert.deepEqual(app.applyBlock([pay], [origin(3n)]).results, [Result.INSUFFICIENT_BALANCE]);
    app.applyBlock([encodeCommand(mint(client, 50n))], [origin(4n)]);
    assert.deepEqual(app.applyBlock([pay], [origin(3n)]).results, [Result.REPLAYED], 'funded later, the old request still cannot act');
    assert.deepEqual(app.applyBlock([encodeCommand(put('k', 'v'))], [origin(3n, other)]).results, [Result.OK]);
    const unsigned = encodeCommand(put('k', 'w'));
    assert.deepEqual(app.applyBlock([unsigned, unsigned]).results, [Result.OK, Result.OK]);
    assert.equal(app.replayRecord(client)?.high, 4n);
    assert.equal(app.replayRecord(new Uint8Array(32)), undefined);
  });

  it('keeps the record in the state: it changes the root and survives a snapshot', () => {
    const plain = newApp();
    const tracked = newApp();
    const cmd = encodeCommand(put('k', 'v'));
    plain.applyBlock([cmd]);
    tracked.applyBlock([cmd], [origin(9n)]);
    assert.notDeepEqual(tracked.stateRoot(), plain.stateRoot());
    const restored = KvApplication.fromSnapshot(tracked.snapshot(), { chainId: CHAIN });
    assert.deepEqual(restored.stateRoot(), tracked.stateRoot());
    assert.deepEqual(restored.applyBlock([cmd], [origin(9n)]).results, [Result.REPLAYED]);
  });

  it('commits a request in a block above its expiry as EXPIRED, without using its sequence', () => {
    const app = newApp();
    const cmd = encodeCommand(put('k', 'v'));
    // Blocks 1 and 2: a request may commit at its expiry height, not after it.
    assert.deepEqual(app.applyBlock([cmd], [origin(0n, client, 1n)]).results, [Result.OK]);
    const root = app.stateRoot();
    assert.deepEqual(app.applyBlock([encodeCommand(put('k', 'w'))], [origin(1n, client, 1n)]).results, [Result.EXPIRED]);
    assert.deepEqual(app.stateRoot(), root, 'an expired request changes nothing, its sequence included');
    assert.equal(app.replayRecord(client)?.high, 0n);
    assert.deepEqual(app.applyBlock([cmd], [origin(1n, client, 3n)]).results, [Result.OK], 'the sequence is still free');
    assert.equal(resultName(Result.EXPIRED), 'EXPIRED');
  });

  it('any split of requests into blocks gives the results, roots and records of the sequential window rule', () => {
    // Few clients and sequences, so blocks carry duplicates and one client many times; some far
    // jumps, so windows slide past what a block already admitted.
    const request = fc.record({
      client: fc.nat({ max: 2 }),
      sequence: fc.oneof(fc.bigInt({ min: 0n, max: 24n }), fc.bigInt({ min: 1000n, max: 1040n }), fc.bigInt({ min: 2000n, max: 4000n })),
      key: fc.nat({ max: 5 }),
    });
    const clients = [client, other, new Uint8Array(32).fill(9)];
    fc.assert(
      fc.property(fc.array(request, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (reqs, cuts) => {
        const items = reqs.map((r) => ({ bytes: encodeCommand(put(`k${r.key}`, `v${r.sequence}`)), origin: origin(r.sequence, clients[r.client]!) }));
        // The rule itself, one request at a time.
        const records = new Map<number, ReturnType<typeof admitSequence> | undefined>();
        const expected = reqs.map((r) => {
          const next = admitSequence(records.get(r.client) ?? undefined, r.sequence);
          if (next === null) return Result.REPLAYED;
          records.set(r.client, next);
          return Result.OK;
        });
        const run = (blocks: (typeof items)[]) => {
          const app = newApp();
          const results = blocks.flatMap((b) => app.applyBlock(b.map((i) => i.bytes), b.map((i) => i.origin)).results);
          return { app, results };
        };
        const one = run(items.map((i) => [i]));
        const split_ = run(split(items, cuts));
        const whole = run([items]);
        for (const r of [one, split_, whole]) {
          assert.deepEqual(r.results.map(resultName), expected.map(resultName));
          assert.equal(toHex(r.app.stateRoot()), toHex(one.app.stateRoot()));
          assert.equal(toHex(r.app.logRoot()), toHex(one.app.logRoot()));
          for (const [c, key] of clients.entries()) assert.deepEqual(r.app.replayRecord(key), records.get(c) ?? undefined);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses origins that do not match the commands with TypeError, before changing anything', () => {
    const app = newApp();
    const root = app.stateRoot();
    const cmd = encodeCommand(put('k', 'v'));
    assert.throws(() => app.applyBlock([cmd], []), TypeError);
    assert.throws(() => app.applyBlock([cmd], [origin(1n, new Uint8Array(31))]), TypeError);
    assert.throws(() => app.applyBlock([cmd], [{ ...origin(1n), id: new Uint8Array(31) }]), TypeError);
    assert.throws(() => app.applyBlock([cmd], [{ ...origin(1n), id: undefined as unknown as Uint8Array }]), TypeError);
    assert.throws(() => app.applyBlock([cmd], [origin(-1n)]), TypeError);
    assert.throws(() => app.applyBlock([cmd], [{ ...origin(1n), sequence: 1 as unknown as bigint }]), TypeError);
    assert.throws(() => app.applyBlock([cmd], [{ ...origin(1n), expiry: 1n << 64n }]), TypeError);
    assert.deepEqual(app.stateRoot(), root);
    assert.equal(app.height, 0);
  });
});
