import assert from 'node:assert/strict';
import { makeBlock } from '../../../protocol/block.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { ExecutedState } from '../../../protocol/types.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function committedCluster(): Cluster {
  const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2 });
  c.start();
  for (let w = 0; w < 4; w++) {
    c.submit([cmd(`w${w}-a`), cmd(`w${w}-b`)]);
    c.deliverAll();
  }
  return c;
}

describe('Replica executed-state headers', () => {
  it('headers carry executed states that match every replica`s own execution', () => {
    const c = committedCluster();
    const heights = c.committed[0]!.length;
    assert.ok(heights >= 4);
    for (const i of c.live()) {
      assert.equal(hex(c.apps[i]!.stateRoot()), hex(c.apps[0]!.stateRoot()), `replica ${i} state root`);
      assert.equal(hex(c.apps[i]!.logRoot()), hex(c.apps[0]!.logRoot()), `replica ${i} log root`);
    }
    const headers = c.committed[0]!.map((b) => b.executed);
    assert.ok(headers.some((e) => e.height > 0), 'later headers certify executed states');
    for (const e of headers) {
      if (e.height === 0) continue;
      const own = c.executed[2]![e.height - 1]!;
      assert.equal(hex(e.blockId), hex(own.blockId));
      assert.equal(hex(e.stateRoot), hex(own.stateRoot));
      assert.equal(hex(e.logRoot), hex(own.logRoot));
    }
    for (let k = 1; k < headers.length; k++) assert.ok(headers[k]!.height >= headers[k - 1]!.height, 'headers never go back');
  });

  it('a voter refuses a header whose executed state disagrees with its own, and votes for the true one', () => {
    const c = committedCluster();
    // Play the leader of the round after the highest QC (it stayed idle), proposing to a replica
    // that has not voted in that round.
    const qc = c.replicas.map((r) => r.highestQc).reduce((a, b) => (b.vote.round > a.vote.round ? b : a));
    const round = qc.vote.round + 1;
    const leader = round % 4;
    const voter = c.live().find((i) => i !== leader && c.replicas[i]!.safetyState.lastVotedRound < round && c.executed[i]!.length > 0);
    assert.ok(voter !== undefined, 'a replica that has not voted in the next round');
    const truth: ExecutedState = c.executed[voter]!.at(-1)!;
    const propose = (executed: ExecutedState) =>
      c.replicas[voter]!.step({
        type: 'proposal',
        from: leader,
        block: makeBlock(CHAIN, { round, height: qc.vote.height + 1, parentQc: qc, author: leader, payload: [cmd('new')], executed }),
      });

    const lie = propose({ ...truth, stateRoot: new Uint8Array(32).fill(7) });
    assert.ok(lie.some((a) => a.type === 'reject' && /disagrees/.test(a.reason)));
    assert.ok(!lie.some((a) => a.type === 'send'), 'no vote for a lying header');
    const future = propose({ ...truth, height: qc.vote.height });
    assert.ok(!future.some((a) => a.type === 'send'), 'no vote for a state it has not executed');

    const honest = propose(truth);
    assert.ok(honest.some((a) => a.type === "send" && a.message.type === "vote"), JSON.stringify(honest));
  });
});
