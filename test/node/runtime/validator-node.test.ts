import assert from 'node:assert/strict';
import { createNodeMetrics, type NodeMetrics } from '../../../node/observability/metrics.js';
import { encodeCommand } from '../../../protocol/command.js';
import { Result } from '../../../protocol/result.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { type CommitOutcome, isReceipt, LedgerRecoveryError, type SnapshotPolicy, ValidatorNode } from '../../../node/runtime/validator-node.js';
import type { ExecutedState } from '../../../protocol/types.js';
import type { CommitReceipt } from '../../../protocol/submit-reply.js';
import { ed25519KeypairFromSeed } from '../../../crypto/ed25519/backends.js';
import { MainThreadValidator, type StatelessValidator } from '../../../validation/stateless.js';
import type { Verdict } from '../../../validation/verdict.js';
import { signRequest } from '../../../protocol/request.js';
import type { ConsensusTransport, LedgerStore } from '../../../node/runtime/ports.js';
import { FakeLedgerStore, FakeNetwork } from './fakes.js';

const CHAIN = 'vsmr-runtime-test';
const N = 4;
const client = ed25519KeypairFromSeed(new Uint8Array(32).fill(42));
const enc = new TextEncoder();

function put(sequence: number, key: string, value: string, expiry = 1_000_000n): Uint8Array {
  const command = encodeCommand({ type: 'put', key: enc.encode(key), value: enc.encode(value) });
  return signRequest({ chainId: CHAIN, sequence: BigInt(sequence), expiry, command }, client.secretKey);
}

/** The receipt an admitted request's commit gives; anything else fails the test. */
async function receipt(committed: Promise<CommitOutcome> | undefined): Promise<CommitReceipt> {
  assert.ok(committed, 'the request was admitted');
  const outcome = await committed;
  assert.ok(isReceipt(outcome), `a receipt, not ${JSON.stringify(outcome)}`);
  return outcome;
}

/** Polls until `cond` holds; fails with `what` after the deadline instead of hanging. */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const certs = new FakeCertificateOps(CHAIN, N);

/** Validator `i` of the test cluster, over the given fake disk and network. */
function validatorNode(
  i: number,
  store: LedgerStore,
  transport: ConsensusTransport,
  maxBatchCommands = 8,
  metrics?: NodeMetrics,
  hold?: { readonly holdMs: number; readonly baseTimeoutMs: number },
  mempool?: { readonly maxRequests?: number; readonly maxBytes?: number; readonly perClient?: number },
  syncAnswerBytes?: number,
  validator: StatelessValidator = new MainThreadValidator(CHAIN),
  snapshots?: SnapshotPolicy,
  recentlyCommittedLimit?: number,
): ValidatorNode {
  return new ValidatorNode({
    ...(snapshots ? { snapshots } : {}),
    ...(syncAnswerBytes === undefined ? {} : { syncAnswerBytes }),
    ...(hold ? { emptyProposalHoldMs: hold.holdMs } : {}),
    ...(mempool ? { mempool } : {}),
    chainId: CHAIN,
    index: i,
    n: N,
    signer: fakeSigner(i),
    certs,
    store,
    transport,
    validator,
    consensus: { baseTimeoutMs: hold?.baseTimeoutMs ?? 150, maxBatchCommands, maxBatchBytes: 1 << 20, ...(recentlyCommittedLimit === undefined ? {} : { recentlyCommittedLimit }) },
    ...(metrics ? { metrics } : {}),
  });
}

