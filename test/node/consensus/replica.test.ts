import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DigestMemo } from '../../../crypto/digest-memo.js';
import { genesisQc, makeBlock } from '../../../protocol/block.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { ConsensusAction, ConsensusEvent, ConsensusMessage } from '../../../node/consensus/messages.js';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_COMMANDS, MAX_BACKOFF_EXPONENT, Replica, SENDER_SCAN_BEYOND_BLOCK } from '../../../node/consensus/replica.js';
import { type SafetyStorage, SafetyStorageError } from '../../../node/consensus/safety-rules.js';
import type { Block, QuorumCert, SignedVote, TimeoutCert } from '../../../protocol/types.js';
import { CHAIN, Cluster, cmd, MemorySafetyStorage, qcWith, signedTimeout as timeout, signedVote, tcWith, voteData } from './replica-harness.js';

const N = 4;
const BASE = 100;
const certs = new FakeCertificateOps(CHAIN, N);
const GENESIS = genesisQc(CHAIN);

interface ReplicaOpts {
  maxBatchCommands?: number;
  maxBatchBytes?: number;
  recentlyCommittedLimit?: number;
  maxPendingCommands?: number;
  maxPendingBytes?: number;
  isStale?: (command: Uint8Array, blockHeight: number) => boolean;
  senderOf?: (command: Uint8Array) => number | undefined;
  certs?: FakeCertificateOps;
  safetyStorage?: SafetyStorage;
  validatePayloads?: boolean;
}

function replica(index: number, opts: ReplicaOpts = {}): Replica {
  return new Replica({
    chainId: CHAIN,
    index,
    n: N,
    signer: fakeSigner(index),
    safetyStorage: opts.safetyStorage ?? new MemorySafetyStorage(),
    certs: opts.certs ?? certs,
    baseTimeoutMs: BASE,
    maxBatchCommands: opts.maxBatchCommands ?? 10,
    maxBatchBytes: opts.maxBatchBytes ?? 1 << 16,
    ...(opts.recentlyCommittedLimit === undefined ? {} : { recentlyCommittedLimit: opts.recentlyCommittedLimit }),
    ...(opts.maxPendingCommands === undefined ? {} : { maxPendingCommands: opts.maxPendingCommands }),
    ...(opts.maxPendingBytes === undefined ? {} : { maxPendingBytes: opts.maxPendingBytes }),
    ...(opts.isStale === undefined ? {} : { isStale: opts.isStale }),
    ...(opts.senderOf === undefined ? {} : { senderOf: opts.senderOf }),
    ...(opts.validatePayloads ? { validatePayloads: true } : {}),
  });
}

function block(round: number, parentQc: QuorumCert, payload: string[] = [`p${round}`], author = round % N): Block {
  return makeBlock(CHAIN, { round, height: parentQc.vote.height + 1, parentQc, author, payload: payload.map(cmd) });
}

const qcOf = (b: Block, signers?: readonly number[]): QuorumCert => qcWith(certs, b, signers);
const tcOf = (round: number, highQcs: readonly QuorumCert[], signers?: readonly number[]): TimeoutCert => tcWith(certs, round, highQcs, signers);

const proposal = (b: Block, tc?: TimeoutCert): ConsensusEvent =>
  tc ? { type: 'proposal', from: b.author, block: b, tc } : { type: 'proposal', from: b.author, block: b };

const votesIn = (actions: readonly ConsensusAction[]) =>
  actions.flatMap((a) => (a.type === 'send' && a.message.type === 'vote' ? [{ to: a.to, vote: a.message.vote }] : []));
const broadcasts = (actions: readonly ConsensusAction[]) => actions.flatMap((a) => (a.type === 'broadcast' ? [a.message] : []));
const proposalsIn = (actions: readonly ConsensusAction[]) =>
  broadcasts(actions).flatMap((m) => (m.type === 'proposal' ? [m] : []));
const commitsIn = (actions: readonly ConsensusAction[]) => actions.flatMap((a) => (a.type === 'commit' ? a.blocks.map((b) => b.round) : []));
const rejectsIn = (actions: readonly ConsensusAction[]) => actions.flatMap((a) => (a.type === 'reject' ? [a.reason] : []));
const timersIn = (actions: readonly ConsensusAction[]) => actions.flatMap((a) => (a.type === 'set-timer' ? [a] : []));

// A certified chain b1 <- b2 <- b3 in consecutive rounds 1, 2, 3 (leaders 1, 2, 3).
const b1 = block(1, GENESIS);
const qc1 = qcOf(b1);
const b2 = block(2, qc1);
const qc2 = qcOf(b2);
const b3 = block(3, qc2);

