import assert from 'node:assert/strict';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

function fakeCluster(n: number, opts: { maxBatchCommands?: number } = {}): Cluster {
  return new Cluster({ n, certs: new FakeCertificateOps(CHAIN, n), signer: fakeSigner, ...opts });
}

const commands = (count: number, prefix = 'cmd') => Array.from({ length: count }, (_, i) => cmd(`${prefix}-${i}`));

function assertSameLogs(c: Cluster, expected: readonly string[]): void {
  for (const i of c.live()) {
    assert.deepEqual(c.committedCommands(i), c.committedCommands(c.live()[0]!), `replica ${i} log differs`);
    assert.deepEqual([...c.committedCommands(i)].sort(), [...expected].sort(), `replica ${i} committed set`);
    const heights = c.committed[i]!.map((b) => b.height);
    assert.deepEqual(heights, heights.map((_, k) => k + 1), `replica ${i} commits every height once, in order`);
  }
}

describe('Replica cluster (FIFO driver, fake certificates)', () => {
  it('n = 4 commits a sequence of commands in the same order everywhere, without timers', () => {
    const c = fakeCluster(4, { maxBatchCommands: 3 });
    c.start();
    const cmds = commands(20);
    c.submit(cmds);
    c.deliverAll();
    assertSameLogs(c, cmds.map((x) => new TextDecoder().decode(x)));
    // Optimistic responsiveness: the whole log committed with no timer having fired.
    for (const r of c.replicas) assert.equal(r.highestTc, undefined);
    assert.equal(c.rejects.length, 0, JSON.stringify(c.rejects));
    // Submission order is kept (FIFO batching by one leader at a time).
    assert.deepEqual(c.committedCommands(0), cmds.map((x) => new TextDecoder().decode(x)));
  });

  it('goes quiet when idle: no proposals without commands or uncommitted payload', () => {
    const c = fakeCluster(4);
    c.start();
    c.submit(commands(2));
    c.deliverAll();
    const before = c.messages;
    c.deliverAll();
    assert.equal(c.messages, before);
    assert.equal(c.committedCommands(0).length, 2);
    // Later commands are picked up by whoever leads now.
    c.submit([cmd('late')]);
    c.deliverAll();
    assert.deepEqual(c.committedCommands(3).slice(-1), ['late']);
  });

  it('a silent leader is bypassed: timeouts form a TC and the others keep committing', () => {
    const c = fakeCluster(4, { maxBatchCommands: 2 });
    c.crashed.add(2); // leads rounds 2, 6, 10, ... and collects the votes of rounds 1, 5, 9, ...
    c.start();
    const cmds = commands(12);
    c.submit(cmds);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).length === cmds.length));
    assertSameLogs(c, cmds.map((x) => new TextDecoder().decode(x)));
    for (const i of c.live()) assert.ok(c.replicas[i]!.highestTc, `replica ${i} saw a TC`);
    assert.equal(c.rejects.length, 0, JSON.stringify(c.rejects));
  });

  it('two crashed replicas of 7 (f = 2): still commits everything, exactly once', () => {
    const c = fakeCluster(7, { maxBatchCommands: 1 });
    c.crashed.add(3);
    c.crashed.add(5);
    c.start();
    const cmds = commands(15);
    c.submit(cmds);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).length === cmds.length), 200);
    assertSameLogs(c, cmds.map((x) => new TextDecoder().decode(x)));
  });

  it('f + 1 crashed replicas: no progress (the test can fail), and nothing commits unsafely', () => {
    const c = fakeCluster(4);
    c.crashed.add(1);
    c.crashed.add(2);
    c.start();
    c.submit(commands(3));
    c.runUntil(() => false, 10);
    for (const i of c.live()) assert.equal(c.committed[i]!.length, 0);
  });

  it('steady state uses O(n) messages per committed block', () => {
    const perBlock = (n: number): number => {
      const c = fakeCluster(n, { maxBatchCommands: 1 });
      c.start();
      c.submit(commands(40));
      c.deliverAll();
      assert.equal(c.committedCommands(0).length, 40);
      return c.messages / c.committed[0]!.length;
    };
    const small = perBlock(4);
    const large = perBlock(16);
    // Linear: one proposal broadcast (n - 1) + n - 1 votes to one leader, per block.
    assert.ok(small <= 2.5 * 4, `n=4: ${small} messages/block`);
    assert.ok(large <= 2.5 * 16, `n=16: ${large} messages/block`);
    // Quadratic protocols would grow 16x from n = 4 to 16; linear ones about 4-5x.
    assert.ok(large / small < 6, `growth ${large / small}`);
  });

  it('state stays bounded over a long run', () => {
    const c = fakeCluster(4, { maxBatchCommands: 1 });
    c.start();
    c.submit(commands(200));
    c.deliverAll();
    assert.equal(c.committedCommands(1).length, 200);
    for (const r of c.replicas) {
      const s = r.stateSizes;
      assert.ok(s.blocks <= 3 && s.voteRounds <= 2 && s.timeoutRounds <= 1, JSON.stringify(s));
      assert.equal(r.pendingCommands, 0);
    }
  });
});