describe('ValidatorNode runtime (in-process fakes for network and disk)', () => {
  const net = new FakeNetwork();
  const stores = Array.from({ length: N }, () => new FakeLedgerStore());
  const make = (i: number) => validatorNode(i, stores[i]!, net.transport(i));

  before(() => {
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
  });
  after(() => {
    for (const node of net.nodes) node?.stop();
  });

  it('commits signed requests, answers each with its receipt, and all replicas agree', async () => {
    const requests = Array.from({ length: 20 }, (_, k) => put(k, `key-${k}`, `value-${k}`));
    const answers = await net.nodes[0]!.submit(requests);
    assert.ok(answers.every((a) => a.verdict.kind === 'accept'));
    const receipts = await Promise.all(answers.map((a) => receipt(a.committed)));
    assert.ok(receipts.every((r) => r.result === Result.OK));
    assert.deepEqual(
      receipts.map((r) => r.position),
      receipts.map((_, k) => k),
      'log positions follow submission order',
    );
    await until(() => stores.every((s) => s.committedHeight() >= receipts.at(-1)!.height), 'every replica to commit');
    const roots = net.nodes.map((n) => n!.status().stateRoot);
    await until(() => new Set(net.nodes.map((n) => n!.status().stateRoot)).size === 1, `equal state roots (${roots})`);
    assert.equal(net.nodes[3]!.app.query(enc.encode('key-7'))?.toString(), enc.encode('value-7').toString());
    // Execution passes each request's client and sequence to the application: its replay record.
    assert.equal(net.nodes[3]!.app.replayRecord(client.publicKey)?.high, 19n);
    // A committed request submitted again is refused at once, not left waiting for a commit.
    const [again] = await net.nodes[3]!.submit([requests[7]!]);
    assert.deepEqual(again!.verdict, { kind: 'ignore', reason: 'replayed' });
    assert.equal(again!.committed, undefined);
  });

  it('answers every waiter of a request submitted twice, and holds no waiter once answered or cancelled', async () => {
    const req = put(900, 'twice', 'v');
    const [first] = await net.nodes[2]!.submit([req]);
    const [second] = await net.nodes[2]!.submit([req]);
    const [a, b] = await Promise.all([receipt(first!.committed), receipt(second!.committed)]);
    assert.deepEqual(a, b);
    assert.equal(net.nodes[2]!.waitingRequests, 0);
    // A node that never commits (not started): a client that gives up takes its waiter out.
    const idle = validatorNode(0, new FakeLedgerStore(), new FakeNetwork().transport(0));
    const [pending] = await idle.submit([put(901, 'never', 'v')]);
    assert.equal(idle.waitingRequests, 1);
    pending!.cancel!();
    pending!.cancel!();
    assert.equal(idle.waitingRequests, 0);
    idle.stop();
  });

  it('refuses a forged request and one for another chain without committing them', async () => {
    const forged = put(100, 'x', 'y');
    forged[forged.length - 1]! ^= 1;
    const otherChain = signRequest({ chainId: 'other', sequence: 101n, expiry: 1_000_000n, command: encodeCommand({ type: 'put', key: enc.encode('z'), value: enc.encode('z') }) }, client.secretKey);
    const answers = await net.nodes[1]!.submit([forged, otherChain]);
    assert.deepEqual(
      answers.map((a) => (a.verdict.kind === 'accept' ? 'accept' : a.verdict.reason)),
      ['bad-signature', 'wrong-chain'],
    );
  });

  it('a restarted node recovers its ledger and application from disk and catches up', async () => {
    net.nodes[2]!.stop();
    net.down.add(2);
    const before = stores[2]!.committedHeight();
    const stateBefore = net.nodes[2]!.status().stateRoot;
    const more = await net.nodes[0]!.submit(Array.from({ length: 6 }, (_, k) => put(200 + k, `late-${k}`, 'v')));
    const receipts = await Promise.all(more.map((a) => receipt(a.committed)));
    net.nodes[2] = make(2);
    assert.equal(net.nodes[2]!.status().stateRoot, stateBefore, 'application rebuilt from the ledger');
    assert.equal(stores[2]!.committedHeight(), before);
    net.down.delete(2);
    net.nodes[2]!.start();
    // Keep traffic flowing so the restarted node sees proposals and syncs.
    const nudge = await net.nodes[1]!.submit([put(300, 'nudge', 'v')]);
    await nudge[0]!.committed;
    await until(() => stores[2]!.committedHeight() >= receipts.at(-1)!.height, 'the restarted node to catch up');
    assert.equal(net.nodes[2]!.failure, undefined);
    for (let h = 1; h <= stores[2]!.committedHeight(); h++) {
      assert.deepEqual(stores[2]!.block(h)!.id, stores[0]!.block(h)!.id, `height ${h}`);
    }
    await until(() => net.nodes[2]!.status().stateRoot === net.nodes[0]!.status().stateRoot, 'equal state after catch-up');
  });
});