describe('Replica: voting', () => {
  it('votes for a valid proposal and sends the vote to the next leader only', () => {
    for (const index of [0, 1, 2, 3]) {
      const r = replica(index);
      r.step({ type: 'start' });
      const actions = r.step(proposal(b1));
      const votes = votesIn(actions);
      if (index === 2) {
        assert.equal(votes.length, 0, 'the next leader keeps its own vote');
      } else {
        assert.deepEqual(
          votes.map((v) => v.to),
          [2],
          `replica ${index}`,
        );
        assert.deepEqual(votes[0]!.vote.vote, voteData(b1));
      }
      assert.equal(broadcasts(actions).length, 0, 'votes are never broadcast');
    }
  });

  const rejected: [string, () => ConsensusEvent, RegExp][] = [
    ['proposal from a non-leader', () => ({ type: 'proposal', from: 3, block: block(1, GENESIS, ['x'], 3) }), /not the leader/],
    ['author differs from the sender', () => ({ type: 'proposal', from: 0, block: b1 }), /author is not the sender/],
    ['parent QC below quorum', () => proposal(block(2, { ...qc1, certificate: certs2of(b1) })), /invalid parent QC/],
    [
      'parent QC with a forged signature',
      () => {
        const cert = Uint8Array.from(qc1.certificate);
        cert[cert.length - 1]! ^= 1;
        return proposal(block(2, { ...qc1, certificate: cert }));
      },
      /invalid parent QC/,
    ],
    ['QC on different vote data', () => proposal(block(2, { ...qc1, vote: { ...qc1.vote, height: 7 } })), /invalid parent QC/],
    ['block id not matching its contents', () => proposal({ ...b2, payload: [cmd('other')] }), /block id/],
    ['round gap without a TC', () => proposal(block(3, qc1)), /round gap/],
    ['payload over maxBatchCommands', () => proposal(block(2, qc1, Array.from({ length: 11 }, (_, i) => `c${i}`))), /batch limits/],
    ['a command already in an ancestor', () => proposal(block(2, qc1, ['p1'])), /repeats a command/],
    ['a command twice in one block', () => proposal(block(2, qc1, ['z', 'z'])), /repeats a command/],
  ];
  it('stores a few distinct proposals of one round, refuses more as equivocation, and takes one delivered twice without complaint', () => {
    const r = replica(0);
    r.step({ type: 'start' });
    r.step(proposal(b1));
    assert.deepEqual(rejectsIn(r.step(proposal(b1))), []);
    for (let k = 1; k < 4; k++) r.step(proposal(block(1, GENESIS, [`other-${k}`])));
    const reasons = rejectsIn(r.step(proposal(block(1, GENESIS, ['one-too-many']))));
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /equivocation: more than 4 proposals for round 1/);
    // One already stored is no new proposal (the safety rules still refuse a second vote).
    assert.deepEqual(rejectsIn(r.step(proposal(block(1, GENESIS, ['other-2'])))), ['safety: equivocation']);
  });

  for (const [name, event, reason] of rejected) {
    it(`rejects: ${name}`, () => {
      const r = replica(0);
      r.step({ type: 'start' });
      r.step(proposal(b1));
      const actions = r.step(event());
      assert.equal(votesIn(actions).length, 0);
      const reasons = rejectsIn(actions);
      assert.equal(reasons.length, 1, JSON.stringify(actions));
      assert.match(reasons[0]!, reason);
    });
  }

  it('the same valid proposal that is rejected above when tampered is accepted (controls)', () => {
    const r = replica(0);
    r.step(proposal(b1));
    const actions = r.step(proposal(b2));
    assert.deepEqual(rejectsIn(actions), []);
    assert.deepEqual(
      votesIn(actions).map((v) => v.to),
      [3],
    );
  });

  it('never votes twice in a round (equivocating leader)', () => {
    const r = replica(0);
    assert.equal(votesIn(r.step(proposal(b1))).length, 1);
    const actions = r.step(proposal(block(1, GENESIS, ['other'])));
    assert.equal(votesIn(actions).length, 0);
    assert.match(rejectsIn(actions)[0]!, /equivocation/);
  });

  it('ignores a proposal whose parent is unknown (sync comes later) but still learns its QC', () => {
    const r = replica(0);
    const actions = r.step(proposal(b2));
    assert.equal(votesIn(actions).length, 0);
    assert.equal(r.currentRound, 2);
  });
});

/** A QC certificate carrying only 2 of the 3 needed signers, built the way the fake encodes it. */
function certs2of(b: Block): Uint8Array {
  const small = new FakeCertificateOps(CHAIN, 2); // quorum 2
  const agg = small.newVoteAggregator(voteData(b));
  agg.add(0, signedVote(b, 0).signature);
  const qc = agg.add(1, signedVote(b, 1).signature).qc!;
  return qc.certificate;
}

describe('Replica: vote aggregation and rounds', () => {
  it('a QC for round r moves the replica to round r + 1', () => {
    const cases: [string, ConsensusEvent[], number][] = [
      ['nothing seen', [], 1],
      ['proposal of round 1', [proposal(b1)], 1],
      ['proposal carrying QC(1)', [proposal(b1), proposal(b2)], 2],
      ['proposal carrying QC(2)', [proposal(b1), proposal(b2), proposal(b3)], 3],
      ['a timeout carrying QC(2)', [{ type: 'timeout', from: 1, timeout: timeout(3, qc2, 1), highQc: qc2 }], 3],
    ];
    for (const [name, events, round] of cases) {
      const r = replica(0);
      for (const e of events) r.step(e);
      assert.equal(r.currentRound, round, name);
    }
  });

  it('the next leader forms a QC from q distinct votes and proposes at once; duplicates do not count', () => {
    const leader = replica(2, { maxBatchCommands: 10 });
    leader.step({ type: 'commands', commands: [cmd('x')] });
    const feed = (from: number, v: SignedVote = signedVote(b1, from)) => leader.step({ type: 'vote', from, vote: v });
    // Knowing the parent lets it build on the QC; the leader's own vote is the first of three.
    leader.step(proposal(b1));
    assert.deepEqual(feed(0), []);
    assert.deepEqual(feed(0), [], 'a repeated vote is ignored');
    assert.deepEqual(feed(0), []);
    assert.equal(leader.currentRound, 1, 'two distinct signers are below quorum');
    const bad = { ...signedVote(b1, 1), signature: new Uint8Array(32) };
    assert.match(rejectsIn(feed(1, bad))[0]!, /invalid vote signature/);
    assert.equal(leader.currentRound, 1, 'a forged vote does not count');
    // The sender is the authenticated signer: after a bad share it has spent its slot this round.
    assert.deepEqual(feed(1), []);
    assert.equal(leader.currentRound, 1, 'a signer that sent a bad share is not counted in that round');
    const actions = feed(3);
    assert.equal(leader.currentRound, 2);
    const [p] = proposalsIn(actions);
    assert.ok(p, 'proposes as soon as the QC forms');
    assert.equal(p.block.round, 2);
    assert.deepEqual(p.block.parentQc.vote, voteData(b1));
    assert.deepEqual(p.block.payload, [cmd('x')]);
  });

  it('votes from another signer than the sender, or to the wrong leader, are rejected', () => {
    const leader = replica(2);
    assert.match(rejectsIn(leader.step({ type: 'vote', from: 1, vote: signedVote(b1, 0) }))[0]!, /not the sender/);
    const other = replica(3);
    assert.match(rejectsIn(other.step({ type: 'vote', from: 0, vote: signedVote(b1, 0) }))[0]!, /not the leader of round 2/);
  });
});

describe('Replica: commit rule (two-chain)', () => {
  it('commits a block when its child is certified in the consecutive round', () => {
    const r = replica(0);
    r.step(proposal(b1));
    assert.deepEqual(commitsIn(r.step(proposal(b2))), [], 'QC(b1) alone commits nothing');
    assert.deepEqual(commitsIn(r.step(proposal(b3))), [1], 'QC(b2) with b2.round = b1.round + 1 commits b1');
    assert.equal(r.committedHeight, 1);
    assert.deepEqual(commitsIn(r.step(proposal(b3))), [], 'each block commits once');
  });

  it('does not commit across a round gap; a later consecutive QC commits all ancestors in order', () => {
    const r = replica(0);
    const tc2 = tcOf(2, [qc1]);
    const c3 = block(3, qc1, ['c3']); // extends b1 after round 2 timed out
    const qc3 = qcOf(c3);
    const c4 = block(4, qc3, ['c4']);
    const qc4 = qcOf(c4);
    const c5 = block(5, qc4, ['c5']);
    r.step(proposal(b1));
    r.step(proposal(c3, tc2));
    assert.equal(r.currentRound, 3);
    assert.deepEqual(commitsIn(r.step(proposal(c4))), [], 'QC(c3) has parent round 1, not 2: no commit');
    assert.deepEqual(commitsIn(r.step(proposal(c5))), [1, 3], 'QC(c4) commits c3 and its uncommitted parent b1');
  });
});

