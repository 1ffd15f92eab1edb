import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SyncPeerSearch } from '../../../node/runtime/sync-peers.js';

describe('SyncPeerSearch (whom a replica behind asks, and when it takes a snapshot)', () => {
  // n = 4 (f = 1), this replica is 0 and needs blocks from height 10 on.
  const needed = 10;

  it('asks the next peer on one claim, and turns to a snapshot on f + 1 distinct claims', () => {
    const s = new SyncPeerSearch(4, 0);
    const chain = new Set([1]);
    assert.deepEqual(s.onPrunedClaim(1, 20, needed, needed, chain), { snapshot: false, ask: 2 });
    assert.deepEqual([...chain], [1, 2]);
    // The same peer saying it again is still one claim.
    assert.deepEqual(s.onPrunedClaim(1, 20, needed, needed, new Set([1])), { snapshot: false, ask: 2 });
    assert.deepEqual(s.onPrunedClaim(2, 15, needed, needed, chain), { snapshot: true });
  });

  it('counts a claim only while it reaches above what is needed, and ignores answers to closed questions', () => {
    const s = new SyncPeerSearch(4, 0);
    s.onPrunedClaim(1, 12, needed, needed, new Set([1]));
    // Now this replica needs blocks from 12: peer 1's word (pruned below 12) no longer says they are gone.
    assert.deepEqual(s.onPrunedClaim(2, 20, 12, 12, new Set([2])), { snapshot: false, ask: 3 });
    // An ask from height 9 answered after height 10 became what is needed: the blocks came meanwhile.
    assert.deepEqual(s.onPrunedClaim(3, 20, 9, needed, new Set([3])), { snapshot: false, ask: undefined });
  });

  it('asks each peer once per search, never itself nor one known to have pruned the blocks', () => {
    const s = new SyncPeerSearch(4, 2);
    s.onPrunedClaim(3, 20, needed, needed, new Set([3]));
    const chain = new Set<number>();
    assert.equal(s.nextPeer(needed, needed, chain, 2), 0, 'after 2 comes 3 (pruned), then 0');
    assert.equal(s.nextPeer(needed, needed, chain, 0), 1);
    assert.equal(s.nextPeer(needed, needed, chain, 1), undefined, '0 and 1 asked, 2 is itself, 3 pruned');
    assert.equal(s.nextPeer(needed - 1, needed, new Set(), 0), undefined, 'no longer needed');
  });

  it('tries every peer but itself for a snapshot, the last claimant first', () => {
    // A list one short (n - 1 peers from the claimant) left out the peer before the claimant
    // whenever this replica was not that peer: here, peer 3.
    assert.deepEqual(new SyncPeerSearch(4, 2).snapshotPeers(0), [0, 1, 3]);
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat(n - 1))),
        ([n, self, first]) => {
          const peers = new SyncPeerSearch(n, self).snapshotPeers(first);
          assert.deepEqual([...peers].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i).filter((i) => i !== self));
          if (first !== self) assert.equal(peers[0], first);
        },
      ),
    );
  });
});