describe('ValidatorNode: the whole cluster restarts', () => {
  it('every validator stopped at once resumes where its safety state stands, and the chain goes on without the most advanced one', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    const make = (i: number) => validatorNode(i, stores[i]!, net.transport(i));
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
    try {
      const first = await net.nodes[0]!.submit(Array.from({ length: 5 }, (_, k) => put(2_000 + k, `before-${k}`, 'v')));
      const receipts = await Promise.all(first.map((a) => receipt(a.committed)));
      await until(() => stores.every((s) => s.committedHeight() >= receipts.at(-1)!.height), 'every replica to commit');
      for (const node of net.nodes) node!.stop();
      // Replicas voted above their committed top: their safety state bars timeouts below a QC
      // that only the certified tip kept.
      assert.ok(stores.some((s) => s.safetyStorage().load()!.oneChainRound > (s.commitQc()?.vote.round ?? 0)));
      const heights = stores.map((s) => s.committedHeight());
      for (let i = 0; i < N; i++) net.nodes[i] = make(i);
      // The one holding the highest QC stays down, so the others cannot borrow it from its messages.
      const qcRound = (i: number) => stores[i]!.certifiedTip()?.highQc.vote.round ?? 0;
      const absent = [0, 1, 2, 3].reduce((best, i) => (qcRound(i) > qcRound(best) ? i : best), 0);
      net.down.add(absent);
      const up = [0, 1, 2, 3].filter((i) => i !== absent);
      for (const i of up) net.nodes[i]!.start();
      for (const i of up) {
        const oneChainRound = stores[i]!.safetyStorage().load()!.oneChainRound;
        assert.ok(net.nodes[i]!.certifiedTip().highQc.vote.round >= oneChainRound, `validator ${i} resumed with a QC at or above its one-chain round ${oneChainRound}`);
      }
      // This harness has no request relay: the request goes to a validator whose proposals are
      // voted to a validator that is up (the next round's leader).
      const submitter = up.find((i) => up.includes((i + 1) % N))!;
      const [after] = await net.nodes[submitter]!.submit([put(2_100, 'after', 'v')]);
      const r = await receipt(after!.committed);
      assert.ok(r.height > Math.max(...heights), `committed at ${r.height}, above the heights before the restart (${heights})`);
      await until(() => new Set(up.map((i) => net.nodes[i]!.status().stateRoot)).size === 1, 'equal state roots after the restart');
      for (const i of up) assert.equal(net.nodes[i]!.failure, undefined);
    } finally {
      for (const node of net.nodes) node?.stop();
    }
  });
});

describe('ValidatorNode: a restart checks the top header`s claim against its own ledger', () => {
  it('refuses a ledger whose executed state at the claimed height differs from what the top block`s header carries', async () => {
    /** Fake: a disk whose executed state at one height has another state root than was stored. */
    class TamperedStore extends FakeLedgerStore {
      tamperedHeight = 0;
      override executed(height: number): ExecutedState | undefined {
        const e = super.executed(height);
        return e === undefined || height !== this.tamperedHeight ? e : { ...e, stateRoot: e.stateRoot.map((b) => b ^ 1) };
      }
    }
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new TamperedStore());
    const make = (i: number) => validatorNode(i, stores[i]!, net.transport(i));
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
    try {
      for (let k = 0; k < 4; k++) {
        const [a] = await net.nodes[0]!.submit([put(5_000 + k, `claim-${k}`, 'v')]);
        await receipt(a!.committed);
      }
      for (const node of net.nodes) node!.stop();
      const store = stores[0]!;
      const claim = store.block(store.committedHeight())!.executed;
      assert.ok(claim.height > 0, 'the top header claims a state above genesis');
      assert.doesNotThrow(() => make(0).stop(), 'the untouched ledger recovers');
      store.tamperedHeight = claim.height;
      assert.throws(() => make(0), (err: unknown) => err instanceof LedgerRecoveryError && err.message.includes(`height ${claim.height}`));
    } finally {
      for (const node of net.nodes) node?.stop();
    }
  });
});

describe('ValidatorNode: every validator crashes between a step\'s flush and the flush of what it committed', () => {
  it('the committed block lives on in the certified tip: after the restart it executes, and the chain goes on', async () => {
    /**
     * Fake: a disk that, once told to, fails the append of any block of more than 16 requests
     * (one executed in the step's second group), as a crash before that group's flush would
     * leave it: the step's first group (its vote and its tip) is on disk, the block is not.
     */
    class CrashingStore extends FakeLedgerStore {
      crash = false;
      override appendCommitted(...args: Parameters<FakeLedgerStore['appendCommitted']>): void {
        if (this.crash && args[0].payload.length > 16) throw new Error('fake crash before the commit flush');
        super.appendCommitted(...args);
      }
    }
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new CrashingStore());
    // Blocks of up to 32 requests: a commit of more than 16 executes in the step's second group.
    const make = (i: number) => validatorNode(i, stores[i]!, net.transport(i), 32);
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
    try {
      const warm = await net.nodes[0]!.submit([put(4_000, 'warm', 'v')]);
      await receipt(warm[0]!.committed);
      for (const s of stores) s.crash = true;
      // Admitted everywhere so that any leader proposes them in one block.
      const big = Array.from({ length: 20 }, (_, k) => put(4_001 + k, `lost-${k}`, 'v'));
      await net.nodes[0]!.submit(big);
      for (let i = 1; i < N; i++) await net.nodes[i]!.admit(big);
      await until(() => net.nodes.every((n) => n!.failure !== undefined), 'every validator to crash in the commit window');
      const heights = stores.map((s) => s.committedHeight());
      for (const node of net.nodes) node!.stop();
      for (const s of stores) s.crash = false;
      for (let i = 0; i < N; i++) net.nodes[i] = make(i);
      for (const node of net.nodes) node!.start();
      const [after] = await net.nodes[0]!.submit([put(4_100, 'after', 'v')]);
      const r = await receipt(after!.committed);
      assert.ok(r.height > Math.max(...heights), `committed at ${r.height}, above ${heights}`);
      // The block that no ledger held when they crashed was executed after the restart.
      await until(() => net.nodes.every((n) => n!.app.query(enc.encode('lost-19')) !== undefined), 'the lost block to execute everywhere');
      for (const node of net.nodes) assert.equal(node!.failure, undefined);
    } finally {
      for (const node of net.nodes) node?.stop();
    }
  });
});

