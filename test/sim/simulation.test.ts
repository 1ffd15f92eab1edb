import assert from 'node:assert/strict';
import { FakeCertificateOps, fakeSigner } from '../../node/consensus/fake-certs.js';
import { fakeCrypto, type SimCrypto } from '../../sim/crypto.js';
import { EventQueue } from '../../sim/event-queue.js';
import { parseCrashSpec, parseRoundRange } from '../../sim/faults.js';
import { Prng } from '../../sim/prng.js';
import { runSeeds } from '../../sim/run-seeds.js';
import { runSeed, SIM_CHAIN_ID, type SeedResult, type SimConfig } from '../../sim/simulation.js';

function assertClean(r: SeedResult, label: string): void {
  assert.equal(r.violation, undefined, `${label} seed ${r.seed}: ${JSON.stringify(r.violation, null, 1)}`);
}

/**
 * DELIBERATELY WEAKENED FAKE: certificates with a quorum of 3 out of n = 6 (the real quorum is
 * 5), so two halves of a partition can each certify and commit their own fork. It exists only
 * to show that the checker can fail.
 */
class DeliberatelyWeakenedQuorumFakeCerts extends FakeCertificateOps {
  override readonly quorum = 3;
}

function weakenedCrypto(n: number): SimCrypto {
  const honest = fakeCrypto(SIM_CHAIN_ID, n);
  return { name: 'weakened-fake', certs: new DeliberatelyWeakenedQuorumFakeCerts(SIM_CHAIN_ID, n), signer: fakeSigner, qcSigners: honest.qcSigners };
}

describe('sim: building blocks', () => {
  it('the PRNG replays per seed and differs across seeds', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    const c = new Prng(8);
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    assert.deepEqual(
      Array.from({ length: 8 }, () => b.nextU32()),
      xs,
    );
    assert.notDeepEqual(
      Array.from({ length: 8 }, () => c.nextU32()),
      xs,
    );
    for (let k = 0; k < 1000; k++) {
      const v = a.int(16, 128);
      assert.ok(v >= 16 && v <= 128 && Number.isInteger(v));
    }
  });

  it('the event queue orders by time, then by scheduling order', () => {
    const q = new EventQueue<string>();
    q.push(5, 'c');
    q.push(1, 'a');
    q.push(5, 'd');
    q.push(1, 'b');
    q.push(0.5, 'first');
    assert.deepEqual(
      Array.from({ length: 5 }, () => q.pop()!.item),
      ['first', 'a', 'b', 'c', 'd'],
    );
    assert.equal(q.pop(), undefined);
  });

  it('parses fault specs and refuses bad ones', () => {
    assert.deepEqual(parseRoundRange('20-60'), { fromRound: 20, toRound: 60 });
    assert.deepEqual(parseCrashSpec('1@30-50,2@5-9', 4), [
      { replica: 1, fromRound: 30, toRound: 50 },
      { replica: 2, fromRound: 5, toRound: 9 },
    ]);
    for (const bad of ['60-20', '5', 'a-b', '0-3', '5-5']) assert.throws(() => parseRoundRange(bad));
    for (const bad of ['4@1-2', '1-2', 'x@1-2', '1@2-1']) assert.throws(() => parseCrashSpec(bad, 4));
  });
});

describe('sim: determinism and metrics', () => {
  const cfg: SimConfig = { n: 4, seed: 11, rounds: 30, drop: 0.05, crashes: [{ replica: 2, fromRound: 8, toRound: 16 }] };

  it('the same seed gives the same trace hash and results; another seed another hash', () => {
    const a = runSeed(cfg);
    const b = runSeed(cfg);
    const c = runSeed({ ...cfg, seed: 12 });
    assertClean(a, 'determinism');
    assert.equal(a.traceHash, b.traceHash);
    assert.deepEqual(a, b);
    assert.match(a.traceHash, /^[0-9a-f]{64}$/);
    assert.notEqual(a.traceHash, c.traceHash);
  });

  it('steady state uses O(n) messages per block: the same constant bounds n = 4 and n = 16', () => {
    const c = 2.5;
    for (const n of [4, 16]) {
      const r = runSeed({ n, seed: 1, rounds: 40 });
      assertClean(r, `n=${n}`);
      assert.ok(r.committedBlocks >= 35, `n=${n} committed ${r.committedBlocks}`);
      assert.ok(r.messagesPerBlock <= c * n, `n=${n}: ${r.messagesPerBlock} messages per block > ${c} * n`);
      assert.equal(r.messagesByType['timeout'] ?? 0, 0, 'no round timed out without faults');
      assert.ok(r.bytesPerBlock > 0);
    }
  });
});

