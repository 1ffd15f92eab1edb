import assert from 'node:assert/strict';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { Block } from '../../../protocol/types.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const ids = (blocks: readonly Block[]) => blocks.map((b) => Buffer.from(b.id).toString('hex'));

function cluster(n = 4): Cluster {
  return new Cluster({ n, certs: new FakeCertificateOps(CHAIN, n), signer: fakeSigner, maxBatchCommands: 2 });
}

function submitInWaves(c: Cluster, prefix: string, waves: number): string[] {
  const all: string[] = [];
  for (let w = 0; w < waves; w++) {
    const batch = [cmd(`${prefix}-${w}-a`), cmd(`${prefix}-${w}-b`)];
    all.push(...batch.map(text));
    c.submit(batch);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).length >= all.length));
  }
  return all;
}

/**
 * A replica refusing to sign for itself (a late proposal for a round it already timed out in,
 * a timeout from a restarted core that has not yet relearned its highest QC) is the safety
 * rules working; a refusal of a peer's message here would be a bug.
 */
function assertNoPeerRejected(c: Cluster): void {
  const fromPeers = c.rejects.filter((r) => r.from !== r.at);
  assert.deepEqual(fromPeers, []);
  for (const r of c.rejects) assert.match(r.reason, /^safety: /);
}

describe('Replica block sync', () => {
  it('a replica cut off for many blocks catches up through sync and commits the same log', () => {
    const c = cluster();
    c.start();
    c.crashed.add(3); // partitioned: no messages in or out, state kept
    const during = submitInWaves(c, 'cut', 6);
    assert.equal(c.committed[3]!.length, 0);
    c.crashed.delete(3); // heal
    const after = submitInWaves(c, 'healed', 3);
    c.runUntil(() => c.committedCommands(3).length === during.length + after.length);
    assert.deepEqual(c.committedCommands(3), c.committedCommands(0));
    assert.deepEqual(ids(c.committed[3]!), ids(c.committed[0]!.slice(0, c.committed[3]!.length)));
    assertNoPeerRejected(c);
  });

  it('a crash-restarted replica recovers from its safety state, re-syncs, and its log is unchanged', () => {
    const c = cluster();
    c.start();
    const before = submitInWaves(c, 'before', 3);
    const ledger = ids(c.committed[1]!);
    c.crashed.add(1);
    submitInWaves(c, 'down', 3);
    const votedBefore = c.storages[1]!.saved!.lastVotedRound;
    c.restart(1);
    assert.equal(c.replicas[1]!.safetyState.lastVotedRound, votedBefore, 'safety state survives the restart');
    submitInWaves(c, 'up', 3);
    c.runUntil(() => c.committed[1]!.length === c.committed[0]!.length);
    assert.deepEqual(ids(c.committed[1]!), ids(c.committed[0]!));
    assert.deepEqual(ids(c.committed[1]!).slice(0, ledger.length), ledger, 'what was committed before the crash is unchanged');
    // What the fresh core re-committed while catching up is exactly what the ledger had.
    assert.deepEqual(ids(c.replayed[1]!), ids(c.committed[1]!.slice(0, c.replayed[1]!.length)));
    assert.ok(c.committedCommands(1).length > before.length);
    assertNoPeerRejected(c);
  });

  it('refuses a sync response that does not chain, or whose blocks were tampered with', () => {
    const c = cluster();
    c.start();
    submitInWaves(c, 'x', 2);
    const donor = c.committed[0]!;
    const fresh = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner });
    const victim = fresh.replicas[2]!;
    const { blocks: tip, highQc } = c.replicas[0]!.syncChain();

    const skipped = victim.step({ type: 'sync-response', from: 0, blocks: donor.slice(1), highQc });
    assert.ok(skipped.some((a) => a.type === 'reject' && /does not chain/.test(a.reason)));
    const tampered = donor.map((b, k) => (k === 1 ? { ...b, payload: [cmd('forged')] } : b));
    const forged = victim.step({ type: 'sync-response', from: 0, blocks: tampered, highQc });
    assert.ok(forged.some((a) => a.type === 'reject' && /id does not match/.test(a.reason)));
    assert.equal(victim.committedHeight, 0);

    const honest = victim.step({ type: 'sync-response', from: 0, blocks: [...donor, ...tip], highQc });
    const committed = honest.flatMap((a) => (a.type === 'commit' ? a.blocks : []));
    assert.deepEqual(ids(committed), ids(donor));
    assert.equal(victim.committedHeight, donor.length);
  });
});