describe('ValidatorNode: sync answers are bounded in bytes', () => {
  it('cuts an answer at a committed block certified by the next one, and a replica far behind catches up through many', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    // About one block of 8 requests per answer.
    const make = (i: number) => validatorNode(i, stores[i]!, net.transport(i), 8, undefined, undefined, undefined, 3_000);
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    net.down.add(3);
    for (let i = 0; i < 3; i++) net.nodes[i]!.start();
    try {
      // Submitted to validators 0 and 1 only: this harness has no request relay, and votes on
      // validator 2's proposals go to validator 3, which is down.
      for (let k = 0; k < 6; k++) {
        const answers = await net.nodes[k % 2]!.submit(Array.from({ length: 8 }, (_, j) => put(3_000 + 8 * k + j, `far-${k}-${j}`, 'x'.repeat(100))));
        await Promise.all(answers.map((a) => receipt(a.committed)));
      }
      const top = stores[0]!.committedHeight();
      const answer = net.nodes[0]!.serveSync(1);
      assert.ok(!('pruned' in answer));
      assert.ok(answer.blocks.length >= 1 && answer.blocks.length < top, `${answer.blocks.length} of ${top} blocks in one answer`);
      assert.deepEqual(answer.blocks.map((b) => b.height), answer.blocks.map((_, i) => i + 1));
      assert.deepEqual(answer.highQc.vote.blockId, answer.blocks.at(-1)!.id, 'the QC certifies the last block served');
      net.nodes[3]!.start();
      net.down.delete(3);
      const [nudge] = await net.nodes[0]!.submit([put(3_100, 'nudge', 'v')]);
      const r = await receipt(nudge!.committed);
      await until(() => stores[3]!.committedHeight() >= r.height, 'the replica far behind to catch up');
      assert.equal(net.nodes[3]!.failure, undefined);
      for (let h = 1; h <= r.height; h++) assert.deepEqual(stores[3]!.block(h)!.id, stores[0]!.block(h)!.id, `height ${h}`);
    } finally {
      for (const node of net.nodes) node?.stop();
    }
  });
});

describe('ValidatorNode: a storage failure in a timer halts the node without killing the process', () => {
  it('the pacemaker timer\'s step fails to flush: the node halts with the error, nothing is thrown past it', async () => {
    /** Fake: a disk that fails every durable group once told to. */
    class FailingLedgerStore extends FakeLedgerStore {
      failing = false;
      override durably<T>(fn: () => T): T {
        if (this.failing) throw new Error('fake disk failure');
        return super.durably(fn);
      }
    }
    const store = new FailingLedgerStore();
    // Alone (its peers never answer), so the round's timer fires and its timeout must be flushed.
    const node = validatorNode(0, store, new FakeNetwork().transport(0));
    node.start();
    try {
      store.failing = true;
      await until(() => node.failure !== undefined, 'the node to halt on the failed flush', 10_000);
      assert.match(node.failure!.message, /fake disk failure/);
    } finally {
      node.stop();
    }
  });
});