/** Fault mixes for n = 4 (f = 1), each run over many seeds: 450 seeds in total. */
const SCENARIOS: { name: string; seeds: number; cfg: Omit<SimConfig, 'seed'>; check?: (r: SeedResult) => void; checkAll?: (rs: readonly SeedResult[]) => void }[] = [
  {
    name: 'leader crash: progress after a TC while it is down',
    seeds: 55,
    // Replica 1 leads round 5 (and every 4th after): it stays down for the rest of the run.
    cfg: { n: 4, rounds: 40, crashes: [{ replica: 1, fromRound: 5, toRound: 1000 }] },
    check: (r) => {
      assert.ok((r.messagesByType['timeout'] ?? 0) > 0, 'timeouts (and so TCs) were needed');
      assert.ok(r.blocksWhileFaulty >= 5, `only ${r.blocksWhileFaulty} blocks committed with the leader down`);
    },
  },
  {
    name: 'minority partition: the majority continues, the healed minority catches up',
    seeds: 55,
    cfg: { n: 4, rounds: 40, partitions: [{ fromRound: 8, toRound: 25 }] },
    check: (r) => {
      assert.ok(r.blocksWhileFaulty >= 5, `majority committed only ${r.blocksWhileFaulty} blocks during the partition`);
      assert.equal(r.committedCommands, r.submittedCommands, 'every honest replica, the healed minority included, committed every command');
      assert.ok((r.messagesByType['sync-resp'] ?? 0) > 0, 'the minority caught up through sync');
    },
  },
  {
    name: 'crash-restart: never double-votes, the ledger survives and catches up',
    seeds: 55,
    cfg: { n: 4, rounds: 40, crashes: [{ replica: 2, fromRound: 6, toRound: 18 }, { replica: 3, fromRound: 24, toRound: 30 }] },
    check: (r) => assert.equal(r.committedCommands, r.submittedCommands),
  },
  {
    name: 'lossy, duplicating, reordering links',
    seeds: 55,
    cfg: { n: 4, rounds: 40, drop: 0.1, jitterMs: 20 },
  },
  {
    name: 'a silent Byzantine replica',
    seeds: 55,
    cfg: { n: 4, rounds: 40, byzantine: 1, behavior: 'silent' },
    check: (r) => assert.equal(r.committedCommands, r.submittedCommands),
  },
  {
    // A command every fourth round leaves the chain idle between commits, so leaders hold their
    // roots-only blocks, with a crash and restart of one of them among the holds.
    name: 'held empty proposals (emptyProposalHoldMs) with jitter and a crash-restart',
    seeds: 30,
    cfg: {
      n: 4,
      rounds: 40,
      commandsPerRound: 1,
      submitEveryRounds: 4,
      emptyProposalHoldMs: 40,
      jitterMs: 20,
      crashes: [{ replica: 2, fromRound: 10, toRound: 20 }],
    },
    check: (r) => {
      assert.ok(r.proposalHolds > 0, 'leaders held blocks');
      assert.equal(r.committedCommands, r.submittedCommands);
    },
  },
  {
    name: 'held empty proposals with a twins Byzantine replica',
    seeds: 30,
    cfg: { n: 4, rounds: 40, commandsPerRound: 1, submitEveryRounds: 4, emptyProposalHoldMs: 40, byzantine: 1, behavior: 'twins' },
    check: (r) => assert.ok(r.proposalHolds > 0, 'leaders held blocks'),
  },
  {
    // With every replica down no event is left to advance the honest round the restarts wait
    // for: the run used to end there, committing 6 blocks and checking nothing after.
    name: 'every replica crashes at once: the faults end on the stall, and the chain goes on',
    seeds: 30,
    cfg: { n: 4, rounds: 40, crashes: [0, 1, 2, 3].map((replica) => ({ replica, fromRound: 8, toRound: 14 })) },
    check: (r) => assert.ok(r.committedBlocks > 30, `committed ${r.committedBlocks} blocks`),
  },
  {
    // The block they all commit is on no ledger, only in the tips they kept (tipToKeep): without
    // it there, every seed stalls.
    name: 'every replica crashes in the same commit window: the committed block lives on in the kept tips',
    seeds: 30,
    cfg: { n: 4, rounds: 40, crashes: [0, 1, 2, 3].map((replica) => ({ replica, fromRound: 8, toRound: 14 })), crashInCommitWindow: true },
    check: (r) => {
      assert.equal(r.commitWindowCrashes, 4);
      assert.ok(r.committedBlocks > 30, `committed ${r.committedBlocks} blocks`);
    },
  },
  {
    // The others snapshot every 5 heights and keep 2 blocks below: replica 0, back after 22
    // rounds, hears "pruned" from f + 1 of them and installs a certified snapshot (the node's
    // verifySnapshot), then commits on; every command must reach it.
    name: 'a replica back from a long crash installs a certified snapshot the others pruned below',
    seeds: 20,
    cfg: { n: 4, rounds: 60, snapshots: { interval: 5, retainBlocks: 2 }, crashes: [{ replica: 0, fromRound: 8, toRound: 30 }] },
    check: (r) => {
      assert.ok(r.snapshotInstalls >= 1, `installs: ${r.snapshotInstalls}`);
      assert.equal(r.committedCommands, r.submittedCommands);
    },
  },
  {
    // The Byzantine replica serves tampered snapshots (bytes, height, proof, QC) and says blocks
    // are pruned when they are not; each lie is refused and an honest peer's snapshot installed.
    // Whether the liar is asked at all depends on which peer greets the restarted replica first
    // (a seeded order): in some seeds an honest one is, and nothing is refused.
    name: 'a lying peer\'s snapshots are refused, and an honest one is installed',
    seeds: 20,
    cfg: { n: 4, rounds: 60, byzantine: 1, behavior: 'lying-sync', snapshots: { interval: 5, retainBlocks: 2 }, crashes: [{ replica: 0, fromRound: 8, toRound: 30 }] },
    check: (r) => assert.ok(r.snapshotInstalls >= 1, `installs: ${r.snapshotInstalls}`),
    checkAll: (rs) => {
      const refusing = rs.filter((r) => r.snapshotsRefused >= 1).length;
      assert.ok(refusing >= rs.length / 4, `seeds with a refused snapshot: ${refusing} of ${rs.length}`);
    },
  },
  {
    name: 'mixed: drops, then a partition, then a crash-restart',
    seeds: 55,
    cfg: { n: 4, rounds: 40, drop: 0.03, partitions: [{ fromRound: 5, toRound: 12 }], crashes: [{ replica: 3, fromRound: 18, toRound: 26 }] },
  },
];

