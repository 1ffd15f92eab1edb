import assert from 'node:assert/strict';
import { genesisQc, makeBlock } from '../../../protocol/block.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { ConsensusAction, ConsensusEvent } from '../../../node/consensus/messages.js';
import { chainProvenCommitHeight, committedRunProvenHeight, Replica } from '../../../node/consensus/replica.js';
import type { Block, ExecutedState, QuorumCert, TimeoutCert } from '../../../protocol/types.js';
import { CHAIN, Cluster, cmd, MemorySafetyStorage, qcWith, signedVote, tcWith } from './replica-harness.js';

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

describe('Replica executed-state headers after a commit only some replicas saw', () => {
  const N = 4;
  const certs = new FakeCertificateOps(CHAIN, N);
  const GENESIS = genesisQc(CHAIN);
  const qcOf = (b: Block): QuorumCert => qcWith(certs, b);
  const tcOf = (round: number, highQc: QuorumCert): TimeoutCert => tcWith(certs, round, [highQc], [0, 2, 3]);
  const block = (round: number, parentQc: QuorumCert, author: number): Block =>
    makeBlock(CHAIN, { round, height: parentQc.vote.height + 1, parentQc, author, payload: [cmd(`p${round}`)] });
  const replica = (index: number) =>
    new Replica({ chainId: CHAIN, index, n: N, signer: fakeSigner(index), safetyStorage: new MemorySafetyStorage(), certs, baseTimeoutMs: 100, maxBatchCommands: 10, maxBatchBytes: 1 << 16 });
  /** A started replica that has received `blocks` as proposals from their authors. */
  const fedReplica = (index: number, blocks: readonly Block[]): Replica => {
    const r = replica(index);
    r.step({ type: 'start' });
    for (const b of blocks) r.step({ type: 'proposal', from: b.author, block: b });
    return r;
  };
  /** A made-up executed state of `b` at height `h` (the core compares, it does not compute). */
  const executedAt = (b: Block, h: number): ExecutedState => ({ height: h, blockId: b.id, stateRoot: new Uint8Array(32).fill(h), logRoot: new Uint8Array(32).fill(h + 8) });
  const proposalOf = (actions: readonly ConsensusAction[]) => actions.flatMap((a) => (a.type === 'broadcast' && a.message.type === 'proposal' ? [a.message.block] : []))[0];

  it('a leader whose root a QC off the chain committed claims only what the chain proves, so the others can vote', () => {
    // b1 (round 1) <- b2 (round 2) is certified, which commits b1; the QC on b2 reaches replica 1
    // alone (in a round-3 proposal of replica 3). Round 3 times out with b1's QC the highest, and
    // the chain goes on from b1 instead: b2x in round 4, certified in round 5, led by replica 1.
    const b1 = block(1, GENESIS, 1);
    const qc1 = qcOf(b1);
    const b2 = block(2, qc1, 2);
    const qc2 = qcOf(b2);
    const b3 = block(3, qc2, 3);
    const tc3 = tcOf(3, qc1);
    const b2x = block(4, qc1, 0);
    const leader = fedReplica(1, [b1, b2]);
    const voter = fedReplica(2, [b1, b2]);
    const commit = leader.step({ type: 'proposal', from: 3, block: b3 });
    assert.deepEqual(commit.flatMap((a) => (a.type === 'commit' ? a.blocks.map((b) => b.height) : [])), [1], 'the off-chain QC commits b1 at the leader');
    leader.step({ type: 'executed', state: executedAt(b1, 1) });
    assert.equal(leader.committedHeight, 1);
    assert.equal(voter.committedHeight, 0, 'the voter never saw the QC that committed b1');

    for (const r of [leader, voter]) r.step({ type: 'proposal', from: 0, block: b2x, tc: tc3 });
    let proposed: Block | undefined;
    for (const s of [0, 2, 3]) proposed ??= proposalOf(leader.step({ type: 'vote', from: s, vote: signedVote(b2x, s) }));
    assert.ok(proposed, 'the leader of round 5 proposes on the QC of b2x');
    assert.equal(proposed.round, 5);
    // Round 5 does not follow b2x's round 4 after b1's round 1: nothing on this chain commits b1.
    assert.equal(proposed.executed.height, 0, 'the header claims no state the chain does not prove committed');
    // The voter leads round 6, so its vote stays with it: its safety state shows it.
    voter.step({ type: 'proposal', from: 1, block: proposed });
    assert.equal(voter.safetyState.lastVotedRound, 5, 'a replica that did not commit b1 votes for it');
  });

  it('a voter that saw the off-chain QC votes for no header claiming what the chain does not prove', () => {
    // As above, but replica 2 saw the QC on b2 as well (2 of the 3 honest replicas did); the
    // leader of round 5 claims b1's executed state. Replica 2 executed b1 and could check it, but
    // certified, the claim would bind every later header to a state replica 0 never committed.
    const b1 = block(1, GENESIS, 1);
    const qc1 = qcOf(b1);
    const b2 = block(2, qc1, 2);
    const b3 = block(3, qcOf(b2), 3);
    const b2x = block(4, qc1, 0);
    const voter = fedReplica(2, [b1, b2, b3]);
    const executed1 = executedAt(b1, 1);
    voter.step({ type: 'executed', state: executed1 });
    assert.equal(voter.committedHeight, 1);
    voter.step({ type: 'proposal', from: 0, block: b2x, tc: tcOf(3, qc1) });
    assert.equal(voter.safetyState.lastVotedRound, 4);
    const header = (executed: ExecutedState) => makeBlock(CHAIN, { round: 5, height: 3, parentQc: qcOf(b2x), author: 1, payload: [cmd('p5')], executed });
    const claimed = voter.step({ type: 'proposal', from: 1, block: header(executed1) });
    assert.equal(voter.safetyState.lastVotedRound, 4, 'no vote for a claim the chain does not prove');
    assert.ok(!claimed.some((a) => a.type === 'reject'), 'no fault either: a restarted honest leader may know less');
    voter.step({ type: 'proposal', from: 1, block: header(b2x.executed) });
    assert.equal(voter.safetyState.lastVotedRound, 5, 'the parent`s claim gets the vote');
  });

  it('a leader may claim a state its committed chain proves below a root an off-chain QC committed', () => {
    // b1 <- b2 <- b3 in rounds 1, 2, 3. The QC on b2 (in b3) commits b1; the QC on b3 reaches the
    // leader in b4x (round 4), which is then abandoned: b2 is committed here by a QC off the chain,
    // but the committed pair (b1, b2) in rounds 1 and 2 proves b1 to anyone holding b2's QC. The
    // chain goes on from b2 with b5 (round 5, after a TC for round 4), whose QC the leader of
    // round 6 forms: its header claims b1's state, not b2's, nor its parent's older one.
    const b1 = block(1, GENESIS, 1);
    const b2 = block(2, qcOf(b1), 2);
    const qc2 = qcOf(b2);
    const b3 = block(3, qc2, 3);
    const b4x = block(4, qcOf(b3), 0);
    const b5 = block(5, qc2, 1);
    const leader = fedReplica(2, [b1, b2, b3, b4x]);
    assert.equal(leader.committedHeight, 2);
    leader.step({ type: 'executed', state: executedAt(b1, 1) });
    leader.step({ type: 'executed', state: executedAt(b2, 2) });
    leader.step({ type: 'proposal', from: 1, block: b5, tc: tcOf(4, qc2) });
    let proposed: Block | undefined;
    for (const s of [0, 1, 3]) proposed ??= proposalOf(leader.step({ type: 'vote', from: s, vote: signedVote(b5, s) }));
    assert.ok(proposed, 'the leader of round 6 proposes on the QC of b5');
    assert.equal(proposed.executed.height, 1, 'b1: proven by the committed pair, while b2 is proven only off the chain');
    assert.equal(Buffer.from(proposed.executed.blockId).toString('hex'), Buffer.from(b1.id).toString('hex'));
  });

  describe('after a restart from the ledger', () => {
    // b1 <- b2 in rounds 1 and 2; the QC on b2 reaches replica 2 in b3 (round 3) and commits b1
    // there alone. Round 3 times out with b1's QC the highest, and replica 2 restarts at its
    // ledger's top, b1, whose own header claims the genesis state.
    const b1 = block(1, GENESIS, 1);
    const qc1 = qcOf(b1);
    const b2 = block(2, qc1, 2);
    const b3 = block(3, qcOf(b2), 3);
    const executed1 = executedAt(b1, 1);
    const restarted = (rootClaim: ExecutedState | undefined): Replica => {
      const before = fedReplica(2, [b1, b2, b3]);
      before.step({ type: 'executed', state: executed1 });
      assert.equal(before.committedHeight, 1);
      const r = replica(2);
      r.step({ type: 'state-installed', executed: executed1, round: b1.round, highQc: qc1, ...(rootClaim ? { rootClaim } : {}) });
      r.step({ type: 'start' });
      return r;
    };
    /** b1's child in round 4 (after the TC for round 3) by replica 0, claiming `executed`. */
    const childOfRoot = (executed: ExecutedState) => makeBlock(CHAIN, { round: 4, height: 2, parentQc: qc1, author: 0, payload: [cmd('p4')], executed });

    it('a voter bounds a child of its root by the root header`s claim, not by its own committed state', () => {
      const r = restarted(b1.executed);
      const claimed = r.step({ type: 'proposal', from: 0, block: childOfRoot(executed1), tc: tcOf(3, qc1) });
      assert.equal(r.safetyState.lastVotedRound, 0, 'no vote for b1`s state: only a QC off the chain proves it committed');
      assert.ok(!claimed.some((a) => a.type === 'reject'), 'and no fault');
      r.step({ type: 'proposal', from: 0, block: childOfRoot(b1.executed), tc: tcOf(3, qc1) });
      assert.equal(r.safetyState.lastVotedRound, 4, 'the root header`s claim gets the vote: the restart keeps it checkable');
    });

    it('without the header (a snapshot) its installed state stands in, the looser bound docs/PROTOCOL.md names', () => {
      const r = restarted(undefined);
      r.step({ type: 'proposal', from: 0, block: childOfRoot(executed1), tc: tcOf(3, qc1) });
      assert.equal(r.safetyState.lastVotedRound, 4);
    });

    it('as leader it claims the root header`s claim for a child of its root', () => {
      const r = restarted(b1.executed);
      assert.equal(r.currentRound, 2, 'round 2 follows b1`s QC, and replica 2 leads it');
      const proposed = proposalOf(r.step({ type: 'commands', commands: [cmd('after-restart')] }));
      assert.ok(proposed);
      assert.equal(proposed.executed.height, 0, 'not b1`s state, which replicas 0 and 1 have not committed');
    });

    describe('with the states and the proven commit below its root', () => {
      // b1 <- b2 <- b3 in rounds 1, 2, 3; the QC on b3 reaches replica 2 alone (in b4x, round 4)
      // and commits b2 there, while the others committed b1 only. The chain goes on from b2 with
      // b5 (round 5, after a TC for round 4), whose leader claims b1's state: the committed pair
      // (b1, b2) proves it. Replica 2 restarts at b2 before b5 arrives.
      const c1 = block(1, GENESIS, 1);
      const c2 = block(2, qcOf(c1), 2);
      const qc2 = qcOf(c2);
      const c3 = block(3, qc2, 3);
      const c4x = block(4, qcOf(c3), 0);
      const state1 = executedAt(c1, 1);
      const state2 = executedAt(c2, 2);
      const b5 = makeBlock(CHAIN, { round: 5, height: 3, parentQc: qc2, author: 1, payload: [cmd('p5')], executed: state1 });
      const restartedAtC2 = (over: Partial<Extract<ConsensusEvent, { type: 'state-installed' }>>): Replica => {
        const r = replica(2);
        const actions = r.step({ type: 'state-installed', executed: state2, round: c2.round, highQc: qc2, rootClaim: c2.executed, earlier: [state1], provenCommitted: 1, ...over });
        assert.deepEqual(actions.filter((a) => a.type === 'reject'), []);
        r.step({ type: 'start' });
        return r;
      };

      it('before the crash it voted for the claim the chain proves below its root', () => {
        const r = fedReplica(2, [c1, c2, c3, c4x]);
        for (const s of [state1, state2]) r.step({ type: 'executed', state: s });
        assert.equal(r.committedHeight, 2);
        r.step({ type: 'proposal', from: 1, block: b5, tc: tcOf(4, qc2) });
        assert.equal(r.safetyState.lastVotedRound, 5);
      });

      it('after it, given both, it votes for that claim again', () => {
        const r = restartedAtC2({});
        r.step({ type: 'proposal', from: 1, block: b5, tc: tcOf(4, qc2) });
        assert.equal(r.safetyState.lastVotedRound, 5);
      });

      it('without the states below its root it cannot check the claim, so f + 1 such restarts would leave no quorum', () => {
        const r = restartedAtC2({ earlier: [] });
        r.step({ type: 'proposal', from: 1, block: b5, tc: tcOf(4, qc2) });
        assert.equal(r.safetyState.lastVotedRound, 0);
      });

      it('without the proven commit it takes the claim for one only an off-chain QC proves', () => {
        const r = restartedAtC2({ provenCommitted: undefined });
        r.step({ type: 'proposal', from: 1, block: b5, tc: tcOf(4, qc2) });
        assert.equal(r.safetyState.lastVotedRound, 0);
      });

      it('refuses states below that contradict the claim or do not lie below, and a proven height outside its ledger', () => {
        const bad: [string, Partial<Extract<ConsensusEvent, { type: 'state-installed' }>>][] = [
          ['a claim the states below contradict', { rootClaim: state1, earlier: [{ ...state1, stateRoot: new Uint8Array(32) }] }],
          ['a state at the installed height', { earlier: [state2] }],
          ['a proven height at the installed one', { provenCommitted: 2 }],
          ['a proven height below -1', { provenCommitted: -2 }],
          ['a fractional proven height', { provenCommitted: 0.5 }],
        ];
        for (const [what, over] of bad) {
          const r = replica(2);
          const actions = r.step({ type: 'state-installed', executed: state2, round: c2.round, highQc: qc2, rootClaim: c2.executed, earlier: [state1], provenCommitted: 1, ...over });
          assert.ok(actions.some((a) => a.type === 'reject'), what);
          assert.equal(r.committedHeight, 0, what);
        }
      });
    });

    it('refuses a claim that is not of an earlier block than the installed one', () => {
      const r = replica(2);
      const actions = r.step({ type: 'state-installed', executed: executed1, round: b1.round, highQc: qc1, rootClaim: executed1 });
      assert.ok(actions.some((a) => a.type === 'reject' && /claim/.test(a.reason)));
      assert.equal(r.committedHeight, 0);
    });

    for (const withTip of [true, false]) {
      it(`a lone validator restarted at its ledger's top ${withTip ? 'and tip' : 'without its tip record'} votes for its own claim and goes on committing`, () => {
        const c = new Cluster({ n: 1, certs: new FakeCertificateOps(CHAIN, 1), signer: fakeSigner, maxBatchCommands: 1 });
        c.start();
        for (let k = 0; k < 4; k++) {
          c.submit([cmd(`before-${k}`)]);
          c.runUntil(() => c.committedCommands(0).includes(`before-${k}`));
        }
        const top = c.committed[0]!.at(-1)!;
        assert.ok(top.executed.height < top.height, 'its header claims an earlier state than its own');
        // Without the tip (restarted before an idle round's timeout outran the top's QC, which the
        // safety state would then refuse to time out with), its first proposal extends the top
        // itself and claims the top's claim.
        c.restartFromLedger(0, withTip);
        assert.equal(c.replicas[0]!.committedHeight, top.height);
        for (let k = 0; k < 3; k++) {
          c.submit([cmd(`after-${k}`)]);
          c.runUntil(() => c.committedCommands(0).includes(`after-${k}`));
        }
        assert.deepEqual(c.committedCommands(0).slice(-3), ['after-0', 'after-1', 'after-2']);
        assert.equal(c.replayed[0]!.length, 0, 'nothing below the top committed again');
      });
    }
  });

  it('chainProvenCommitHeight: the parent of the last block whose round follows its parent`s', () => {
    const b1 = block(1, GENESIS, 1);
    const b2 = block(2, qcOf(b1), 2);
    const b4 = block(4, qcOf(b2), 0);
    const b6 = block(6, qcOf(b4), 2);
    const root = { round: 0, height: 0 };
    assert.equal(chainProvenCommitHeight(root, []), -1);
    assert.equal(chainProvenCommitHeight(root, [b1]), 0);
    assert.equal(chainProvenCommitHeight(root, [b1, b2]), 1);
    assert.equal(chainProvenCommitHeight(root, [b1, b2, b4, b6]), 1, 'gaps in rounds prove nothing more');
    assert.equal(chainProvenCommitHeight({ round: 1, height: 1 }, [b2]), 1, 'the root itself, when the next block follows it');
    assert.equal(chainProvenCommitHeight({ round: 2, height: 2 }, [b4, b6]), -1);
    assert.equal(committedRunProvenHeight([b1, b2, b4, b6]), 1, 'a committed run: its first block stands as the root');
    assert.equal(committedRunProvenHeight([]), -1);
    assert.equal(committedRunProvenHeight([b1]), 0, "block 1 follows genesis's round");
    // What a pruned ledger holds: its first block's parent QC carries the rounds below it.
    assert.equal(committedRunProvenHeight([b2]), 1, 'b2 follows b1, which its parent QC certifies');
    assert.equal(committedRunProvenHeight([b2, b4, b6]), 1);
    assert.equal(committedRunProvenHeight([b4, b6]), 1, "b4's parent QC: b2 (round 2) follows b1 (round 1), which it commits");
    assert.equal(committedRunProvenHeight([b6]), -1, "b6's parent QC: b4 (round 4) does not follow b2 (round 2)");
  });
});
