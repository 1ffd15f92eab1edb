import assert from 'node:assert/strict';
import { ed25519KeypairFromSeed } from '../../../crypto/ed25519/backends.js';
import { createNodeMetrics, type NodeMetrics } from '../../../node/observability/metrics.js';
import { genesisQc, makeBlock } from '../../../protocol/block.js';
import { encodeCommand } from '../../../protocol/command.js';
import { signRequest } from '../../../protocol/request.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { type SnapshotPolicy, ValidatorNode } from '../../../node/runtime/validator-node.js';
import { EXECUTED_WINDOW } from '../../../node/consensus/replica.js';
import { MainThreadValidator } from '../../../validation/stateless.js';
import { CHAIN, qcWith, signedTimeout, tcWith } from '../consensus/replica-harness.js';
import { FakeLedgerStore, FakeNetwork } from './fakes.js';

const N = 4;
const certs = new FakeCertificateOps(CHAIN, N);

/** Polls until `cond` holds; fails with `what` after the deadline instead of hanging. */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Validator 0 alone over `store`: its peers are absent, so what it sends goes nowhere, and the
 * test feeds it what it receives. Long timeouts: its rounds move only on what the test delivers.
 */
function loneValidator(store: FakeLedgerStore, net: FakeNetwork, metrics?: NodeMetrics, snapshots: SnapshotPolicy = { interval: 0, retainBlocks: 0 }): ValidatorNode {
  const node = new ValidatorNode({
    chainId: CHAIN,
    index: 0,
    n: N,
    signer: fakeSigner(0),
    certs,
    store,
    transport: net.transport(0),
    validator: new MainThreadValidator(CHAIN),
    consensus: { baseTimeoutMs: 60_000, maxBatchCommands: 8, maxBatchBytes: 1 << 20 },
    // By default no snapshots of its own: the restart tests prune by hand (pruneAsAfterSnapshot).
    snapshots,
    ...(metrics ? { metrics } : {}),
  });
  net.nodes[0] = node;
  return node;
}

/**
 * b1 <- b2 <- b3 in rounds 1, 2, 3 (b1 carrying `payload1`), then b5x in round 5 (after a TC of
 * round 4) carrying the QC on b3, which commits b2 at a validator that sees it. Delivered to
 * `node`, each from its round's leader.
 */
function chainCommittingB2(payload1: Uint8Array[] = []) {
  const b1 = makeBlock(CHAIN, { round: 1, height: 1, parentQc: genesisQc(CHAIN), author: 1, payload: payload1 });
  const b2 = makeBlock(CHAIN, { round: 2, height: 2, parentQc: qcWith(certs, b1), author: 2, payload: [] });
  const b3 = makeBlock(CHAIN, { round: 3, height: 3, parentQc: qcWith(certs, b2), author: 3, payload: [] });
  const qc3 = qcWith(certs, b3);
  const b5x = makeBlock(CHAIN, { round: 5, height: 4, parentQc: qc3, author: 1, payload: [] });
  const deliver = (node: ValidatorNode): void => {
    for (const b of [b1, b2, b3]) node.deliver(b.author, { type: 'proposal', block: b });
    node.deliver(b5x.author, { type: 'proposal', block: b5x, tc: tcWith(certs, 4, [qc3]) });
  };
  return { b1, b2, b3, b5x, deliver };
}

/**
 * Leaves `store` as the runtime does once a certified header covers its snapshot at `height`
 * with retainBlocks 0 (a header in its tip can, while `height` is still its top): the
 * snapshot, no block below it, and the executed states of the window below (takeSnapshot).
 */
function pruneAsAfterSnapshot(store: FakeLedgerStore, node: ValidatorNode, height: number): void {
  store.saveSnapshot(height, node.app.snapshot());
  store.pruneBelow(height, EXECUTED_WINDOW);
}

/**
 * The node-level counterpart of the core's "with the states and the proven commit below its
 * root" tests: what the runtime reads from a pruned ledger at restart must reach the core.
 * Validator 0 runs alone (loneValidator). b1 <- b2 <- b3 in rounds 1, 2, 3; the QC on b3 reaches it alone (in
 * b5x, round 5) and commits b2 here, where a snapshot at height 2 prunes every block below it
 * (retainBlocks 0). It restarts; the chain goes on from b2 with b7 (round 7, after a TC whose
 * highest QC is b2's), whose leader claims b1's state: a claim below the restarted root, which
 * the node can check only with the executed state the prune kept, and may vote for only because
 * its one remaining block's parent QC proves b1 committed.
 */
