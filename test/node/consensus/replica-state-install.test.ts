import assert from 'node:assert/strict';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { ConsensusAction, ConsensusEvent } from '../../../node/consensus/messages.js';
import { DEFAULT_MAX_PENDING_BYTES, Replica } from '../../../node/consensus/replica.js';
import type { Block, ExecutedState, QuorumCert } from '../../../protocol/types.js';
import { INITIAL_SAFETY_STATE } from '../../../node/consensus/safety-rules.js';
import { CHAIN, Cluster, cmd, MemorySafetyStorage } from './replica-harness.js';

/** A chain of committed blocks (with executed states and the QCs certifying them) from a 4-replica run. */
function donorChain(): { blocks: Block[]; executed: ExecutedState[]; qcOf: (h: number) => QuorumCert; highQc: QuorumCert; tip: Block[] } {
  const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2 });
  c.start();
  for (let w = 0; w < 6; w++) {
    c.submit([cmd(`w${w}-a`), cmd(`w${w}-b`)]);
    c.runUntil(() => c.committed[0]!.length >= w + 2);
  }
  const blocks = c.committed[0]!;
  const chain = c.replicas[0]!.syncChain();
  const all = [...blocks, ...chain.blocks];
  // The QC certifying block h is the parent QC of block h + 1.
  const qcOf = (h: number) => all[h]!.parentQc;
  return { blocks, executed: c.executed[0]!, qcOf, highQc: chain.highQc, tip: chain.blocks };
}

function freshReplica(index = 3, safetyStorage = new MemorySafetyStorage(), share?: { commands: number; bytes: number }): Replica {
  return new Replica({
    // The sender of a command is its first byte.
    ...(share ? { senderOf: (c: Uint8Array) => c[0], senderShare: share } : {}),
    chainId: CHAIN,
    index,
    n: 4,
    signer: fakeSigner(index),
    safetyStorage,
    certs: new FakeCertificateOps(CHAIN, 4),
    baseTimeoutMs: 100,
    maxBatchCommands: 2,
    maxBatchBytes: 1 << 20,
  });
}

const of = <T extends ConsensusAction['type']>(actions: readonly ConsensusAction[], type: T) =>
  actions.filter((a): a is Extract<ConsensusAction, { type: T }> => a.type === type);

