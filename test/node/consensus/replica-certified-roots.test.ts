import assert from 'node:assert/strict';
import { bytesEqual } from '../../../crypto/bytes.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { Block, QuorumCert } from '../../../protocol/types.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

/**
 * Headers a replica can hand a light client: blocks it holds (committed or certified above the
 * root) for which it also holds a QC (a later block's parent QC, or its highest QC).
 */
function certifiedHeaders(c: Cluster, i: number): Block[] {
  const tip = c.replicas[i]!.syncChain();
  const blocks = [...c.committed[i]!, ...tip.blocks];
  const qcs: QuorumCert[] = [...blocks.map((b) => b.parentQc), tip.highQc];
  return blocks.filter((b) => qcs.some((q) => bytesEqual(q.vote.blockId, b.id)));
}

describe('Replica: the latest executed roots reach a certified header when the chain goes idle', () => {
  for (const batches of [1, 3]) {
    it(`after ${batches} batch(es) of commands, every replica holds a certified header with its final roots, and proposing stops`, () => {
      const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2 });
      c.start();
      for (let b = 0; b < batches; b++) {
        c.submit([cmd(`k${b}-a`), cmd(`k${b}-b`)]);
        c.deliverAll();
      }
      // deliverAll drains the queue with no timer firing: proposing stopped on its own.
      const height = c.committed[0]!.length;
      c.deliverAll();
      assert.equal(c.committed[0]!.length, height);
      for (const i of c.live()) {
        const app = c.apps[i]!;
        const found = certifiedHeaders(c, i).some(
          (b) => bytesEqual(b.executed.stateRoot, app.stateRoot()) && bytesEqual(b.executed.logRoot, app.logRoot()),
        );
        assert.ok(found, `replica ${i} has a certified header carrying its current roots`);
      }
      // Bounded: a few empty blocks after the last batch, not a spin.
      assert.ok(height <= batches * 6, `height ${height}`);
    });
  }
});

describe('Replica: a leader holds an empty roots-only block for commands (emptyProposalHoldMs)', () => {
  const HOLD = 10;
  /** A cluster that committed one batch and went idle: returns it with its held leader and round. */
  function idleAfterOneBatch(): { c: Cluster; leader: number; round: number } {
    const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2, emptyProposalHoldMs: HOLD });
    c.start();
    c.submit([cmd('a'), cmd('b')]);
    c.deliverAll();
    const holders = c.live().filter((i) => c.proposalTimers[i]!.length > 0);
    assert.equal(holders.length, 1, 'one leader holds a block');
    const leader = holders[0]!;
    assert.equal(c.proposalTimers[leader]!.length, 1, 'armed once');
    const round = c.proposalTimers[leader]![0]!;
    assert.equal(c.replicas[leader]!.currentRound, round, 'for the round it leads now');
    for (const i of c.live()) assert.deepEqual(c.committedCommands(i), ['a', 'b'], 'the batch committed everywhere before the hold');
    return { c, leader, round };
  }

  it('holds the first roots-only block only; when the hold runs out the roots reach a certified header and proposing stops', () => {
    const { c } = idleAfterOneBatch();
    const height = c.committed[0]!.length;
    c.fireProposalTimers();
    c.deliverAll();
    assert.ok(c.committed[0]!.length > height, 'the held block went out and the chain moved on');
    // The block that only brings the certifying QC to the others is not held.
    assert.equal(c.proposalTimers.flat().length, 1, 'no second hold');
    const after = c.committed[0]!.length;
    c.deliverAll();
    assert.equal(c.committed[0]!.length, after, 'idle again');
    for (const i of c.live()) {
      const app = c.apps[i]!;
      const found = certifiedHeaders(c, i).some((b) => bytesEqual(b.executed.stateRoot, app.stateRoot()) && bytesEqual(b.executed.logRoot, app.logRoot()));
      assert.ok(found, `replica ${i} has a certified header carrying its current roots`);
    }
  });

  it('a command arriving during the hold rides in the held block, which also carries the latest roots', () => {
    const { c, leader, round } = idleAfterOneBatch();
    const roots = { state: c.apps[leader]!.stateRoot(), log: c.apps[leader]!.logRoot() };
    c.submit([cmd('next')]);
    c.deliverAll();
    for (const i of c.live()) assert.deepEqual(c.committedCommands(i), ['a', 'b', 'next'], `replica ${i}`);
    const held = c.committed[0]!.find((b) => b.round === round);
    assert.ok(held, 'the held round produced a committed block');
    assert.deepEqual(held.payload.map((p) => new TextDecoder().decode(p)), ['next']);
    assert.ok(bytesEqual(held.executed.stateRoot, roots.state) && bytesEqual(held.executed.logRoot, roots.log), 'its header certifies the roots the hold was for');
  });

  it('a proposal timer of an earlier round does not end the current hold; its own round\'s does', () => {
    const { c, leader, round } = idleAfterOneBatch();
    const sent = c.messages;
    c.step(leader, { type: 'proposal-timer', round: round - 1 });
    assert.equal(c.messages, sent, 'still held');
    c.step(leader, { type: 'proposal-timer', round });
    // The proposal to the n - 1 others, and the leader's own vote to the next leader.
    assert.equal(c.messages, sent + c.n, 'the held block is broadcast');
  });

  it('holds for the configured time, but never more than a quarter of the base timeout', () => {
    for (const [hold, base, armed] of [
      [HOLD, 100, HOLD],
      [1000, 100, 25],
    ] as const) {
      const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2, emptyProposalHoldMs: hold, baseTimeoutMs: base });
      c.start();
      c.submit([cmd('a'), cmd('b')]);
      c.deliverAll();
      assert.deepEqual(c.proposalTimerDelays.flat(), [armed], `hold ${hold} ms, base timeout ${base} ms`);
    }
  });

  it('without a hold the same chain proposes its roots-only blocks at once', () => {
    const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2 });
    c.start();
    c.submit([cmd('a'), cmd('b')]);
    c.deliverAll();
    assert.equal(c.proposalTimers.flat().length, 0);
  });
});