describe('Replica: timeouts and the pacemaker', () => {
  it('on timer expiry signs and broadcasts a timeout with its high QC', () => {
    const r = replica(0);
    r.step(proposal(b1));
    r.step(proposal(b2));
    const actions = r.step({ type: 'timer', round: 2 });
    const [m] = broadcasts(actions);
    assert.ok(m && m.type === 'timeout');
    assert.equal(m.timeout.round, 2);
    assert.deepEqual(m.highQc, qc1);
    assert.ok(certs.verifyTimeout(m.timeout));
    assert.deepEqual(r.step({ type: 'timer', round: 1 }), [], 'a stale timer is ignored');
  });

  it('q timeouts form a TC that advances the round; the next leader extends the highest QC and attaches the TC', () => {
    const leader3 = replica(3);
    leader3.step(proposal(b1));
    leader3.step(proposal(b2)); // round 2, high QC = QC(b1), b1 uncommitted with payload
    assert.equal(leader3.currentRound, 2);
    const first = leader3.step({ type: 'timeout', from: 0, timeout: timeout(2, GENESIS, 0), highQc: GENESIS });
    assert.equal(leader3.currentRound, 2, 'one timeout is neither a quorum nor f + 1');
    assert.deepEqual(broadcasts(first), [], 'nor does it make this replica time out');
    // The second is f + 1: this replica times out too, and with its own the three are a quorum.
    const actions = leader3.step({ type: 'timeout', from: 1, timeout: timeout(2, qc1, 1), highQc: qc1 });
    const own = broadcasts(actions).find((m) => m.type === 'timeout');
    assert.ok(own && own.type === 'timeout' && own.timeout.signer === 3 && own.timeout.round === 2, 'it joined the timeout');
    assert.equal(leader3.currentRound, 3);
    const [p] = proposalsIn(actions);
    assert.ok(p, 'leader of round 3 proposes');
    assert.equal(p.block.round, 3);
    assert.deepEqual(p.block.parentQc.vote, qc1.vote, 'extends the highest QC in the TC');
    assert.ok(p.tc);
    assert.equal(p.tc.round, 2);
    assert.ok(certs.verifyTc(p.tc));
    assert.equal(p.tc.highestQc.vote.round, 1);
    // Other replicas accept it and vote (to the leader of round 4).
    const r1 = replica(1);
    r1.step(proposal(b1));
    r1.step(proposal(b2));
    assert.deepEqual(
      votesIn(r1.step(proposal(p.block, p.tc))).map((v) => v.to),
      [0],
    );
  });

  /** Replica `index` after round 2 timed out: its own timeout and two others' formed TC(2), and it is in round 3. */
  function pastTimedOutRound2(index: number): { r: Replica; own: ConsensusMessage | undefined } {
    const r = replica(index);
    r.step(proposal(b1));
    r.step(proposal(b2)); // round 2
    const own = broadcasts(r.step({ type: 'timer', round: 2 }))[0];
    for (const other of [0, 1, 2, 3].filter((i) => i !== index).slice(0, 2)) r.step({ type: 'timeout', from: other, timeout: timeout(2, qc1, other), highQc: qc1 });
    assert.equal(r.currentRound, 3, 'TC(2) moved it on');
    return { r, own };
  }

  it('answers a peer timing out in a round it has left with its highest TC, on its last timeout, once per round', () => {
    const { r, own } = pastTimedOutRound2(0);
    assert.ok(own?.type === 'timeout');
    // Replica 3 was away and times out in round 1.
    const stale = { type: 'timeout', from: 3, timeout: timeout(1, GENESIS, 3), highQc: GENESIS } as const;
    const sent = r.step(stale).flatMap((a) => (a.type === 'send' ? [a] : []));
    assert.equal(sent.length, 1);
    const [answer] = sent;
    assert.ok(answer && answer.to === 3 && answer.message.type === 'timeout');
    assert.deepEqual(answer.message.timeout, own.timeout, 'its own last timeout, no new signature');
    assert.equal(answer.message.tc?.round, 2);
    // The straggler, given the answer, is in round 3 too.
    const away = replica(3);
    away.step(proposal(b1));
    away.step({ ...answer.message, from: 0 });
    assert.equal(away.currentRound, 3);
    // Once per peer and round: a repeat gets nothing; the peer's current round gets nothing.
    assert.deepEqual(r.step(stale).filter((a) => a.type === 'send'), []);
    assert.deepEqual(r.step({ type: 'timeout', from: 1, timeout: timeout(3, qc1, 1), highQc: qc1 }).filter((a) => a.type === 'send'), []);
  });

  it('does not help a replica in step: a late timeout for the round its TC ends is answered only when the timer fires again; one carrying the TC never', () => {
    const { r } = pastTimedOutRound2(0);
    const sends = (e: ConsensusEvent) => r.step(e).filter((a) => a.type === 'send');
    // Replica 3's timeout for round 2 crossed the TC: it is on its way there, so no answer...
    const late = { type: 'timeout', from: 3, timeout: timeout(2, qc1, 3), highQc: qc1 } as const;
    assert.deepEqual(sends(late), []);
    // ...until its timer fires again in round 2: then it is stuck, and is sent the TC.
    const again = sends(late);
    assert.equal(again.length, 1);
    assert.ok(again[0]?.type === 'send' && again[0].message.type === 'timeout' && again[0].message.tc?.round === 2);
    // A helper's own answer (its timeout for round 2 with TC(2)) is not helped back.
    const { r: r2 } = pastTimedOutRound2(2);
    assert.ok(again[0]?.type === 'send' && again[0].message.type === 'timeout');
    const answer = again[0].message;
    assert.deepEqual(r2.step({ ...answer, from: 0 }).filter((a) => a.type === 'send'), []);
    assert.deepEqual(r2.step({ ...answer, from: 0 }).filter((a) => a.type === 'send'), [], 'not on a repeat either');
  });

  it('greets a validator connected anew with its last timeout, and has nothing to say before it timed out', () => {
    const r = replica(0);
    r.step(proposal(b1));
    r.step(proposal(b2));
    assert.deepEqual(r.step({ type: 'peer-connected', peer: 2 }), [], 'no timeout yet');
    const own = broadcasts(r.step({ type: 'timer', round: 2 }))[0];
    const greeting = r.step({ type: 'peer-connected', peer: 2 });
    assert.deepEqual(greeting, [{ type: 'send', to: 2, message: own }]);
    for (const peer of [0, -1, N, 1.5]) assert.deepEqual(r.step({ type: 'peer-connected', peer }), [], `peer ${peer}`);
  });

  it('checks no certificate of a peer whose certificate failed until its own round moves, and then does again', () => {
    const counting = new FakeCertificateOps(CHAIN, N);
    let tcChecks = 0;
    const verifyTc = counting.verifyTc.bind(counting);
    counting.verifyTc = (tc) => {
      tcChecks++;
      return verifyTc(tc);
    };
    const r = replica(0, { certs: counting });
    r.step({ type: 'start' });
    // Validator 2 sends timeouts carrying a forged TC for a round ahead, which would move the
    // replica if it were valid: checked once, then refused unchecked for the rest of the round.
    const forged = { ...tcOf(5, [GENESIS]), highQcRounds: [0, 0, 1] };
    const fromTwo = () => r.step({ type: 'timeout', from: 2, timeout: timeout(1, GENESIS, 2), highQc: GENESIS, tc: forged });
    assert.match(rejectsIn(fromTwo())[0]!, /invalid TC/);
    for (let k = 0; k < 5; k++) assert.match(rejectsIn(fromTwo())[0]!, /not checked: its sender sent an invalid certificate/);
    assert.equal(tcChecks, 1);
    // Another peer's valid TC is still checked, and moves the replica on.
    r.step({ type: 'timeout', from: 1, timeout: timeout(2, GENESIS, 1), highQc: GENESIS, tc: tcOf(1, [GENESIS]) });
    assert.equal(r.currentRound, 2);
    assert.equal(tcChecks, 2);
    // In the new round validator 2's certificates are checked again.
    assert.match(rejectsIn(r.step({ type: 'timeout', from: 2, timeout: timeout(2, GENESIS, 2), highQc: GENESIS, tc: forged }))[0]!, /invalid TC/);
    assert.equal(tcChecks, 3);
  });

  it('asks once more about a payload the runtime could not check, then waits, and votes once it is checked', () => {
    const r = replica(0, { validatePayloads: true });
    r.step({ type: 'start' });
    const asks = (actions: readonly ConsensusAction[]) => actions.filter((a) => a.type === 'validate-payload');
    const first = asks(r.step(proposal(b1)));
    assert.equal(first.length, 1);
    assert.equal(first[0]!.type === 'validate-payload' ? first[0]!.height : -1, b1.height);
    // The pool failed: asked again, once.
    assert.equal(asks(r.step({ type: 'payload-unchecked', blockId: b1.id })).length, 1);
    assert.equal(asks(r.step({ type: 'payload-unchecked', blockId: b1.id })).length, 0);
    // The proposal delivered again is asked about again, and a verdict brings the vote.
    assert.equal(asks(r.step(proposal(b1))).length, 1);
    assert.equal(votesIn(r.step({ type: 'payload-validated', blockId: b1.id, valid: true })).length, 1);
  });

  it('lets a failure to store the safety state escape the step, so that the runtime halts', () => {
    const failing: SafetyStorage = {
      load: () => null,
      store: () => {
        throw new Error('disk full');
      },
    };
    const r = replica(1, { safetyStorage: failing });
    r.step({ type: 'start' });
    assert.throws(() => r.step(proposal(b1)), (err: unknown) => err instanceof SafetyStorageError && /disk full/.test(err.message));
  });

  it('rejects a forged or under-quorum TC', () => {
    const tc = tcOf(2, [qc1]);
    const forged = { ...tc, highQcRounds: [1, 1, 0] };
    const tamperedBitmap = { ...tc, signers: Uint8Array.of(0b011), highQcRounds: [1, 1] };
    // Correctly signed by two validators, but two is below the quorum of three.
    const small = new FakeCertificateOps(CHAIN, 2).newTimeoutAggregator(2);
    small.add(timeout(2, qc1, 0), qc1);
    const under = small.add(timeout(2, qc1, 1), qc1)!;
    assert.ok(under);
    for (const bad of [forged, tamperedBitmap, under]) {
      const r = replica(0);
      r.step(proposal(b1));
      const actions = r.step(proposal(block(3, qc1, ['c3']), bad));
      assert.match(rejectsIn(actions)[0]!, /invalid TC/);
      assert.equal(r.currentRound, 1);
    }
  });

  it('timeouts back off exponentially, capped, and reset on progress', () => {
    const r = replica(0);
    const delays = (actions: readonly ConsensusAction[]) => timersIn(actions).map((t) => t.delayMs);
    assert.deepEqual(delays(r.step({ type: 'start' })), [BASE]);
    r.step({ type: 'commands', commands: [new TextEncoder().encode('waiting')] });
    const seen: number[] = [];
    for (let k = 0; k < 9; k++) seen.push(...delays(r.step({ type: 'timer', round: 1 })));
    const expected = Array.from({ length: 9 }, (_, k) => BASE * 2 ** Math.min(k + 1, MAX_BACKOFF_EXPONENT));
    assert.deepEqual(seen, expected);
    // A TC moves on without resetting: the network is still not making progress.
    const tcActions = r.step({ type: 'timeout', from: 1, timeout: timeout(1, GENESIS, 1), highQc: GENESIS });
    assert.deepEqual(delays(tcActions), []);
    const viaTc = r.step({ type: 'timeout', from: 2, timeout: timeout(1, GENESIS, 2), highQc: GENESIS });
    assert.equal(r.currentRound, 2);
    assert.deepEqual(delays(viaTc), [BASE * 2 ** MAX_BACKOFF_EXPONENT]);
    // A QC is progress: back to the base timeout.
    const c2 = block(2, GENESIS, ['c2']);
    const progress = r.step({ type: 'proposal', from: 3, block: block(3, qcOf(c2), ['c3']), tc: undefined } as ConsensusEvent);
    assert.equal(r.currentRound, 3);
    assert.deepEqual(delays(progress), [BASE]);
  });

  it('an idle replica backs off too, and goes back to the base timeout once, when commands arrive', () => {
    const r = replica(0);
    const delays = (actions: readonly ConsensusAction[]) => timersIn(actions).map((t) => t.delayMs);
    r.step({ type: 'start' });
    const idle: number[] = [];
    for (let k = 0; k < 3; k++) idle.push(...delays(r.step({ type: 'timer', round: 1 })));
    assert.deepEqual(idle, [BASE * 2, BASE * 4, BASE * 8]);
    // The first command re-arms the round's timer at the base; later ones do not put it off.
    assert.deepEqual(delays(r.step({ type: 'commands', commands: [new TextEncoder().encode('waiting')] })), [BASE]);
    assert.deepEqual(delays(r.step({ type: 'commands', commands: [new TextEncoder().encode('more')] })), []);
    // With work waiting, timeouts back off from there.
    assert.deepEqual(delays(r.step({ type: 'timer', round: 1 })), [BASE * 2]);
    assert.deepEqual(delays(r.step({ type: 'commands', commands: [new TextEncoder().encode('still more')] })), []);
    assert.deepEqual(delays(r.step({ type: 'timer', round: 1 })), [BASE * 4]);
  });

  it('duplicate timeouts do not double count', () => {
    const r = replica(0);
    for (let k = 0; k < 3; k++) {
      const actions = r.step({ type: 'timeout', from: 1, timeout: timeout(1, GENESIS, 1), highQc: GENESIS });
      assert.deepEqual(broadcasts(actions), [], 'one sender, however often, is not f + 1');
    }
    assert.equal(r.currentRound, 1);
    // A second distinct one is f + 1: this replica joins, and its own makes the third.
    r.step({ type: 'timeout', from: 2, timeout: timeout(1, GENESIS, 2), highQc: GENESIS });
    assert.equal(r.currentRound, 2);
  });
});