describe('Replica: state-installed (root jump after a snapshot or a restart)', () => {
  const d = donorChain();
  const h = 4;
  const install = (over: Partial<Extract<ConsensusEvent, { type: 'state-installed' }>> = {}): ConsensusEvent => ({
    type: 'state-installed',
    executed: d.executed[h - 1]!,
    round: d.blocks[h - 1]!.round,
    highQc: d.qcOf(h),
    syncFrom: 1,
    ...over,
  });
  const tampered = (qc: QuorumCert): QuorumCert => ({ ...qc, certificate: Uint8Array.from(qc.certificate, (b, i) => (i === qc.certificate.length - 1 ? b ^ 1 : b)) });

  const table: {
    name: string;
    before?: ConsensusEvent[];
    event: ConsensusEvent;
    height: number;
    syncTo?: { to: number; fromHeight: number };
    rejected: boolean;
  }[] = [
    { name: 'moves the root up and asks the peer for the blocks above it', event: install(), height: h, syncTo: { to: 1, fromHeight: h + 1 }, rejected: false },
    { name: 'works without a QC (restart from a ledger holding none)', event: install({ highQc: undefined, syncFrom: undefined }), height: h, rejected: false },
    { name: 'never asks itself', event: install({ syncFrom: 3 }), height: h, rejected: false },
    { name: 'ignores an out-of-range peer index', event: install({ syncFrom: 9 }), height: h, rejected: false },
    { name: 'ignores a state at or below the root', before: [install()], event: install({ executed: d.executed[h - 2]!, round: d.blocks[h - 2]!.round, highQc: d.qcOf(h - 1) }), height: h, rejected: false },
    { name: 'refuses a QC that does not verify, staying where it was', event: install({ highQc: tampered(d.qcOf(h)) }), height: 0, rejected: true },
    { name: 'refuses a malformed round', event: install({ round: -1 }), height: 0, rejected: true },
  ];

  for (const row of table) {
    it(row.name, () => {
      const r = freshReplica();
      for (const e of row.before ?? []) r.step(e);
      const actions = r.step(row.event);
      assert.equal(r.committedHeight, row.height);
      assert.equal(of(actions, 'reject').length > 0, row.rejected, JSON.stringify(of(actions, 'reject')));
      const syncs = of(actions, 'sync-request');
      assert.deepEqual(syncs.map((s) => ({ to: s.to, fromHeight: s.fromHeight })), row.syncTo ? [row.syncTo] : []);
    });
  }

  it('empties its queue of commands: the blocks it jumped over may have committed them', () => {
    const r = freshReplica(3, new MemorySafetyStorage(), { commands: 1, bytes: 1 << 20 });
    r.step({ type: 'commands', commands: [cmd('w0-a'), cmd('later'), cmd('w1')] });
    assert.equal(r.pendingCommands, 2, "one of sender 'w' past its share of 1");
    r.step(install());
    assert.equal(r.pendingCommands, 0);
    assert.equal(r.pendingRoom.bytes, DEFAULT_MAX_PENDING_BYTES);
    assert.deepEqual(r.pendingOfSender('w'.charCodeAt(0)), { commands: 0, bytes: 0 }, 'its senders hold nothing either');
    r.step({ type: 'commands', commands: [cmd('w2')] });
    assert.equal(r.pendingCommands, 1);
  });

  it('a restarted leader that proposed in its round before the crash does not propose there again', () => {
    // Its proposal of that round went out before the crash; proposing anew would equivocate.
    // The saved proposal round says so, or, in a state saved before that record existed, the
    // saved vote (a leader votes on its own proposal). Without either, the same replica proposes.
    const round = d.qcOf(h).vote.round + 1;
    const leader = round % 4;
    const proposalsIn = (storage: MemorySafetyStorage) => {
      const r = freshReplica(leader, storage);
      const actions = [...r.step(install({ syncFrom: undefined })), ...r.step({ type: 'commands', commands: [cmd('after-restart')] })];
      assert.equal(r.currentRound, round);
      return of(actions, 'broadcast').filter((a) => a.message.type === 'proposal');
    };
    const fresh = new MemorySafetyStorage();
    assert.equal(proposalsIn(fresh).length, 1, 'a leader with nothing saved for the round proposes');
    assert.equal(fresh.saved?.lastProposedRound, round, 'and records the round before the proposal leaves');
    const proposed = new MemorySafetyStorage();
    proposed.saved = { ...INITIAL_SAFETY_STATE, lastProposedRound: round };
    assert.deepEqual(proposalsIn(proposed), []);
    const voted = new MemorySafetyStorage();
    const vote = { ...d.qcOf(h).vote, round };
    voted.saved = { ...INITIAL_SAFETY_STATE, lastVotedRound: round, lastVote: { vote, signer: leader, signature: fakeSigner(leader).sign(vote.blockId) } };
    assert.deepEqual(proposalsIn(voted), []);
  });

  it('takes the installed QC as its highest and enters the round after it', () => {
    const r = freshReplica();
    r.step(install());
    assert.equal(r.highestQc.vote.round, d.qcOf(h).vote.round);
    assert.equal(r.currentRound, d.qcOf(h).vote.round + 1);
  });

  it('then commits the blocks above the installed root from an ordinary sync response', () => {
    const r = freshReplica();
    r.step(install());
    const above = [...d.blocks.slice(h), ...d.tip];
    const actions = r.step({ type: 'sync-response', from: 1, blocks: above, highQc: d.highQc });
    assert.deepEqual(of(actions, 'reject'), []);
    const committed = of(actions, 'commit').flatMap((a) => a.blocks);
    assert.ok(committed.length > 0);
    assert.equal(committed[0]!.height, h + 1);
    assert.deepEqual(
      committed.map((b) => b.id),
      d.blocks.slice(h, h + committed.length).map((b) => b.id),
    );
  });

  it('refuses a sync response that does not chain from the installed root', () => {
    const r = freshReplica();
    r.step(install());
    const actions = r.step({ type: 'sync-response', from: 1, blocks: d.blocks.slice(h + 1), highQc: d.highQc });
    assert.equal(of(actions, 'commit').length, 0);
    assert.equal(of(actions, 'reject').length, 1);
  });
});