describe('ValidatorNode: a full mempool answers busy', () => {
  const busyCount = async (m: NodeMetrics) => (await m.busyRequests.get()).values.find((v) => v.labels['queue'] === 'mempool')?.value ?? 0;

  it('admits what fits, answers the rest busy with nothing to wait for, and admits again once they commit', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 0 }, false);
    for (let i = 0; i < N; i++) net.nodes[i] = validatorNode(i, stores[i]!, net.transport(i), 8, i === 0 ? metrics : undefined, undefined, { maxRequests: 3 });
    const node = net.nodes[0]!;
    try {
      // Not started yet, so nothing leaves the queue: 3 fit, the other 2 hear busy.
      const first = await node.submit(Array.from({ length: 5 }, (_, k) => put(1_000 + k, `full-${k}`, 'v')));
      assert.deepEqual(
        first.map((a) => (a.verdict.kind === 'accept' ? 'accept' : a.verdict.reason)),
        ['accept', 'accept', 'accept', 'busy', 'busy'],
      );
      assert.ok(first.slice(3).every((a) => a.committed === undefined && a.cancel === undefined));
      assert.equal(node.waitingRequests, 3, 'no receipt is waited for on behalf of a busy answer');
      assert.equal(node.acceptsRequests(), false);
      assert.equal(await busyCount(metrics), 2);
      for (const n of net.nodes) n!.start();
      const receipts = await Promise.all(first.slice(0, 3).map((a) => receipt(a.committed)));
      assert.ok(receipts.every((r) => r.result === Result.OK));
      await until(() => node.acceptsRequests(), 'room in the queue once its commands committed');
      assert.equal(node.acceptsRequests(3), false, 'not with three more already on their way');
      assert.equal(node.acceptsRequests(2), true);
      const [later] = await node.submit([put(1_003, 'full-3', 'v')]);
      assert.equal(later!.verdict.kind, 'accept', 'a request answered busy is accepted when retried');
      assert.equal((await receipt(later!.committed)).result, Result.OK);
      // Two blocks at least committed here, so the commit-interval histogram saw an interval.
      const intervals = (await metrics.commitIntervalSeconds.get()).values.find((v) => v.metricName === 'vsmr_commit_interval_seconds_count');
      assert.ok((intervals?.value ?? 0) >= 1, `commit intervals observed: ${intervals?.value}`);
    } finally {
      for (const n of net.nodes) n?.stop();
    }
  });

  it('waits on a copy already queued even when the queue is full (a client retrying after a timeout)', async () => {
    const node = validatorNode(0, new FakeLedgerStore(), new FakeNetwork().transport(0), 8, undefined, undefined, { maxRequests: 1 });
    try {
      const req = put(1_100, 'retried', 'v');
      const [first] = await node.submit([req]);
      assert.equal(first!.verdict.kind, 'accept');
      assert.equal(node.acceptsRequests(), false);
      const [again, other] = await node.submit([req, put(1_101, 'other', 'v')]);
      assert.equal(again!.verdict.kind, 'accept', 'the queued copy is waited on');
      assert.ok(again!.committed);
      assert.deepEqual(other!.verdict, { kind: 'ignore', reason: 'busy' });
      again!.cancel!();
      first!.cancel!();
    } finally {
      node.stop();
    }
  });

  it('a committed request relayed back to a restarted leader is dropped, not proposed round after round', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    // Validator 2's core remembers one committed request: restarted, it takes back the newest
    // from its log, not the old one. (A memory of 100k, the default, is outgrown by any busy
    // chain long before a request expires.)
    const make = (i: number) => validatorNode(i, stores[i]!, net.transport(i), 8, undefined, undefined, undefined, undefined, undefined, undefined, i === 2 ? 1 : undefined);
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    try {
      for (const n of net.nodes) n!.start();
      const old = put(1_300, 'old', 'v');
      const [first] = await net.nodes[0]!.submit([old]);
      const at = (await receipt(first!.committed)).height;
      const [next] = await net.nodes[0]!.submit([put(1_301, 'next', 'v')]);
      const above = (await receipt(next!.committed)).height;
      await until(() => stores[2]!.committedHeight() >= above, 'validator 2 to commit both');
      assert.ok(above > at);
      // Restarted, validator 2's core remembers only the newer request; a Byzantine peer relays
      // the old committed one to it. Stateless checks pass it, so it is queued.
      net.nodes[2]!.stop();
      net.nodes[2] = make(2);
      net.nodes[2]!.start();
      await net.nodes[2]!.admit([old]);
      assert.equal(net.nodes[2]!.pendingRequests, 1);
      // Traffic for a few rounds led by each validator: validator 2 drops the request instead of
      // proposing it. (It queues the requests of the blocks it votes for too, each until it
      // commits them, so its queue empties once the chain settles, unless it kept the old one.)
      for (let k = 0; k < 8; k++) {
        const [more] = await net.nodes[1]!.submit([put(1_400 + k, `more-${k}`, 'v')]);
        await receipt(more!.committed);
      }
      await until(() => net.nodes[2]!.pendingRequests === 0, 'validator 2 to drop the committed request and commit the rest');
      const [last] = await net.nodes[2]!.submit([put(1_500, 'last', 'v')]);
      assert.equal((await receipt(last!.committed)).result, Result.OK);
      const copies = Array.from({ length: stores[0]!.committedHeight() }, (_, h) => stores[0]!.block(h + 1)!.payload.filter((c) => Buffer.compare(c, old) === 0).length);
      assert.equal(copies.reduce((a, b) => a + b, 0), 1, 'committed once');
      assert.ok(net.nodes.every((n) => n!.failure === undefined));
    } finally {
      for (const n of net.nodes) n?.stop();
    }
  });

  it('restarted with its ledger, a validator remembers the commits of its log: a relayed committed request is not queued', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    for (let i = 0; i < N; i++) net.nodes[i] = validatorNode(i, stores[i]!, net.transport(i));
    try {
      for (const n of net.nodes) n!.start();
      const old = put(1_600, 'remembered', 'v');
      const [first] = await net.nodes[0]!.submit([old]);
      const at = (await receipt(first!.committed)).height;
      await until(() => stores[2]!.committedHeight() >= at, 'validator 2 to commit it');
      net.nodes[2]!.stop();
      net.nodes[2] = validatorNode(2, stores[2]!, net.transport(2));
      net.nodes[2]!.start();
      const [verdict] = await net.nodes[2]!.admit([old]);
      assert.equal(verdict!.kind, 'accept', 'stateless checks pass it');
      assert.equal(net.nodes[2]!.pendingRequests, 0, 'its core refuses it as committed');
    } finally {
      for (const n of net.nodes) n?.stop();
    }
  });

  it('a request that expires while queued is dropped by the leader that reaches it, and the chain goes on', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    for (let i = 0; i < N; i++) net.nodes[i] = validatorNode(i, stores[i]!, net.transport(i));
    try {
      // Only validator 0 holds it (no relay between fakes); it may commit at height 1 only.
      const [doomed] = await net.nodes[0]!.submit([put(1_200, 'doomed', 'v', 1n)]);
      assert.equal(doomed!.verdict.kind, 'accept');
      assert.equal(net.nodes[0]!.pendingRequests, 1);
      for (const n of net.nodes) n!.start();
      // Commits by validator 1 (leader of round 1) move the height past its expiry first.
      const [first] = await net.nodes[1]!.submit([put(1_201, 'first', 'v')]);
      await first!.committed;
      // Then validator 0 leads a round: it must drop the expired request, not propose it.
      await until(() => net.nodes[0]!.pendingRequests === 0, 'validator 0 to drop the expired request');
      const [next] = await net.nodes[0]!.submit([put(1_202, 'next', 'v')]);
      assert.equal((await receipt(next!.committed)).result, Result.OK);
      assert.ok(net.nodes.every((n) => n!.failure === undefined));
      doomed!.cancel!();
    } finally {
      for (const n of net.nodes) n?.stop();
    }
  });
});

