import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EquivocationDetector } from '../../node/consensus/evidence.js';
import { FakeCertificateOps, fakeSigner } from '../../node/consensus/fake-certs.js';
import { genesisQc, makeBlock } from '../../protocol/block.js';
import { voteDigest, type VoteData } from '../../protocol/types.js';
import { BEHAVIORS, NEEDS_MORE_THAN_F, parseBehaviors } from '../../sim/behaviors/registry.js';
import { twinsConnected, twinsScenario } from '../../sim/behaviors/twins.js';
import { runSeed, SIM_CHAIN_ID, type SeedResult } from '../../sim/simulation.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = resolve(ROOT, 'bin', 'vsmr.js');

function sim(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'sim', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function clean(r: SeedResult, label: string): void {
  assert.equal(r.violation, undefined, `${label} seed ${r.seed}: ${JSON.stringify(r.violation?.detail)}`);
}

/** Behaviours whose misbehaviour honest cores reject outright (so detection must be non-zero). */
const REJECTED = ['flood', 'bad-signatures', 'bad-bitmap', 'mutate', 'wrong-state', 'replay', 'equivocate'];
/** Behaviours that leave signed proof of equivocation. */
const EVIDENCED = ['equivocate', 'double-vote', 'vote-invalid'];

describe('adversarial sim: every behaviour with at most f Byzantine replicas', function () {
  this.timeout(120_000);

  it('n = 4, one Byzantine replica: no violation for any behaviour, and the detectable ones are detected', () => {
    for (const name of BEHAVIORS.keys()) {
      if (NEEDS_MORE_THAN_F.has(name)) continue;
      let rejected = 0;
      let evidence = 0;
      for (const seed of [1, 2]) {
        const r = runSeed({ n: 4, seed, rounds: 16, byzantine: 1, behavior: name });
        clean(r, name);
        assert.ok(r.committedCommands > 0, `${name}: honest replicas keep committing`);
        rejected += r.rejectedFromByzantine;
        evidence += r.evidence;
      }
      if (REJECTED.includes(name)) assert.ok(rejected > 0, `${name}: honest replicas rejected none of its messages`);
      if (EVIDENCED.includes(name)) assert.ok(evidence > 0, `${name}: no equivocation evidence was gathered`);
    }
  });

  it('ByzzFuzz seed 1335 (found by `npm run soak`): a commit only some replicas saw does not stall the chain', () => {
    // A QC reached two replicas and its block was abandoned; their headers then claimed a state
    // the other two had not committed, those never voted in their rounds, and with the two
    // never leading adjacent rounds nothing committed again (1 block in 45 rounds).
    const r = runSeed({ n: 4, seed: 1335, rounds: 30, byzantine: 1, behavior: 'byzzfuzz' });
    clean(r, 'byzzfuzz');
    assert.ok(r.committedBlocks > 10, `committed ${r.committedBlocks} blocks`);
  });

  it('ByzzFuzz seed 1284 with two honest restarts: replicas restarted at a root only they had committed still vote', () => {
    // Replicas 0 and 1 committed height 2 through a QC the others never saw, crashed, and came
    // back at their ledger's top. The chain's headers claimed height 1, below their new root,
    // which a core holding only its root's state could not check: they never voted again, and
    // with the Byzantine replica's votes missing nothing committed (2 blocks in 40 rounds).
    const r = runSeed({ n: 4, seed: 1284, rounds: 40, byzantine: 1, behavior: 'byzzfuzz', crashes: [{ replica: 0, fromRound: 8, toRound: 14 }, { replica: 1, fromRound: 10, toRound: 16 }] });
    clean(r, 'byzzfuzz with restarts');
    assert.ok(r.committedBlocks > 10, `committed ${r.committedBlocks} blocks`);
  });

  it('the same seed with ledgers pruned to their top block: the executed states below it still reach the restarted cores', () => {
    // As a node restarted right after a snapshot with retainBlocks 0: one block, but the store
    // keeps the executed states of the window below it, and restartKnowledge must read them
    // whether or not their blocks are held (it stalled like the seed above when it did not).
    const r = runSeed({ n: 4, seed: 1284, rounds: 40, byzantine: 1, behavior: 'byzzfuzz', crashes: [{ replica: 0, fromRound: 8, toRound: 14 }, { replica: 1, fromRound: 10, toRound: 16 }], retainBlocksOnRestart: 0 });
    clean(r, 'byzzfuzz with pruned restarts');
    assert.ok(r.committedBlocks > 10, `committed ${r.committedBlocks} blocks`);
  });

  it('ByzzFuzz seed 12 with three honest replicas crashing in one commit window: the block they voted for survives', () => {
    // Replica 2 proposed block 9 and went down; 0 and 1 voted for it and went down; the QC on it
    // formed at the Byzantine replica 3, which never served the block. No honest replica had
    // kept it, so after the restarts everyone held a QC on a block no one would give them, and
    // nothing committed again. A voter now keeps the block it voted for in its certified tip.
    const r = runSeed({ n: 4, seed: 12, rounds: 60, byzantine: 1, behavior: 'byzzfuzz', crashes: [0, 1, 2].map((replica) => ({ replica, fromRound: 8, toRound: 14 })), crashInCommitWindow: true });
    clean(r, 'byzzfuzz with three crashes in the commit window');
    assert.ok(r.committedBlocks > 20, `committed ${r.committedBlocks} blocks`);
  });

  it('equivocate seed 6 with every honest replica restarted and 5% drops: no command commits twice', () => {
    // The honest cores' memory of commits was gone after the restarts, and the Byzantine
    // replica, which had missed a commit, proposed its first command again: the honest ones
    // voted for it and it committed a second time. A restart now hands the core the request ids
    // of its log's newest commands. (The node's application also refuses a used client sequence;
    // the simulator's application has no sequences, so this is the core's own guard.)
    const r = runSeed({ n: 4, seed: 6, rounds: 60, drop: 0.05, byzantine: 1, behavior: 'equivocate', crashes: [0, 1, 2].map((replica) => ({ replica, fromRound: 8, toRound: 14 })) });
    clean(r, 'equivocate with three restarts and drops');
  });

  it('equivocate seed 2, the same with ledgers pruned to their top block and the crashes in a commit window: no command commits twice', () => {
    // The restart's memory of commits came from the blocks it held, here the top one alone, so
    // the command of a pruned block committed again (149 of 300 seeds). It now comes from the
    // application's log, which a prune leaves whole.
    const crashes = [0, 1, 2].map((replica) => ({ replica, fromRound: 8, toRound: 14 }));
    const r = runSeed({ n: 4, seed: 2, rounds: 60, drop: 0.05, byzantine: 1, behavior: 'equivocate', crashes, retainBlocksOnRestart: 0, crashInCommitWindow: true });
    clean(r, 'equivocate with three pruned restarts in a commit window and drops');
  });

  it('twins seed 22 at n = 7 with two replicas far behind and snapshots every 3 heights keeping none: they catch up', () => {
    // The honest peers pruned below their newest snapshot the moment they took it; the chain
    // stopped right after it, before any header claimed its state, with the two needed for a
    // quorum: every peer said "pruned" and none could prove its snapshot. A snapshot is now
    // saved, and blocks pruned below it, only once a certified header covers it (3 of 60 twins
    // and 5 of 60 byzzfuzz seeds stalled so; none now).
    const crashes = [0, 1].map((replica) => ({ replica, fromRound: 8, toRound: 30 }));
    const r = runSeed({ n: 7, seed: 22, rounds: 60, drop: 0.05, byzantine: 2, behavior: 'twins', crashes, snapshots: { interval: 3, retainBlocks: 0 } });
    clean(r, 'twins at n = 7 with snapshots');
    assert.ok(r.snapshotInstalls >= 1, `installs: ${r.snapshotInstalls}`);
  });

  it('bad-bitmap seed 2 with two honest restarts: a request only one leader held still commits', () => {
    // Replicas 0 and 1 lost their queues in a restart, so only replica 2 held the request; the
    // Byzantine replica 3 leads right after it and spoils the QC on each of its blocks, so none
    // of them was ever certified, and nobody else proposed the request (not committed by round 40).
    // Voters now queue the commands of the blocks they vote for.
    const r = runSeed({ n: 4, seed: 2, rounds: 60, byzantine: 1, behavior: 'bad-bitmap', crashes: [{ replica: 0, fromRound: 8, toRound: 14 }, { replica: 1, fromRound: 10, toRound: 16 }] });
    clean(r, 'bad-bitmap with restarts');
  });

  it('n = 7, two Byzantine replicas with composed behaviours: safe and live', () => {
    for (const behavior of ['flood,double-vote', 'equivocate,bad-signatures', 'twins', 'byzzfuzz,mutate']) {
      const r = runSeed({ n: 7, seed: 3, rounds: 14, byzantine: 2, behavior });
      clean(r, behavior);
      assert.ok(r.committedCommands > 0, behavior);
    }
  });

  it('composition applies every part: flood,double-vote is both rejected and evidenced', () => {
    const r = runSeed({ n: 4, seed: 5, rounds: 16, byzantine: 1, behavior: 'flood,double-vote' });
    clean(r, 'flood,double-vote');
    assert.ok(r.rejectedFromByzantine > 0);
    assert.ok(r.evidence > 0);
    assert.throws(() => parseBehaviors('flood,nope'), /nope/);
  });

  it('a run replays exactly from its seed, behaviours included', () => {
    const a = runSeed({ n: 4, seed: 9, rounds: 12, byzantine: 1, behavior: 'byzzfuzz,replay' });
    const b = runSeed({ n: 4, seed: 9, rounds: 12, byzantine: 1, behavior: 'byzzfuzz,replay' });
    assert.equal(a.traceHash, b.traceHash);
    assert.notEqual(runSeed({ n: 4, seed: 10, rounds: 12, byzantine: 1, behavior: 'byzzfuzz,replay' }).traceHash, a.traceHash);
  });
});

describe('adversarial sim: the checker can fail', function () {
  this.timeout(120_000);

  it('twins with f + 1 = 2 Byzantine replicas of 4: the CLI finds the fork, prints seed and replay command, exits 1', () => {
    const r = sim('--replicas', '4', '--byzantine', '2', '--behavior', 'twins', '--seed', '88', '--seeds', '6', '--json');
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { safetyViolations: number; violations: { seed: number; invariant: string; replay: string; schedule: string }[] };
    assert.ok(out.safetyViolations >= 1);
    const v = out.violations.find((x) => x.invariant === 'agreement');
    assert.ok(v, JSON.stringify(out.violations));
    assert.match(v.replay, new RegExp(`--behavior twins --seed ${v.seed}$`));
    assert.match(v.schedule, /^schedule \d+ of \d+: r1:L\d/);
    // The printed command replays the same violation.
    const again = sim(...v.replay.split(' ').slice(3), '--json');
    assert.equal(again.status, 1);
    assert.equal((JSON.parse(again.stdout) as { violations: { invariant: string }[] }).violations[0]!.invariant, 'agreement');
  });

  it('the same twins schedules with one Byzantine replica (f = 1) are safe', () => {
    for (let seed = 88; seed < 94; seed++) clean(runSeed({ n: 4, seed, rounds: 100, byzantine: 1, behavior: 'twins' }), 'twins f=1');
  });

  it('a deliberately weakened voting rule (test-only flag) is caught as a vote-safety violation; the real rule is not', () => {
    for (const seed of [1, 2, 3]) {
      const weak = runSeed({ n: 4, seed, rounds: 16, byzantine: 1, behavior: 'equivocate', unsafeWeakVotingForTests: true });
      assert.equal(weak.violation?.invariant, 'vote-safety', `seed ${seed}: ${JSON.stringify(weak.violation)}`);
      assert.equal(weak.safetyViolation, true);
      const real = runSeed({ n: 4, seed, rounds: 16, byzantine: 1, behavior: 'equivocate' });
      clean(real, 'equivocate');
      assert.ok(real.rejectedFromByzantine > 0, 'honest replicas refuse the second proposal');
    }
  });
});

describe('adversarial sim: twins schedules and evidence', () => {
  it('seeds enumerate the schedule space one to one', () => {
    const count = Number(twinsScenario(0, 4, 1, 2).count);
    assert.equal(count, (4 * 9) ** 2);
    const seen = new Set<string>();
    for (let s = 0; s < count; s++) {
      const sc = twinsScenario(s, 4, 1, 2);
      seen.add(`${sc.leaders.join(',')}/${sc.sides.map((p) => (p ? p.join('') : 'all')).join(',')}`);
    }
    assert.equal(seen.size, count);
  });

  it('partitions keep twin instances apart and end after the scheduled rounds', () => {
    const sc = twinsScenario(0, 4, 1, 1);
    const split = { ...sc, sides: [[0, 0, 1]] };
    assert.equal(twinsConnected(split, 3, 1, 0, 0, 3, 0), true);
    assert.equal(twinsConnected(split, 3, 1, 0, 0, 3, 1), false);
    assert.equal(twinsConnected(split, 3, 1, 2, 0, 3, 1), true);
    assert.equal(twinsConnected(split, 3, 1, 0, 0, 2, 0), false);
    assert.equal(twinsConnected(split, 3, 2, 0, 0, 2, 0), true);
    assert.equal(twinsConnected({ ...sc, sides: [null] }, 3, 1, 0, 0, 3, 1), true);
  });

  it('the detector reports two verified, conflicting votes of one signer once, and nothing forged', () => {
    const certs = new FakeCertificateOps(SIM_CHAIN_ID, 4);
    const signer = fakeSigner(2);
    const data = (id: number): VoteData => ({ blockId: new Uint8Array(32).fill(id), round: 5, height: 3, parentId: new Uint8Array(32), parentRound: 4 });
    const vote = (id: number) => ({ type: 'vote' as const, vote: { vote: data(id), signer: 2, signature: signer.sign(voteDigest(SIM_CHAIN_ID, data(id))) } });
    const d = new EquivocationDetector(certs);
    assert.equal(d.observe(vote(1)), undefined);
    assert.equal(d.observe(vote(1)), undefined, 'the same vote again is no evidence');
    const forged = vote(2);
    assert.equal(d.observe({ type: 'vote', vote: { ...forged.vote, signature: new Uint8Array(32) } }), undefined, 'a forged second vote proves nothing');
    const e = d.observe(vote(2));
    assert.equal(e?.offender, 2);
    assert.equal(e?.round, 5);
    assert.equal(d.observe(vote(3)), undefined, 'reported once per signer and round');
    const fresh = new EquivocationDetector(certs);
    assert.equal(fresh.observe({ type: 'vote', vote: { ...vote(1).vote, signature: new Uint8Array(32) } }), undefined);
    assert.equal(fresh.observe(vote(2)), undefined, 'a forged first vote cannot frame the signer');
    const e3 = fresh.observe(vote(3));
    assert.equal(e3?.kind, 'double-vote', 'the valid vote replaced the forgery as the first one');
    assert.deepEqual(e3?.kind === 'double-vote' ? e3.first.vote : undefined, data(2));
  });

  it('the detector keeps proposals only from their round’s leader near the local round, and no far vote blinds it', () => {
    const certs = new FakeCertificateOps(SIM_CHAIN_ID, 4);
    const now = 10;
    const detector = () => new EquivocationDetector(certs, SIM_CHAIN_ID, () => now, (round) => round % 4);
    const block = (round: number, author: number, tag: number) =>
      makeBlock(SIM_CHAIN_ID, { round, height: 1, parentQc: genesisQc(SIM_CHAIN_ID), author, payload: [Uint8Array.of(tag)] });
    const twice = (d: EquivocationDetector, round: number, author: number) => {
      d.observe({ type: 'proposal', block: block(round, author, 1) }, author);
      return d.observe({ type: 'proposal', block: block(round, author, 2) }, author);
    };
    assert.equal(twice(detector(), 9, 1)?.kind, 'conflicting-proposals', 'the leader of round 9, near round 10');
    assert.equal(twice(detector(), 9, 2), undefined, 'validator 2 does not lead round 9: nothing kept');
    assert.equal(twice(detector(), 29, 1), undefined, 'round 29 is far from round 10: nothing kept');
    // A vote far ahead (still within the vote window of the local round) must not move the
    // window past the rounds a late double vote is looked for in.
    const data = (id: number, round: number): VoteData => ({ blockId: new Uint8Array(32).fill(id), round, height: 3, parentId: new Uint8Array(32), parentRound: round - 1 });
    const vote = (id: number, round: number, by = 2) => ({ type: 'vote' as const, vote: { vote: data(id, round), signer: by, signature: fakeSigner(by).sign(voteDigest(SIM_CHAIN_ID, data(id, round))) } });
    const d = detector();
    assert.equal(d.observe(vote(1, 9)), undefined);
    for (const far of [now + 63, now + 64]) assert.equal(d.observe(vote(1, far, 3)), undefined);
    assert.equal(d.observe(vote(2, 9))?.kind, 'double-vote');
  });
});