describe('ValidatorNode: restarted after a prune that left only its top block', () => {
  it('checks a header claiming a state below its root against the executed states the prune kept, and votes', async () => {
    const store = new FakeLedgerStore();
    const net = new FakeNetwork();
    const make = () => loneValidator(store, net);
    const { b2, deliver } = chainCommittingB2();

    let node = make();
    try {
      node.start();
      deliver(node);
      await until(() => store.committedHeight() === 2, 'b2 to commit');
      assert.equal(node.failure, undefined);
      node.stop();
      pruneAsAfterSnapshot(store, node, 2);
      assert.equal(store.block(1), undefined);
      const state1 = store.executed(1);
      assert.ok(state1 !== undefined, 'the prune kept the executed state of height 1');

      node = make();
      node.start();
      assert.equal(node.failure, undefined);
      const qc2 = qcWith(certs, b2);
      const b7 = makeBlock(CHAIN, { round: 7, height: 3, parentQc: qc2, author: 3, payload: [], executed: state1 });
      const lastVoted = () => store.safetyStorage().load()?.lastVotedRound ?? 0;
      assert.ok(lastVoted() < 7);
      node.deliver(b7.author, { type: 'proposal', block: b7, tc: tcWith(certs, 6, [qc2]) });
      await until(() => lastVoted() === 7, 'the vote for b7');
    } finally {
      node.stop();
    }
  });
});

/**
 * A restarted core's memory of commits comes from the application's log, not the ledger's blocks:
 * b1 commits a client request, a snapshot at height 2 prunes b1 (retainBlocks 0), and after the
 * restart a leader proposes the request again in b7. The node must refuse it (its application
 * would make it a no-op REPLAYED entry, but the command would be in the log twice) and still vote
 * for a proposal of the same round without it. With the ids read from the blocks the restart
 * holds (b2 alone), it votes for b7.
 */
describe('ValidatorNode: restarted after a prune dropped the block of a committed request', () => {
  it('refuses a proposal repeating the request, and votes for one without it', async () => {
    const store = new FakeLedgerStore();
    const net = new FakeNetwork();
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 0 }, false);
    const make = () => loneValidator(store, net, metrics);
    const client = ed25519KeypairFromSeed(new Uint8Array(32).fill(7));
    const command = encodeCommand({ type: 'put', key: new TextEncoder().encode('k'), value: new TextEncoder().encode('v') });
    const request = signRequest({ chainId: CHAIN, sequence: 1n, expiry: 1_000_000n, command }, client.secretKey);
    const { b2, deliver } = chainCommittingB2([request]);

    let node = make();
    try {
      node.start();
      deliver(node);
      await until(() => store.committedHeight() === 2, 'b1 and b2 to commit');
      assert.equal(node.app.logSize, 1);
      node.stop();
      pruneAsAfterSnapshot(store, node, 2);
      assert.equal(store.block(1), undefined, 'the snapshot pruned the block of the request');

      node = make();
      node.start();
      assert.equal(node.failure, undefined);
      const qc2 = qcWith(certs, b2);
      const tc6 = tcWith(certs, 6, [qc2]);
      const claim = store.executed(1);
      const proposalIn7 = (payload: Uint8Array[]) => makeBlock(CHAIN, { round: 7, height: 3, parentQc: qc2, author: 3, payload, executed: claim });
      const lastVote = () => store.safetyStorage().load()?.lastVote;
      const repeats = async () => (await metrics.rejectedMessages.get()).values.find((v) => String(v.labels.reason).includes('repeats a command'))?.value ?? 0;
      node.deliver(3, { type: 'proposal', block: proposalIn7([request]), tc: tc6 });
      const deadline = Date.now() + 20_000;
      while ((await repeats()) === 0 && lastVote()?.vote.round !== 7) {
        if (Date.now() > deadline) assert.fail('timed out waiting for the proposal repeating the request to be judged');
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.notEqual(lastVote()?.vote.round, 7, 'it voted for a block repeating a committed request');
      const without = proposalIn7([]);
      node.deliver(3, { type: 'proposal', block: without, tc: tc6 });
      await until(() => lastVote()?.vote.round === 7, 'the vote for the round-7 proposal without the request');
      assert.deepEqual(lastVote()?.vote.blockId, without.id);
      assert.equal(node.failure, undefined);
    } finally {
      node.stop();
    }
  });
});