describe('Replica: batching', () => {
  it('the leader batches up to maxBatchCommands / maxBatchBytes and stays idle without commands', () => {
    const r = replica(1, { maxBatchCommands: 2, maxBatchBytes: 64 });
    assert.deepEqual(proposalsIn(r.step({ type: 'start' })), [], 'no commands: no block');
    const [p] = proposalsIn(r.step({ type: 'commands', commands: [cmd('a'), cmd('b'), cmd('c')] }));
    assert.ok(p);
    assert.deepEqual(p.block.payload, [cmd('a'), cmd('b')]);
    const big = replica(1, { maxBatchCommands: 10, maxBatchBytes: 5 });
    const [q] = proposalsIn(big.step({ type: 'commands', commands: [cmd('aa'), cmd('bb'), cmd('cc')] }));
    assert.ok(q);
    assert.deepEqual(q.block.payload, [cmd('aa'), cmd('bb')]);
  });

  it('does not re-propose commands that are already in uncommitted ancestors', () => {
    const leader2 = replica(2);
    leader2.step({ type: 'commands', commands: [cmd('p1'), cmd('new')] });
    const actions = leader2.step(proposal(b1));
    for (const s of [0, 1]) actions.push(...leader2.step({ type: 'vote', from: s, vote: signedVote(b1, s) }));
    const [p] = proposalsIn(actions);
    assert.ok(p);
    assert.deepEqual(p.block.payload, [cmd('new')]);
    assert.equal(leader2.pendingCommands, 2);
  });
});