describe('sim: mixed faults across seeds, zero violations', function () {
  this.timeout(120_000);
  for (const s of SCENARIOS) {
    it(`${s.name} (${s.seeds} seeds)`, () => {
      const results: SeedResult[] = [];
      for (let seed = 1; seed <= s.seeds; seed++) {
        const r = runSeed({ ...s.cfg, seed });
        assertClean(r, s.name);
        assert.ok(r.committedBlocks > 0);
        s.check?.(r);
        results.push(r);
      }
      s.checkAll?.(results);
    });
  }
});

describe('sim: findings in the consensus core', () => {
  // KNOWN CORE BUG (node/consensus/replica.ts, not the simulator), found by this simulator:
  // replica 2 leads round 34, proposes block 15, crashes before anyone commits it and restarts
  // with an empty core. Replicas 1 and 2 lack block 15 while 0 and 3 have it; on every timer a
  // replica re-asks only leaderOf(highQc.round) = 2 (which lost it) and the suppression by
  // syncRequestedHeight stops it from asking the proposers that do have it, so no QC forms again.
  // Reproduce: npx vsmr sim --replicas 4 --seed 36 --rounds 60 --drop 0.1 --jitter 40 --partition 10-30 --crash 2@35-45
  it('recovers when the leader of the highest QC crashed and lost its uncommitted block (seed 36)', () => {
    const r = runSeed({ n: 4, seed: 36, rounds: 60, drop: 0.1, jitterMs: 40, partitions: [{ fromRound: 10, toRound: 30 }], crashes: [{ replica: 2, fromRound: 35, toRound: 45 }] });
    assertClean(r, 'sync after the QC leader lost its block');
  });
});

