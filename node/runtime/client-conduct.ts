/**
 * What a validator remembers of each client peer's requests, so that one sending what no honest
 * client sends is cut off before it costs much.
 *
 * A forged request costs its sender nothing (random bytes for a signature) and the validator it
 * reaches a full ed25519 check (~50 us); measured before this module, 2 clients sending nothing
 * else took honest throughput from ~800 to 274/s on 4 validators (`vsmr bench e2e
 * --forged-clients 2`). A rejected verdict (validation/verdict.ts: malformed, forged, another
 * chain's, a bad command) is what no honest client sends, so:
 *  - a peer whose rejected requests reach `rejectLimit` is banned (NetworkHost.ban) for `banMs`;
 *    a reject is forgiven per `forgiveEvery` accepted requests, so a long-lived client with a
 *    rare bad request (an app's bug) is not banned for the sum of years;
 *  - a peer may have at most `allowance` requests in check at once, over all its frames and
 *    streams: `probe` while it has nothing accepted yet, growing by one per accepted request up
 *    to `maxInCheck`; while it has a reject outstanding, `probe` or the rejects left before its
 *    ban, whichever is fewer. The caller checks a frame in pieces of what the
 *    allowance leaves and answers the rest busy unchecked (an honest client sends them again).
 *    So a new identity, which costs nothing, gets about `probe` forgeries checked before its
 *    ban, however it orders its frames (expired requests first, which cost nothing to refuse,
 *    earn no allowance) and however many it sends at once; each check beyond that takes an
 *    accepted request, validly signed.
 * Exempt peers (the genesis validators, which the host never bans and consensus needs) keep no
 * record: they may have `maxInCheck` requests in check at once, whatever their verdicts.
 * Pure bookkeeping, no I/O; bounded: the least recently seen peers are forgotten first.
 */
import { LRUCache } from 'lru-cache';
import type { Verdict } from '../../validation/verdict.js';

export interface ClientConductOptions {
  /** Rejected requests (net of forgiveness) at which a peer is banned. */
  readonly rejectLimit: number;
  /** Requests a peer may have in check at once while on probation: nothing accepted yet, or a reject outstanding (then no more than the rejects left before its ban). */
  readonly probe: number;
  /** The most requests a peer may have in check at once, however much it has had accepted. */
  readonly maxInCheck: number;
  /** Accepted requests that forgive one rejected request. */
  readonly forgiveEvery: number;
  /** How long a ban lasts. */
  readonly banMs: number;
  /** Peers remembered at once. */
  readonly maxPeers: number;
}

export const CLIENT_CONDUCT_DEFAULTS: ClientConductOptions = Object.freeze({
  rejectLimit: 16,
  probe: 16,
  maxInCheck: 4096,
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
  /** Requests begun and not yet ended. */
  inCheck: number;
  /** When the peer's ban ends (0: not banned). */
  bannedUntil: number;
}

export class ClientConduct {
  readonly options: ClientConductOptions;
  readonly #peers: LRUCache<string, PeerRecord>;
  readonly #now: () => number;
  readonly #exempt: ReadonlySet<string>;
  /** Exempt peers' requests in check (no verdicts kept). */
  readonly #exemptInCheck = new Map<string, number>();

  constructor(options: Partial<ClientConductOptions> = {}, now: () => number = () => performance.now(), exempt: ReadonlySet<string> = new Set()) {
    const o = { ...CLIENT_CONDUCT_DEFAULTS, ...options };
    for (const [name, v] of Object.entries(o)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`client conduct: ${name} must be a positive integer, got ${v}`);
    }
    if (o.maxInCheck < o.probe) throw new RangeError(`client conduct: maxInCheck (${o.maxInCheck}) is below probe (${o.probe})`);
    this.options = Object.freeze(o);
    this.#peers = new LRUCache({ max: o.maxPeers });
    this.#now = now;
    this.#exempt = exempt;
  }

  #record(peer: string): PeerRecord {
    let r = this.#peers.get(peer);
    if (r === undefined) {
      r = { accepted: 0, rejected: 0, credit: 0, inCheck: 0, bannedUntil: 0 };
      this.#peers.set(peer, r);
    }
    return r;
  }

  /** How many more of `peer`'s requests may go into check now (0: answer them busy, unchecked). */
  allowance(peer: string): number {
    if (this.#exempt.has(peer)) return Math.max(0, this.options.maxInCheck - (this.#exemptInCheck.get(peer) ?? 0));
    const r = this.#peers.peek(peer);
    if (r === undefined) return this.options.probe;
    if (r.bannedUntil > this.#now()) return 0;
    // With rejects outstanding, what is left before the ban bounds it too: otherwise frames one
    // after the other would get rejectLimit - 1 forgeries checked, then probe more at once.
    const limit = r.rejected > 0 ? Math.min(this.options.probe, this.options.rejectLimit - r.rejected) : Math.min(this.options.probe + r.accepted, this.options.maxInCheck);
    return Math.max(0, limit - r.inCheck);
  }

  /** `count` of `peer`'s requests go into check (within its allowance). */
  begin(peer: string, count: number): void {
    if (this.#exempt.has(peer)) this.#exemptInCheck.set(peer, (this.#exemptInCheck.get(peer) ?? 0) + count);
    else this.#record(peer).inCheck += count;
  }

  /**
   * Ends the check of `count` requests begun with begin(), with their verdicts (none when the
   * check failed on our side); true when they bring the peer to a ban, once per ban.
   */
  end(peer: string, count: number, verdicts: readonly Verdict[]): boolean {
    if (this.#exempt.has(peer)) {
      const left = (this.#exemptInCheck.get(peer) ?? 0) - count;
      if (left > 0) this.#exemptInCheck.set(peer, left);
      else this.#exemptInCheck.delete(peer);
      return false;
    }
    const r = this.#record(peer);
    r.inCheck = Math.max(0, r.inCheck - count);
    const now = this.#now();
    // What lands during a ban (checks begun before it) counts toward nothing.
    if (r.bannedUntil > now) return false;
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
    // Back from its ban, the peer starts over on probation.
    r.accepted = 0;
    r.rejected = 0;
    r.credit = 0;
    r.bannedUntil = now + this.options.banMs;
    return true;
  }

  /** Peers remembered now (tests and metrics). */
  get size(): number {
    return this.#peers.size;
  }
}