describe('Replica: memory of committed commands', () => {
  // Empty: a voter queues the commands of the blocks it votes for until they commit.
  const qc3 = qcOf(b3);
  const b4 = block(4, qc3, []);
  const b5 = block(5, qcOf(b4), []);

  /** Commits b1, b2 and b3 (commands p1, p2, p3), then offers p1 and p3 again. */
  function pendingAfterRepeats(r: Replica): number {
    for (const b of [b1, b2, b3, b4, b5]) r.step(proposal(b));
    assert.equal(r.committedHeight, 3);
    assert.equal(r.pendingCommands, 0);
    r.step({ type: 'commands', commands: [cmd('p1'), cmd('p3')] });
    return r.pendingCommands;
  }

  it('keeps late copies of committed commands out of the queue', () => {
    assert.equal(pendingAfterRepeats(replica(0)), 0);
  });

  it('forgets the oldest committed ids beyond its limit, and only those', () => {
    assert.equal(pendingAfterRepeats(replica(0, { recentlyCommittedLimit: 2 })), 1, 'p1 was forgotten, p3 was not');
  });

  it('takes command ids from the memo it is given (the runtime shares its validation pool\'s)', () => {
    const asked: Uint8Array[] = [];
    const shared = new (class extends DigestMemo {
      override key(bytes: Uint8Array): string {
        asked.push(bytes);
        return super.key(bytes);
      }
    })();
    const r = new Replica({
      chainId: CHAIN,
      index: 0,
      n: N,
      signer: fakeSigner(0),
      safetyStorage: new MemorySafetyStorage(),
      certs,
      baseTimeoutMs: BASE,
      maxBatchCommands: 10,
      maxBatchBytes: 1 << 16,
      commandDigests: shared,
    });
    const c = cmd('x');
    r.step({ type: 'commands', commands: [c] });
    assert.ok(asked.includes(c), 'the core asked the shared memo for the command it queued');
  });

  it('refuses a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5]) assert.throws(() => replica(0, { recentlyCommittedLimit: bad }), RangeError);
  });
});