describe('sim: the checker can fail', () => {
  it('a deliberately weakened quorum plus a partition gives an agreement violation with its seed and trace', () => {
    const crypto = weakenedCrypto(6);
    const split = { fromRound: 5, toRound: 30, minority: [0, 1, 2] };
    const s = runSeeds({ n: 6, rounds: 40, crypto, partitions: [split] }, 1, 5);
    assert.ok(s.safetyViolations > 0, 'the checker reported the fork');
    const v = s.violations[0]!;
    assert.equal(v.invariant, 'agreement');
    assert.equal(v.seed, 1);
    assert.ok(v.trace.length > 0 && v.trace.length <= 30);
    // Checked against the honest scheme, the undersized certificates are caught first.
    const ref = runSeed({ n: 6, rounds: 40, seed: 1, crypto, referenceCrypto: fakeCrypto(SIM_CHAIN_ID, 6), partitions: [split] });
    assert.equal(ref.violation?.invariant, 'certificate-soundness');
  });

  it('a restart that DELIBERATELY loses the safety state is caught as a vote-safety violation; the real restart is not', () => {
    // Replica 0 is cut off (it keeps timing out), crashes, and restarts while still cut off, so
    // its fresh core times out in round 1 again unless the safety state refuses.
    const cfg: SimConfig = { n: 4, seed: 1, rounds: 40, partitions: [{ fromRound: 5, toRound: 30 }], crashes: [{ replica: 0, fromRound: 10, toRound: 15 }] };
    const broken = runSeed({ ...cfg, unsafeAmnesiaOnRestart: true });
    assert.equal(broken.violation?.invariant, 'vote-safety');
    assert.match(broken.violation.detail, /replica 0 timed out in round 1/);
    assertClean(runSeed(cfg), 'restart with the safety state');
  });

  it('f + 1 colluding equivocators fork the chain and the checker reports agreement; f of them cannot', () => {
    // n = 7, f = 2: three colluders lead three consecutive rounds and certify both sides.
    const s = runSeeds({ n: 7, rounds: 40, byzantine: 3, behavior: 'equivocate-unsafe' }, 1, 10);
    assert.equal(s.safetyViolations, 10);
    assert.ok(s.violations.every((v) => v.invariant === 'agreement'));
    assert.equal(s.byzantineExceedsF, true);
    // n = 10, f = 3: the same attack by f colluders finds no quorum for the twins.
    for (let seed = 1; seed <= 10; seed++) {
      const r = runSeed({ n: 10, seed, rounds: 40, byzantine: 3, behavior: 'equivocate-unsafe' });
      assertClean(r, 'f equivocators');
    }
  });

  it('the same partition with honest certificates is safe', () => {
    const r = runSeed({ n: 6, rounds: 40, seed: 1, partitions: [{ fromRound: 5, toRound: 30, minority: [0, 1, 2] }] });
    assertClean(r, 'split with honest certs');
  });

  it('more silent Byzantine replicas than f is reported as a liveness violation', () => {
    const r = runSeed({ n: 4, rounds: 20, seed: 3, byzantine: 2, behavior: 'silent' });
    assert.equal(r.livenessViolation, true);
    assert.equal(r.safetyViolation, false);
    assert.equal(r.byzantineExceedsF, true);
  });
});

describe('sim: real BLS certificates', function () {
  this.timeout(120_000);
  it('runs a crash-restart scenario with blst certificates and no violation', () => {
    const r = runSeed({ n: 4, rounds: 15, seed: 5, crypto: 'bls', crashes: [{ replica: 1, fromRound: 4, toRound: 9 }] });
    assertClean(r, 'bls');
    assert.ok(r.committedBlocks >= 5);
    assert.equal(r.committedCommands, r.submittedCommands);
  });

  it('names the signer of a bad vote share under optimistic aggregation, and stays safe and live', () => {
    // bad-signatures flips a byte of the Byzantine replica's vote shares (among others): the
    // leader no longer checks votes one by one, so the aggregator must name the bad share
    // (undecodable at once, or by bisection when the one-pairing check of q shares fails; the
    // latter is tested on the scheme itself) and form the QC from the honest ones.
    const r = runSeed({ n: 4, rounds: 20, seed: 3, crypto: 'bls', byzantine: 1, behavior: 'bad-signatures' });
    assertClean(r, 'bls bad-signatures');
    assert.ok(r.rejectedFromByzantine > 0, 'the bad shares were attributed');
    assert.ok(r.committedBlocks >= 5);
  });
});