describe('ValidatorNode: each client key holds at most its share of the mempool', () => {
  /** The real main-thread validator, counting the requests it was asked to check. */
  class CountingValidator extends MainThreadValidator {
    checked = 0;
    override async validate(requests: readonly Uint8Array[], height: number): Promise<Verdict[]> {
      this.checked += requests.length;
      return super.validate(requests, height);
    }
  }
  const other = ed25519KeypairFromSeed(new Uint8Array(32).fill(7));
  const putBy = (key: typeof client, sequence: number, name: string) =>
    signRequest({ chainId: CHAIN, sequence: BigInt(sequence), expiry: 1_000_000n, command: encodeCommand({ type: 'put', key: enc.encode(name), value: enc.encode('v') }) }, key.secretKey);
  const shareBusy = async (m: NodeMetrics) => (await m.busyRequests.get()).values.find((v) => v.labels['queue'] === 'client-share')?.value ?? 0;

  it('answers a key past its share busy before checking it, keeps room for other keys, counts relayed copies, and has room again once its requests commit', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 0 }, false);
    const counting = new CountingValidator(CHAIN);
    const mempool = { maxRequests: 16, perClient: 2 };
    for (let i = 0; i < N; i++) net.nodes[i] = validatorNode(i, stores[i]!, net.transport(i), 8, i === 0 ? metrics : undefined, undefined, mempool, undefined, i === 0 ? counting : undefined);
    const node = net.nodes[0]!;
    const [a0, a1, a2, a3] = [0, 1, 2, 3].map((k) => putBy(client, 3_000 + k, `share-${k}`));
    try {
      // Not started, so nothing leaves the queue: the key's two fill its share.
      const first = await node.submit([a0!, a1!, a2!]);
      assert.deepEqual(
        first.map((a) => (a.verdict.kind === 'accept' ? 'accept' : a.verdict.reason)),
        ['accept', 'accept', 'busy'],
      );
      assert.equal(counting.checked, 2, 'the request past the share was answered before any check');
      assert.equal(first[2]!.committed, undefined);
      assert.equal(await shareBusy(metrics), 1);
      const [b0] = await node.submit([putBy(other, 1, 'other-0')]);
      assert.equal(b0!.verdict.kind, 'accept', 'another key has room: the queue is far from full');
      const [again] = await node.submit([a0!]);
      assert.equal(again!.verdict.kind, 'accept', 'a copy of a queued request takes no room and is waited on');
      assert.equal(again!.copy, true);
      again!.cancel!();
      // A relayed request of the same key counts against the same share: checked, not queued.
      const [relayed] = await node.admit([a3!]);
      assert.equal(relayed!.kind, 'accept');
      assert.equal(node.pendingRequests, 3);
      assert.deepEqual(node.clientShare(client.publicKey), { commands: 2, bytes: a0!.length + a1!.length });
      for (const n of net.nodes) n!.start();
      const receipts = await Promise.all([first[0], first[1], b0].map((a) => receipt(a!.committed)));
      assert.ok(receipts.every((r) => r.result === Result.OK));
      await until(() => node.pendingRequests === 0, 'the queue to empty');
      const [retried] = await node.submit([a2!]);
      assert.equal(retried!.verdict.kind, 'accept', 'once its requests committed, the key has room again');
      assert.equal((await receipt(retried!.committed)).result, Result.OK);
      assert.ok(net.nodes.every((n) => n!.failure === undefined));
    } finally {
      for (const n of net.nodes) n?.stop();
    }
  });
});

