/**
 * Which clients' connections to end when clients hold more connections than a host admits.
 *
 * libp2p refuses every inbound connection once it holds its limit of them, and peer ids cost
 * nothing: a few hundred idle connections from one party locked every client out of a
 * validator (a helper's probe held 300, each with an idle session stream, and `client submit`
 * could not connect). Instead, a host keeps a little room under libp2p's limit and, when a new
 * client connection takes it past its own, ends the connections of the clients least recently
 * active: a client that keeps sending stays, one that holds a slot and does nothing is the first
 * to go. Validators are never counted here: their slots are not for clients to take.
 */
export class ClientSlots {
  /** Connected clients, least recently active first (activity moves a peer to the end). */
  readonly #recent = new Set<string>();

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a client connection limit is a positive integer, not ${limit}`);
  }

  /** `peer` opened a connection: it counts as active now. */
  connected(peer: string): void {
    this.#recent.delete(peer);
    this.#recent.add(peer);
  }

  /**
   * `peer` did something (opened a stream, sent a frame). A peer not connected (a frame read
   * after its connection closed) is not added back: only connections add peers, and forget
   * removes them, so what is kept is bounded by the connections held.
   */
  touch(peer: string): void {
    if (this.#recent.delete(peer)) this.#recent.add(peer);
  }

  /** `peer` has no connection left. */
  forget(peer: string): void {
    this.#recent.delete(peer);
  }

  /**
   * The clients whose connections to end, least recently active first, so that what is left is
   * within the limit; `connections(peer)` is how many each holds now, and `total` their sum.
   * `keep` (the client whose connection just opened) is never among them.
   */
  toEvict(total: number, connections: (peer: string) => number, keep: string): string[] {
    const out: string[] = [];
    let left = total;
    for (const peer of this.#recent) {
      if (left <= this.limit) break;
      if (peer === keep) continue;
      const held = connections(peer);
      if (held === 0) {
        this.#recent.delete(peer);
        continue;
      }
      out.push(peer);
      left -= held;
    }
    return out;
  }
}