describe('Replica: bounded pending queue', () => {
  // Empty: a voter queues the commands of the blocks it votes for until they commit.
  const qc3 = qcOf(b3);
  const b4 = block(4, qc3, []);
  const b5 = block(5, qcOf(b4), []);

  it('keeps the first commands that fit its count bound and drops the rest', () => {
    // Round 1 is led by replica 1, so nothing leaves this queue by being proposed.
    const r = replica(3, { maxPendingCommands: 3 });
    r.step({ type: 'commands', commands: ['a', 'b'].map(cmd) });
    r.step({ type: 'commands', commands: ['b', 'c', 'd', 'e'].map(cmd) });
    assert.equal(r.pendingCommands, 3, 'a, b, c: the copy of b took no room');
    assert.equal(r.pendingRoom.commands, 0);
  });

  it('keeps its bytes within the byte bound', () => {
    const r = replica(3, { maxBatchBytes: 8, maxPendingBytes: 10 });
    r.step({ type: 'commands', commands: ['aaaa', 'bbbb', 'cccc', 'dd'].map(cmd) });
    assert.equal(r.pendingCommands, 3, 'aaaa and bbbb fit, cccc does not, dd does');
    assert.deepEqual(r.pendingRoom, { commands: DEFAULT_MAX_PENDING_COMMANDS - 3, bytes: 0 });
  });

  it('gives room back as the commands it holds commit', () => {
    const r = replica(0, { maxPendingCommands: 2 });
    r.step({ type: 'commands', commands: ['p1', 'p2', 'x'].map(cmd) });
    assert.equal(r.pendingCommands, 2);
    for (const b of [b1, b2, b3, b4, b5]) r.step(proposal(b));
    assert.equal(r.committedHeight, 3);
    assert.deepEqual(r.pendingRoom, { commands: 2, bytes: DEFAULT_MAX_PENDING_BYTES }, 'p1 and p2 committed: the queue is empty again');
    r.step({ type: 'commands', commands: ['x'].map(cmd) });
    assert.equal(r.pendingCommands, 1);
  });

  it('property: never holds more than its bounds, whatever arrives', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 8, max: 40 }), fc.array(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 6 }), { maxLength: 8 }), (maxCount, maxBytes, batches) => {
        const r = replica(3, { maxBatchBytes: 8, maxPendingCommands: maxCount, maxPendingBytes: maxBytes });
        const kept = new Map<string, number>();
        for (const batch of batches) {
          r.step({ type: 'commands', commands: batch.map(cmd) });
          // The model: first come, first kept, while both bounds allow.
          for (const c of batch) {
            const bytes = cmd(c).length;
            if (kept.has(c) || bytes > 8) continue;
            const used = [...kept.values()].reduce((x, y) => x + y, 0);
            if (kept.size < maxCount && used + bytes <= maxBytes) kept.set(c, bytes);
          }
          const used = [...kept.values()].reduce((x, y) => x + y, 0);
          assert.deepEqual(r.pendingRoom, { commands: maxCount - kept.size, bytes: maxBytes - used });
          assert.ok(kept.size <= maxCount && used <= maxBytes);
        }
      }),
    );
  });

  it('a voter queues the commands of a block it votes for, so an abandoned block`s commands still get proposed', () => {
    // Replica 3 never got p1 (it restarted, or p1's relay missed it) until it voted for b1.
    // Round 2 times out with no QC on b1, and replica 3 leads round 3.
    const r = replica(3);
    r.step(proposal(b1));
    assert.equal(r.safetyState.lastVotedRound, 1);
    assert.equal(r.pendingCommands, 1, 'p1, from the block it voted for');
    const [p] = proposalsIn(r.step({ type: 'timeout', from: 1, timeout: timeout(3, GENESIS, 1), highQc: GENESIS, tc: tcOf(2, [GENESIS]) }));
    assert.ok(p, 'replica 3 leads round 3 and has a command to propose');
    assert.equal(p.block.round, 3);
    assert.deepEqual(p.block.payload, [cmd('p1')]);
  });

  it('a voter does not queue the commands of a block it gets no vote for', () => {
    const r = replica(3);
    r.step(proposal(block(1, GENESIS, ['p1'], 2)));
    assert.equal(r.safetyState.lastVotedRound, 0, 'replica 2 does not lead round 1');
    assert.equal(r.pendingCommands, 0);
  });

  it('a leader drops stale commands when its proposal reaches them, and proposes the rest', () => {
    const stale: [string, number][] = [];
    const r = replica(1, { isStale: (c, h) => new TextDecoder().decode(c).startsWith('old') && stale.push([new TextDecoder().decode(c), h]) > 0 });
    const [p] = proposalsIn(r.step({ type: 'commands', commands: ['a', 'old-1', 'b', 'old-2'].map(cmd) }));
    assert.ok(p, 'replica 1 leads round 1');
    assert.deepEqual(p.block.payload, [cmd('a'), cmd('b')]);
    assert.deepEqual(stale, [['old-1', 1], ['old-2', 1]], 'asked at the height of the block being built');
    assert.equal(r.pendingCommands, 2, 'the stale ones left the queue; a and b wait for their commit');
    assert.deepEqual(r.pendingRoom, { commands: DEFAULT_MAX_PENDING_COMMANDS - 2, bytes: DEFAULT_MAX_PENDING_BYTES - 2 });
  });

  it('judges staleness at the height of the block it builds, above an uncommitted certified parent', () => {
    const heights: number[] = [];
    const r = replica(2, { isStale: (_c, h) => heights.push(h) < 0 });
    r.step({ type: 'commands', commands: [cmd('queued')] });
    r.step(proposal(b1));
    // Votes for b1 reach replica 2, the leader of round 2: it certifies b1 (height 1, nothing
    // committed yet) and builds height 2 on it.
    // Its own vote and two more make the quorum.
    const proposed: ConsensusAction[] = [];
    for (const s2 of [0, 1, 3]) proposed.push(...r.step({ type: 'vote', from: s2, vote: signedVote(b1, s2) }));
    const [p] = proposalsIn(proposed);
    assert.equal(p?.block.height, 2);
    assert.deepEqual(heights, [2], 'the queued command judged for height 2, not the committed height 0');
  });

  /** The sender of a test command 's<sender>-<n>': the number after the s. */
  const senderOf = (c: Uint8Array) => Number(new TextDecoder().decode(c).slice(1).split('-')[0]);
  const names = (p: readonly Uint8Array[]) => p.map((c) => new TextDecoder().decode(c));

  it('with a sender tag, a block takes each sender\'s first sixteenth first, then fills with the rest in queue order', () => {
    const queue = [...Array.from({ length: 20 }, (_, k) => `s0-${k}`), 's1-0', 's2-0', 's1-1'];
    const fair = proposalsIn(replica(1, { maxBatchCommands: 16, senderOf }).step({ type: 'commands', commands: queue.map(cmd) }))[0];
    // A sixteenth of 16 is 1: s0-0, s1-0, s2-0 first; then the passed-over ones in order.
    assert.deepEqual(names(fair!.block.payload), ['s0-0', 's1-0', 's2-0', ...Array.from({ length: 13 }, (_, k) => `s0-${k + 1}`)]);
    const fifo = proposalsIn(replica(1, { maxBatchCommands: 16 }).step({ type: 'commands', commands: queue.map(cmd) }))[0];
    assert.deepEqual(names(fifo!.block.payload), queue.slice(0, 16), 'without one, first come, first proposed');
  });

  it('with a sender tag, the first pass looks past a block\'s worth by SENDER_SCAN_BEYOND_BLOCK commands at most', () => {
    const heavy = Array.from({ length: 16 + SENDER_SCAN_BEYOND_BLOCK }, (_, k) => `s0-${k}`);
    const within = proposalsIn(replica(1, { maxBatchCommands: 16, senderOf }).step({ type: 'commands', commands: [...heavy.slice(0, -1), 's1-0'].map(cmd) }))[0];
    assert.ok(names(within!.block.payload).includes('s1-0'), 'the last place the first pass looks at');
    const beyond = proposalsIn(replica(1, { maxBatchCommands: 16, senderOf }).step({ type: 'commands', commands: [...heavy, 's1-0'].map(cmd) }))[0];
    assert.deepEqual(names(beyond!.block.payload), heavy.slice(0, 16), 'one place further it waits for a later block');
  });

  it('with a sender tag: a full block when the queue allows, each sender its share when the block has room for all, each sender\'s commands its earliest', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 80, size: 'max' }), fc.integer({ min: 1, max: 48 }), (senders, maxBatch) => {
        const queue = senders.map((s, k) => `s${s}-${k}`);
        const [p] = proposalsIn(replica(1, { maxBatchCommands: maxBatch, senderOf }).step({ type: 'commands', commands: queue.map(cmd) }));
        const payload = p === undefined ? [] : names(p.block.payload);
        assert.equal(payload.length, Math.min(maxBatch, queue.length));
        assert.equal(new Set(payload).size, payload.length, 'no command twice');
        const cap = Math.ceil(maxBatch / 16);
        const bySender = (list: readonly string[], s: number) => list.filter((c) => senderOf(cmd(c)) === s);
        const shares = [0, 1, 2, 3, 4, 5].map((s) => Math.min(bySender(queue, s).length, cap));
        for (let s = 0; s <= 5; s++) {
          const mine = bySender(payload, s);
          assert.deepEqual([...mine].sort(), bySender(queue, s).slice(0, mine.length).sort(), `sender ${s}'s earliest commands`);
          if (shares.reduce((a, b) => a + b, 0) <= maxBatch) assert.ok(mine.length >= shares[s]!, `sender ${s} got ${mine.length} of its share ${shares[s]}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('with a sender tag: the byte bound holds, stale commands are dropped and never proposed, nothing twice, each sender in queue order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ sender: fc.integer({ min: 0, max: 3 }), pad: fc.integer({ min: 0, max: 30 }), stale: fc.boolean() }), { maxLength: 60, size: 'max' }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 40, max: 400 }),
        (entries, maxBatch, maxBytes) => {
          const queue = entries.map((e, k) => `s${e.sender}-${k}${'.'.repeat(e.pad)}`);
          const stale = new Set(queue.filter((_, k) => entries[k]!.stale));
          const asked: string[] = [];
          const r = replica(1, {
            maxBatchCommands: maxBatch,
            maxBatchBytes: Math.max(maxBytes, 64),
            maxPendingBytes: 1 << 16,
            senderOf,
            isStale: (c) => {
              const name = new TextDecoder().decode(c);
              asked.push(name);
              return stale.has(name);
            },
          });
          const [p] = proposalsIn(r.step({ type: 'commands', commands: queue.map(cmd) }));
          const payload = p === undefined ? [] : names(p.block.payload);
          assert.ok(payload.reduce((sum, c) => sum + c.length, 0) <= Math.max(maxBytes, 64));
          assert.ok(payload.length <= maxBatch);
          assert.equal(new Set(payload).size, payload.length);
          assert.ok(payload.every((c) => !stale.has(c)), 'no stale command proposed');
          for (const name of asked) if (stale.has(name)) assert.equal(r.isPending(r.commandKey(cmd(name))), false, `${name} left the queue`);
          assert.ok(asked.length <= maxBatch + asked.filter((a) => stale.has(a)).length, 'staleness asked only of commands about to be taken');
          for (let s = 0; s <= 3; s++) {
            const mine = payload.filter((c) => senderOf(cmd(c)) === s);
            const order = queue.filter((c) => mine.includes(c));
            assert.deepEqual(mine, order, `sender ${s} in queue order`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with a sender share: each sender holds at most its share of the queue, counted exactly as commands come and go', () => {
    const SHARE = 3;
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('commands' as const), senders: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 8 }) }),
            fc.record({ kind: fc.constant('run' as const) }),
          ),
          { maxLength: 40, size: 'max' },
        ),
        (ops) => {
          const cluster = new Cluster({ n: N, certs, signer: fakeSigner, maxBatchCommands: 4, senderOf, senderShare: { commands: SHARE, bytes: 1 << 20 } });
          cluster.start();
          const sent: Uint8Array[] = [];
          let next = 0;
          for (const o of ops) {
            if (o.kind === 'commands') {
              const batch = o.senders.map((s) => cmd(`s${s}-${next++}`));
              sent.push(...batch);
              cluster.submit(batch);
            } else cluster.runUntil(() => false, 3);
            for (const r of cluster.replicas) {
              for (let s = 0; s <= 4; s++) {
                const queued = sent.filter((c) => senderOf(c) === s && r.isPending(r.commandKey(c)));
                const held = r.pendingOfSender(s);
                assert.ok(queued.length <= SHARE, `sender ${s} has ${queued.length} queued`);
                assert.deepEqual(held, { commands: queued.length, bytes: queued.reduce((sum, c) => sum + c.length, 0) });
              }
            }
          }
          // Commands of a sender past its share were dropped, never committed twice or lost silently
          // by the count: once the queue drains, every sender has room again.
          cluster.runUntil(() => cluster.replicas.every((r) => r.pendingCommands === 0), 30);
          for (const r of cluster.replicas) for (let s = 0; s <= 4; s++) assert.deepEqual(r.pendingOfSender(s), { commands: 0, bytes: 0 });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses a sender share without a sender tag, or with fewer bytes than one full block', () => {
    assert.throws(() => new Cluster({ n: N, certs, signer: fakeSigner, senderShare: { commands: 1, bytes: 1 << 20 } }), RangeError);
    assert.throws(() => new Cluster({ n: N, certs, signer: fakeSigner, senderOf, maxBatchBytes: 1 << 20, senderShare: { commands: 1, bytes: (1 << 20) - 1 } }), RangeError);
    assert.throws(() => new Cluster({ n: N, certs, signer: fakeSigner, senderOf, senderShare: { commands: 0, bytes: 1 << 20 } }), RangeError);
  });

  it('refuses bounds that are not positive integers, or bytes below one full block', () => {
    for (const bad of [0, -1, 1.5]) assert.throws(() => replica(0, { maxPendingCommands: bad }), RangeError);
    assert.throws(() => replica(0, { maxBatchBytes: 1 << 16, maxPendingBytes: (1 << 16) - 1 }), RangeError);
  });
});

describe('Replica: robustness', () => {
  it('never throws on malformed peer input', () => {
    const r = replica(0);
    r.step(proposal(b1));
    fc.assert(
      fc.property(
        fc.record({
          round: fc.oneof(fc.integer({ min: -3, max: 8 }), fc.constant(Number.NaN), fc.constant(2 ** 60)),
          height: fc.integer({ min: -1, max: 5 }),
          author: fc.integer({ min: -1, max: 5 }),
          from: fc.integer({ min: -1, max: 5 }),
          payload: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 12 }),
          idByte: fc.integer({ min: 0, max: 255 }),
          kind: fc.constantFrom('proposal', 'vote', 'timeout'),
        }),
        (x) => {
          const bl: Block = { ...b2, round: x.round, height: x.height, author: x.author, payload: x.payload, id: new Uint8Array(32).fill(x.idByte) };
          const events: Record<string, ConsensusEvent> = {
            proposal: { type: 'proposal', from: x.from, block: bl },
            vote: { type: 'vote', from: x.from, vote: { ...signedVote(b1, 0), signer: x.author, vote: { ...voteData(b1), round: x.round } } },
            timeout: { type: 'timeout', from: x.from, timeout: { ...timeout(2, qc1, 0), round: x.round, signer: x.author }, highQc: qc1 },
          };
          const actions = r.step(events[x.kind]!);
          assert.equal(votesIn(actions).length, 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Replica: restarted at its ledger`s top', () => {
  // The ledger holds b1 and b2 (committed); the core restarts at b2 and a leader proposes a block
  // repeating b1's command, as a faulty one may once the honest replicas have restarted.
  const installed = { height: 2, blockId: b2.id, stateRoot: new Uint8Array(32).fill(2), logRoot: new Uint8Array(32).fill(2) };
  const repeat = makeBlock(CHAIN, { round: 3, height: 3, parentQc: qc2, author: 3, payload: [cmd('p1')], executed: installed });
  /** Request ids as the application's log keeps them: SHA-256 of each command, concatenated. */
  const idsOf = (...names: string[]): Uint8Array => Buffer.concat(names.map((n) => new DigestMemo().digest(cmd(n))));
  const restarted = (committedIds?: Uint8Array, opts: ReplicaOpts = {}): Replica => {
    const r = replica(2, opts);
    const actions = r.step({ type: 'state-installed', executed: installed, round: 2, highQc: qc2, ...(committedIds ? { committedIds } : {}) });
    assert.deepEqual(rejectsIn(actions), []);
    r.step({ type: 'start' });
    return r;
  };

  it('refuses a proposal repeating a command its log says committed', () => {
    const actions = restarted(idsOf('p1', 'p2')).step(proposal(repeat));
    assert.equal(votesIn(actions).length, 0);
    assert.ok(rejectsIn(actions).some((r) => /repeats a command/.test(r)), JSON.stringify(rejectsIn(actions)));
  });

  it('without them it votes for it: its memory of commits does not survive the restart', () => {
    assert.equal(votesIn(restarted().step(proposal(repeat))).length, 1);
  });

  it('remembers only the newest ids its limit holds, as it would have before the restart', () => {
    // Oldest first: p1 is the one past a limit of 2.
    assert.equal(votesIn(restarted(idsOf('p1', 'p2', 'p3'), { recentlyCommittedLimit: 2 }).step(proposal(repeat))).length, 1);
    assert.equal(votesIn(restarted(idsOf('p2', 'p1', 'p3'), { recentlyCommittedLimit: 2 }).step(proposal(repeat))).length, 0);
  });

  it('refuses committed ids that are not whole 32-byte digests', () => {
    for (const bad of [new Uint8Array(33), [idsOf('p1')] as unknown as Uint8Array]) {
      const r = replica(2);
      assert.ok(rejectsIn(r.step({ type: 'state-installed', executed: installed, round: 2, highQc: qc2, committedIds: bad })).length > 0);
      assert.equal(r.committedHeight, 0);
    }
  });
});

describe('Replica: a recovered tip', () => {
  it('takes its QC even when its blocks no longer chain from the root, and fetches the chain from peers', () => {
    const r = replica(0);
    // b2's parent b1 is not known here: the blocks do not chain, the QC alone still counts.
    const actions = r.step({ type: 'tip-recovered', tip: { blocks: [b2], highQc: qc2 } });
    assert.deepEqual(rejectsIn(actions), []);
    assert.equal(r.highestQc.vote.round, 2);
    assert.equal(r.currentRound, 3);
    const onTimer = r.step({ type: 'timer', round: 3 });
    assert.ok(onTimer.some((a) => a.type === 'sync-request'), JSON.stringify(onTimer.map((a) => a.type)));
  });

  it('keeps the block it voted for after the chain up to its QC; restarted from that tip it extends it and queues its requests again', () => {
    const storage = new MemorySafetyStorage();
    const r = replica(2, { safetyStorage: storage });
    r.step({ type: 'start' });
    r.step(proposal(b1));
    assert.deepEqual(
      r.certifiedTip().blocks.map((b) => b.round),
      [1],
      'b1, voted for, extends the genesis QC',
    );
    r.step(proposal(b2));
    const tip = r.certifiedTip();
    assert.deepEqual(
      tip.blocks.map((b) => b.round),
      [1, 2],
      'b1 certified by b2`s QC, then b2, voted for',
    );
    assert.equal(tip.highQc.vote.round, 1);
    // Every replica went down before the QC on b2 reached it; the QC formed all the same. Each
    // restart starts from the safety state as it was then.
    const saved = storage.saved;
    const restarted = (t: typeof tip): Replica => {
      const q = replica(2, { safetyStorage: Object.assign(new MemorySafetyStorage(), { saved }) });
      assert.deepEqual(rejectsIn(q.step({ type: 'tip-recovered', tip: t })), []);
      q.step({ type: 'start' });
      return q;
    };
    const q = restarted(tip);
    assert.ok(q.isPending(q.commandKey(cmd('p1'))) && q.isPending(q.commandKey(cmd('p2'))), 'the kept blocks` requests are queued again');
    assert.deepEqual(
      q.certifiedTip().blocks.map((b) => b.round),
      [1, 2],
      'b2, its last vote`s block, stays in the tip it keeps next',
    );
    assert.equal(votesIn(q.step(proposal(b3))).length, 1, 'it holds b2, so it votes for b3, which extends it');
    const without = restarted({ ...tip, blocks: tip.blocks.slice(0, 1) });
    const actions = without.step(proposal(b3));
    assert.equal(votesIn(actions).length, 0, 'without b2 it cannot');
    assert.ok(actions.some((a) => a.type === 'sync-request'));
  });

  it('leaves out a block it voted for that does not extend its highest QC`s block', () => {
    const r = replica(2);
    r.step({ type: 'start' });
    for (const b of [b1, b2, b3]) r.step(proposal(b));
    assert.equal(r.highestQc.vote.round, 2);
    // After a TC whose highest QC is b1's, a block extending b1 gets its vote (b2's QC is not a lock).
    const fork = block(4, qc1, ['fork']);
    assert.equal(votesIn(r.step(proposal(fork, tcOf(3, [qc1])))).length, 1);
    assert.deepEqual(
      r.certifiedTip().blocks.map((b) => b.round),
      [2],
      'the chain above the root (b1, committed by the QC on b2) up to that QC, without the fork',
    );
  });

  it('refuses a tip whose QC does not verify, and keeps its own', () => {
    const r = replica(0);
    const forged = { ...qc2, certificate: Uint8Array.from(qc2.certificate, (b, i) => (i === qc2.certificate.length - 1 ? b ^ 1 : b)) };
    const reasons = rejectsIn(r.step({ type: 'tip-recovered', tip: { blocks: [], highQc: forged } }));
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /invalid QC in the recovered tip/);
    assert.equal(r.highestQc.vote.round, 0);
  });
});