describe('ValidatorNode: a share filled while a request was checked, and copies beside new requests', () => {
  const key = ed25519KeypairFromSeed(new Uint8Array(32).fill(9));
  const req = (sequence: number) =>
    signRequest({ chainId: CHAIN, sequence: BigInt(sequence), expiry: 1_000_000n, command: encodeCommand({ type: 'put', key: enc.encode(`c-${sequence}`), value: enc.encode('v') }) }, key.secretKey);
  const kinds = (answers: readonly { verdict: Verdict }[]) => answers.map((a) => (a.verdict.kind === 'accept' ? 'accept' : a.verdict.reason));

  it('two calls of one key checked at the same time: the second hears busy once the first filled the share, and waits on nothing', async () => {
    const node = validatorNode(0, new FakeLedgerStore(), new FakeNetwork().transport(0), 8, undefined, undefined, { maxRequests: 16, perClient: 2 });
    try {
      // Both pass the first look (the key holds nothing yet); the second finds the share full after its check.
      const [first, second] = await Promise.all([node.submit([req(1), req(2)]), node.submit([req(3), req(4)])]);
      assert.deepEqual(kinds(first), ['accept', 'accept']);
      assert.deepEqual(kinds(second), ['busy', 'busy']);
      assert.ok(second.every((a) => a.committed === undefined));
      assert.equal(node.waitingRequests, 2);
      assert.equal(node.pendingRequests, 2);
      for (const a of first) a.cancel!();
    } finally {
      node.stop();
    }
  });

  it('copies of queued requests in a frame take none of the room a new request of the same key needs', async () => {
    const node = validatorNode(0, new FakeLedgerStore(), new FakeNetwork().transport(0), 8, undefined, undefined, { maxRequests: 16, perClient: 4 });
    try {
      const first = await node.submit([req(1), req(2), req(3)]);
      assert.deepEqual(kinds(first), ['accept', 'accept', 'accept']);
      // One place left: two copies and a new request, the copies first.
      const again = await node.submit([req(1), req(2), req(4)]);
      assert.deepEqual(kinds(again), ['accept', 'accept', 'accept']);
      assert.deepEqual(again.map((a) => a.copy === true), [true, true, false]);
      assert.equal(node.pendingRequests, 4);
      const past = await node.submit([req(5)]);
      assert.deepEqual(kinds(past), ['busy'], 'now the share is full');
      for (const a of [...first, ...again]) a.cancel!();
    } finally {
      node.stop();
    }
  });
});

