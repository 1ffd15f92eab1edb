/**
 * What a validator remembers of each client peer's requests, so that one sending what no honest
 * client sends is cut off before it costs much.
 *
 * A forged request costs its sender nothing (random bytes for a signature) and each validator a
 * full ed25519 check (~50 us) to refuse; measured before this module, 2 clients sending nothing
 * else took honest throughput from 699 to 440/s on 4 validators (`vsmr bench e2e
 * --forged-clients 2`). A rejected verdict (validation/verdict.ts: malformed, forged, another
 * chain's, a bad command) is what no honest client sends, so:
 *  - a peer whose rejected requests reach `rejectLimit` is banned (NetworkHost.ban) for `banMs`;
 *    a reject is forgiven per `forgiveEvery` accepted requests, so a long-lived client with a
 *    rare bad request (an app's bug) is not banned for the sum of years;
 *  - until a peer has had `trustAfter` requests accepted with no reject outstanding, only the
 *    first `probe` requests of a frame are checked before the rest: if any of those is
 *    rejected the rest go unchecked (answered busy, for an honest client to send again). A new
 *    identity, which costs nothing, so buys `probe` checks, not a frame's worth (up to 1,024).
 * Pure bookkeeping, no I/O; bounded: the least recently seen peers are forgotten first.
 */
import { LRUCache } from 'lru-cache';
import type { Verdict } from '../../validation/verdict.js';

export interface ClientConductOptions {
  /** Rejected requests (net of forgiveness) at which a peer is banned. */
  readonly rejectLimit: number;
  /** Accepted requests, with no reject outstanding, after which a peer's frames are checked whole. */
  readonly trustAfter: number;
  /** Requests of a frame checked first for a peer not yet trusted. */
  readonly probe: number;
  /** Accepted requests that forgive one rejected request. */
  readonly forgiveEvery: number;
  /** How long a ban lasts. */
  readonly banMs: number;
  /** Peers remembered at once. */
  readonly maxPeers: number;
}

export const CLIENT_CONDUCT_DEFAULTS: ClientConductOptions = Object.freeze({
  rejectLimit: 16,
  trustAfter: 64,
  probe: 16,
  forgiveEvery: 256,
  banMs: 10 * 60_000,
  maxPeers: 16_384,
});

interface PeerRecord {
  accepted: number;
  /** Rejected requests not yet forgiven. */
  rejected: number;
  /** Accepted requests since the last forgiveness. */
  credit: number;
}

export class ClientConduct {
  readonly options: ClientConductOptions;
  readonly #peers: LRUCache<string, PeerRecord>;

  constructor(options: Partial<ClientConductOptions> = {}) {
    const o = { ...CLIENT_CONDUCT_DEFAULTS, ...options };
    for (const [name, v] of Object.entries(o)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`client conduct: ${name} must be a positive integer, got ${v}`);
    }
    this.options = Object.freeze(o);
    this.#peers = new LRUCache({ max: o.maxPeers });
  }

  /** How many of a frame's requests to check before the rest (Infinity: all at once). */
  probeSize(peer: string): number {
    const r = this.#peers.peek(peer);
    return r !== undefined && r.rejected === 0 && r.accepted >= this.options.trustAfter ? Number.POSITIVE_INFINITY : this.options.probe;
  }

  /**
   * Records the verdicts of a peer's checked requests; true when they bring it to the ban (its
   * record is then forgotten: the ban is the host's to keep).
   */
  record(peer: string, verdicts: readonly Verdict[]): boolean {
    let r = this.#peers.get(peer);
    if (r === undefined) {
      r = { accepted: 0, rejected: 0, credit: 0 };
      this.#peers.set(peer, r);
    }
    for (const v of verdicts) {
      if (v.kind === 'reject') r.rejected++;
      else if (v.kind === 'accept') {
        r.accepted++;
        if (r.rejected > 0 && ++r.credit >= this.options.forgiveEvery) {
          r.rejected--;
          r.credit = 0;
        }
      }
    }
    if (r.rejected < this.options.rejectLimit) return false;
    this.#peers.delete(peer);
    return true;
  }

  /** Peers remembered now (tests and metrics). */
  get size(): number {
    return this.#peers.size;
  }
}
