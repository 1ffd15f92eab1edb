import { maxFaulty } from '../../crypto/qc/quorum.js';

/**
 * Which peer a replica that is behind asks next for blocks, and when it turns to a snapshot
 * instead: the runtime's policy, kept free of I/O so the simulator runs the same one.
 *
 * One peer's word that the blocks are pruned does not start a snapshot sync: a Byzantine peer
 * saying it to everyone who asks would push every replica that falls behind onto snapshots (and
 * off the history it could have replayed and served), however many honest peers still hold the
 * blocks. f + 1 distinct peers saying so include an honest one; until then the peers not yet
 * asked are asked for the blocks, one after the other (a peer that does not answer is passed
 * over, so one crashed peer does not end the search). With at most f faulty, the honest peers
 * either hold the blocks (and send them) or number at least 2f >= f + 1 and say so. A peer's word
 * counts while it still reaches above what is needed.
 */
export class SyncPeerSearch {
  readonly #n: number;
  readonly #self: number;
  /** Per peer, the lowest block it said it still holds. */
  readonly #prunedBelow = new Map<number, number>();

  constructor(n: number, self: number) {
    this.#n = n;
    this.#self = self;
  }

  /**
   * `peer` says it holds no blocks below `lowest`, in answer to an ask from `fromHeight`, while
   * this replica needs the blocks from `needed` on. `chain`: the peers this search has asked.
   * Returns whether to fetch a snapshot (from `peer` first) or which peer to ask next (none left
   * or no longer needed: undefined).
   */
  onPrunedClaim(peer: number, lowest: number, fromHeight: number, needed: number, chain: Set<number>): { readonly snapshot: true } | { readonly snapshot: false; readonly ask: number | undefined } {
    // An answer to a question no longer open: the blocks arrived meanwhile.
    if (fromHeight < needed) return { snapshot: false, ask: undefined };
    this.#prunedBelow.set(peer, lowest);
    let claims = 0;
    for (const [p, below] of this.#prunedBelow) {
      if (below > needed) claims++;
      else this.#prunedBelow.delete(p);
    }
    if (claims > maxFaulty(this.#n)) return { snapshot: true };
    return { snapshot: false, ask: this.nextPeer(fromHeight, needed, chain, peer) };
  }

  /**
   * The next peer to ask for the blocks from `fromHeight`, not yet asked in this search (added to
   * `chain`) and not known to have pruned them: in index order from the one after `after`, so
   * that searches do not all start with the same low-index peers. Undefined when none is left or
   * the blocks are no longer needed.
   */
  nextPeer(fromHeight: number, needed: number, chain: Set<number>, after: number): number | undefined {
    if (fromHeight < needed) return undefined;
    for (let k = 1; k <= this.#n; k++) {
      const p = (after + k) % this.#n;
      if (p === this.#self || chain.has(p) || (this.#prunedBelow.get(p) ?? 0) > needed) continue;
      chain.add(p);
      return p;
    }
    return undefined;
  }

  /** The peers to try for a snapshot, `first` (the last to say the blocks are pruned) first, then in index order. */
  snapshotPeers(first: number): number[] {
    return Array.from({ length: this.#n }, (_, k) => (first + k) % this.#n).filter((p) => p !== this.#self);
  }
}