describe('ValidatorNode: nothing leaves a step before its writes are durable', () => {
  /** A store that knows when a durable group is open, and records writes made outside one. */
  class GroupWatchingStore extends FakeLedgerStore {
    open = 0;
    writesOutside = 0;
    /** Durable groups not nested in another: what vsmr_durable_flush_seconds observes. */
    outermost = 0;
    override durably<T>(fn: () => T): T {
      if (this.open === 0) this.outermost++;
      this.open++;
      try {
        return super.durably(fn);
      } finally {
        this.open--;
      }
    }
    override safetyStorage() {
      const inner = super.safetyStorage();
      return {
        load: () => inner.load(),
        store: (s: Parameters<typeof inner.store>[0]) => {
          if (this.open === 0) this.writesOutside++;
          inner.store(s);
        },
      };
    }
    override appendCommitted(...args: Parameters<FakeLedgerStore['appendCommitted']>): void {
      if (this.open === 0) this.writesOutside++;
      super.appendCommitted(...args);
    }
  }

  // 10 commands commit inside their step's group (small commits); 40 in a group of their own.
  for (const count of [10, 40]) {
    it(`sends and receipts wait until the group that made them is flushed; safety state and blocks are written only inside durable groups (${count} commands)`, async () => {
      const net = new FakeNetwork();
      const stores = Array.from({ length: N }, () => new GroupWatchingStore());
      let sentInsideGroup = 0;
      let sent = 0;
      const watched = (i: number) => {
        const inner = net.transport(i);
        const check = () => {
          sent++;
          if (stores[i]!.open > 0) sentInsideGroup++;
        };
        return {
          ...inner,
          broadcast: (m: Parameters<typeof inner.broadcast>[0]) => {
            check();
            inner.broadcast(m);
          },
          send: (to: number, m: Parameters<typeof inner.send>[1]) => {
            check();
            inner.send(to, m);
          },
        };
      };
      // Blocks big enough that the 40 commands commit past SMALL_COMMIT_COMMANDS, in a group of their own.
      const metrics = createNodeMetrics({ chainId: CHAIN, validator: 1 }, false);
      for (let i = 0; i < N; i++) net.nodes[i] = validatorNode(i, stores[i]!, watched(i), 64, i === 1 ? metrics : undefined);
      try {
        for (const node of net.nodes) node!.start();
        const answers = await net.nodes[1]!.submit(Array.from({ length: count }, (_, k) => put(500 + k, `grouped-${k}`, 'v')));
        const receipts = await Promise.all(answers.map((a) => receipt(a.committed)));
        assert.ok(receipts.length === count && receipts.every((r) => r.result === Result.OK));
        // The path under test: blocks past the small-commit bound commit in a group of their own.
        let biggest = 0;
        for (let h = 1; h <= stores[1]!.committedHeight(); h++) biggest = Math.max(biggest, stores[1]!.block(h)?.payload.length ?? 0);
        assert.ok(count > 16 ? biggest > 16 : biggest <= 16, `largest committed block: ${biggest} commands`);
        assert.ok(sent > 0);
        assert.equal(sentInsideGroup, 0, 'no message left while its step was still writing');
        assert.equal(stores.reduce((a, s) => a + s.writesOutside, 0), 0, 'safety state and blocks are written inside a durable group');
        assert.ok(stores.every((s) => s.groups > 0));
        // One flush observed per outermost group; nested steps join their group's flush.
        const flushes = (await metrics.durableFlushSeconds.get()).values.find((v) => v.metricName === 'vsmr_durable_flush_seconds_count')?.value;
        assert.equal(flushes, stores[1]!.outermost);
        assert.ok(stores[1]!.outermost < stores[1]!.groups, 'some steps nested in others');
      } finally {
        for (const node of net.nodes) node?.stop();
      }
    });
  }
});

describe('ValidatorNode: a held empty proposal ends on a command or on its timer', () => {
  it('a command admitted during the hold rides in the held block; with none the timer sends it; the metric names which', async () => {
    const net = new FakeNetwork();
    const stores = Array.from({ length: N }, () => new FakeLedgerStore());
    const metrics = Array.from({ length: N }, (_, i) => createNodeMetrics({ chainId: CHAIN, validator: i }, false));
    // The hold is capped at a quarter of the base timeout: 300 ms needs a base of 1.2 s or more,
    // and a base well above it keeps pacemaker timeouts out of the test.
    for (let i = 0; i < N; i++) net.nodes[i] = validatorNode(i, stores[i]!, net.transport(i), 8, metrics[i], { holdMs: 300, baseTimeoutMs: 5_000 });
    const holds = async (endedBy: 'command' | 'timer' | 'other' | 'round') => {
      let total = 0;
      for (const m of metrics) {
        const v = (await m.proposalHoldSeconds.get()).values.find((x) => x.metricName === 'vsmr_proposal_hold_seconds_count' && x.labels['ended_by'] === endedBy);
        total += v?.value ?? 0;
      }
      return total;
    };
    const holder = () => net.nodes.find((n) => n!.heldProposalRound !== undefined);
    try {
      for (const node of net.nodes) node!.start();
      // As the relay would, every validator admits each request (no pacemaker timeout needed).
      const firstRequest = put(700, 'held-1', 'v');
      const [first] = await net.nodes[0]!.submit([firstRequest]);
      for (let i = 1; i < N; i++) await net.nodes[i]!.admit([firstRequest]);
      await first!.committed;
      await until(() => holder() !== undefined, 'a leader holding the roots-only block');
      const round = holder()!.heldProposalRound!;
      const heightBefore = stores[0]!.committedHeight();
      // The next request reaches every validator while the leader holds.
      const next = put(701, 'held-2', 'v');
      const [second] = await net.nodes[0]!.submit([next]);
      for (let i = 1; i < N; i++) await net.nodes[i]!.admit([next]);
      const got = await receipt(second!.committed);
      assert.equal(await holds('command'), 1, 'the command ended the hold');
      assert.ok(got.height > heightBefore);
      assert.equal(stores[0]!.block(got.height)?.round, round, 'the command rode in the held round');
      // Idle afterwards: the next hold runs out and its timer sends the empty block.
      await until(() => holder() !== undefined, 'the next hold');
      const held = stores.map((s) => s.committedHeight());
      await until(() => holder() === undefined, 'the hold to run out');
      await until(() => stores.every((s, i) => s.committedHeight() > held[i]!), 'the held block to commit');
      assert.equal(await holds('timer'), 1);
      assert.equal(await holds('command'), 1);
      assert.equal((await holds('other')) + (await holds('round')), 0);
    } finally {
      for (const node of net.nodes) node?.stop();
    }
  });
});