/**
 * The runtime's half of keeping the block a validator voted for: its tip is written again when
 * the vote is all that changed (no new QC or TC), as when the QC came first in a peer's timeout
 * and the proposal carrying it after. A crash then leaves the block on disk.
 */
describe('ValidatorNode: restarted after voting for a block no QC it has seen certifies', () => {
  it('keeps the block in its tip, and after the restart votes for the block extending it', async () => {
    const store = new FakeLedgerStore();
    const net = new FakeNetwork();
    const make = () => loneValidator(store, net);
    const b1 = makeBlock(CHAIN, { round: 1, height: 1, parentQc: genesisQc(CHAIN), author: 1, payload: [] });
    const qc1 = qcWith(certs, b1);
    const b2 = makeBlock(CHAIN, { round: 2, height: 2, parentQc: qc1, author: 2, payload: [] });
    const b3 = makeBlock(CHAIN, { round: 3, height: 3, parentQc: qcWith(certs, b2), author: 3, payload: [] });
    const lastVoted = () => store.safetyStorage().load()?.lastVotedRound ?? 0;
    const tipRounds = () => store.certifiedTip()?.blocks.map((b) => b.round) ?? [];

    let node = make();
    try {
      node.start();
      node.deliver(1, { type: 'proposal', block: b1 });
      await until(() => lastVoted() === 1, 'the vote for b1');
      // The QC on b1 arrives first in a peer's timeout: the tip moves to it.
      node.deliver(3, { type: 'timeout', timeout: signedTimeout(2, qc1, 3), highQc: qc1 });
      await until(() => store.certifiedTip()?.highQc.vote.round === 1, 'the tip to take the QC on b1');
      const saves = store.tipsSaved;
      node.deliver(2, { type: 'proposal', block: b2 });
      await until(() => lastVoted() === 2, 'the vote for b2');
      assert.ok(store.tipsSaved > saves, 'the tip was written again for the vote alone');
      assert.deepEqual(tipRounds(), [1, 2]);
      node.stop();

      node = make();
      node.start();
      node.deliver(3, { type: 'proposal', block: b3 });
      await until(() => lastVoted() === 3, 'the vote for b3, which extends the kept b2');
      assert.equal(node.failure, undefined);
    } finally {
      node.stop();
    }
  });
});

/**
 * A snapshot is saved, and blocks pruned below it, only once a certified header covers its
 * state: until then no peer could prove it, and a validator far behind, finding the blocks it
 * needs pruned at f + 1 peers, would find no snapshot it could use either (the simulator's
 * snapshot model stalled so at n = 7 when the chain stopped right after a snapshot height).
 */
describe('ValidatorNode: snapshots wait for a certified header that covers them', () => {
  it('keeps every block until one does, then saves the snapshot and prunes below it', async () => {
    const store = new FakeLedgerStore();
    const net = new FakeNetwork();
    const node = loneValidator(store, net, undefined, { interval: 2, retainBlocks: 0 });
    const { b5x, deliver } = chainCommittingB2();
    try {
      node.start();
      deliver(node);
      await until(() => store.committedHeight() === 2, 'b2 to commit');
      // Every header so far claims the genesis state: nothing proves the state at height 2.
      assert.equal(store.latestSnapshot(), undefined, 'no snapshot saved before a header covers it');
      assert.equal(store.lowestBlockHeight(), 1, 'nothing pruned');
      assert.equal(node.serveSnapshot(0, 0), undefined);
      // b6 claims the state at height 2, and b7's QC on it commits b3 and b5x: now it is provable.
      const b6 = makeBlock(CHAIN, { round: 6, height: 5, parentQc: qcWith(certs, b5x), author: 2, payload: [], executed: store.executed(2)! });
      const b7 = makeBlock(CHAIN, { round: 7, height: 6, parentQc: qcWith(certs, b6), author: 3, payload: [], executed: store.executed(2)! });
      node.deliver(b6.author, { type: 'proposal', block: b6 });
      node.deliver(b7.author, { type: 'proposal', block: b7 });
      await until(() => store.latestSnapshot()?.height === 2, 'the snapshot at height 2 to be saved');
      assert.equal(store.lowestBlockHeight(), 2, 'pruned below it (retainBlocks 0)');
      const served = node.serveSnapshot(0, 0);
      assert.equal(served?.height, 2);
      assert.equal(served?.proof?.blocks.at(-1)?.id.length, 32);
      assert.equal(node.failure, undefined);
    } finally {
      node.stop();
    }
  });
});