describe('Replica cluster: an idle chain', () => {
  it('backs its timer off while quiet, and a leader lost then costs one base timeout once commands arrive', () => {
    const c = fakeCluster(4);
    c.start();
    c.submit(commands(3));
    c.deliverAll();
    assert.equal(c.committedCommands(0).length, 3);
    // Idle now: certified empty blocks end the chain above the committed root and never commit.
    const base = c.timerDelays[0]![0]!;
    for (let k = 0; k < 8; k++) {
      c.fireTimers();
      c.deliverAll();
    }
    for (const i of c.live()) assert.ok(c.timerDelays[i]!.at(-1)! >= base * 16, `replica ${i} backed off while quiet: ${c.timerDelays[i]!.at(-1)} ms`);
    // The next round's leader goes away; a command arrives at every replica still up.
    const round = c.replicas[0]!.currentRound;
    c.crashed.add(c.replicas[0]!.leaderOfRound(round));
    const armed = c.timerDelays.map((d) => d.length);
    c.submit([cmd('after-quiet')]);
    for (const i of c.live()) assert.deepEqual(c.timerDelays[i]!.slice(armed[i]!, armed[i]! + 1), [base], `replica ${i} re-armed at the base`);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).includes('after-quiet')));
  });

  it('a replica that no command reached joins the timeout of f + 1 others instead of waiting out its backoff', () => {
    const c = fakeCluster(4);
    c.start();
    c.submit(commands(3));
    c.deliverAll();
    for (let k = 0; k < 8; k++) {
      c.fireTimers();
      c.deliverAll();
    }
    const round = c.replicas[0]!.currentRound;
    c.crashed.add(c.replicas[0]!.leaderOfRound(round));
    const [missed, ...reached] = c.live();
    // The command reaches two of the three replicas still up; their timers go back to the base
    // and fire, while the third's backed-off timer never does here.
    for (const i of reached) c.step(i, { type: 'commands', commands: [cmd('half-seen')] });
    for (const i of reached) c.step(i, { type: 'timer', round });
    c.deliverAll();
    // f + 1 = 2 timeouts: the third joins, so the three form the round's TC and move on.
    for (const i of c.live()) assert.ok(c.replicas[i]!.currentRound > round, `replica ${i} (missed: ${missed}) left round ${round}`);
  });

  /** Three commands committed, then replica `away` cut off while the others time out through six quiet rounds; it is back (links restored) but behind. */
  function quietSpellWithout(away: number): { c: Cluster; ahead: number } {
    const c = fakeCluster(4);
    c.start();
    c.submit(commands(3));
    c.deliverAll();
    c.crashed.add(away);
    for (let k = 0; k < 6; k++) {
      c.fireTimers();
      c.deliverAll();
    }
    const ahead = c.replicas[c.live()[0]!]!.currentRound;
    assert.ok(c.replicas[away]!.currentRound < ahead - 3, 'the cut-off replica is behind');
    c.crashed.delete(away);
    return { c, ahead };
  }

  it('a replica that missed a quiet spell catches up at its first timeout, from the others\' answers, not at their next backed-off one', () => {
    const away = 3;
    const { c, ahead } = quietSpellWithout(away);
    // Back, and only its own timer fires: the others' are backed off, and nothing else is sent.
    c.step(away, { type: 'timer', round: c.replicas[away]!.currentRound });
    c.deliverAll();
    assert.equal(c.replicas[away]!.currentRound, ahead, 'it reached the round the others are in');
    // And it commits with them once work comes.
    c.submit([cmd('after-return')]);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).includes('after-return')));
    assertSameLogs(c, ['cmd-0', 'cmd-1', 'cmd-2', 'after-return']);
  });

  it('a replica connected anew after a quiet spell is greeted with the others\' last timeouts and catches up with no timer firing', () => {
    const away = 3;
    const { c, ahead } = quietSpellWithout(away);
    // Its links come back: each side's runtime tells its core, and no timer fires.
    for (const i of c.live()) {
      if (i === away) continue;
      c.step(i, { type: 'peer-connected', peer: away });
      c.step(away, { type: 'peer-connected', peer: i });
    }
    c.deliverAll();
    assert.equal(c.replicas[away]!.currentRound, ahead, 'it reached the round the others are in');
    c.submit([cmd('after-return')]);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).includes('after-return')));
    assertSameLogs(c, ['cmd-0', 'cmd-1', 'cmd-2', 'after-return']);
  });
});
