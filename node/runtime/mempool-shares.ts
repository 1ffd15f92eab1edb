/**
 * Each client key's share of the mempool: how many of the requests waiting in the consensus
 * core's queue, and how many of their bytes, one client key may hold.
 *
 * Without it the queue is first come, first served: one key submitting at the commit rate (its
 * requests valid, each costing it a signature) keeps the queue full on every validator (relayed
 * copies count there too) and every other client hears busy. Aptos's mempool bounds each account
 * the same way (`capacity_per_user`), and Ethereum clients' transaction pools bound each sender's
 * slots. A client with many keys still gets a share per key: what stops that is an identity that
 * costs something (an allow-list, a fee), which is the application's to decide.
 *
 * The core keeps the count (ReplicaConfig.senderShare, by `clientKeyTag`), since it alone knows
 * when a request leaves its queue (committed, stale at a proposal, emptied by a snapshot jump),
 * and drops what is past a share as it drops what is past the queue's bounds. The runtime asks
 * first, so that a client hears busy rather than waiting on a request the core would drop:
 * `ShareCheck` is that question for one batch of requests, which counts the batch's own.
 */

/** Requests and bytes, of one client key in the queue, or allowed to it. */
export interface ShareAmount {
  readonly commands: number;
  readonly bytes: number;
}

/** The share a client key gets by default: a sixteenth of the queue, in requests and in bytes... */
export const DEFAULT_SHARE_DIVISOR = 16;
/** ...but never fewer than this many requests (or the whole queue, if it is shorter). */
export const DEFAULT_SHARE_FLOOR = 256;

/** The default share of a queue of `maxRequests`: 2,048 of the default 32,768. */
export function defaultRequestsPerClient(maxRequests: number): number {
  return Math.min(maxRequests, Math.max(DEFAULT_SHARE_FLOOR, Math.ceil(maxRequests / DEFAULT_SHARE_DIVISOR)));
}

/**
 * The share in a queue of `maxRequests` and `maxBytes` taking requests up to `maxRequestBytes`:
 * `perClient` requests (default `defaultRequestsPerClient`) and the same fraction of its bytes,
 * never less than one largest request.
 */
export function mempoolShare(queue: { readonly maxRequests: number; readonly maxBytes: number; readonly maxRequestBytes: number }, perClient?: number): ShareAmount {
  const commands = perClient ?? defaultRequestsPerClient(queue.maxRequests);
  if (!Number.isSafeInteger(commands) || commands < 1) throw new RangeError(`a client's share of the mempool must be a positive integer (got ${perClient})`);
  const fraction = Math.min(1, commands / queue.maxRequests);
  const bytes = Math.max(queue.maxRequestBytes, Math.ceil(queue.maxBytes * fraction));
  return { commands: Math.min(commands, queue.maxRequests), bytes };
}

/**
 * Whether each of a batch's requests fits its client's share, beside what the client holds in
 * the queue (`held`) and what the batch let through before it. One check per batch: it remembers
 * only that batch's.
 */
export class ShareCheck {
  readonly #ahead = new Map<number, { commands: number; bytes: number }>();

  constructor(
    private readonly share: ShareAmount,
    private readonly held: (client: number) => ShareAmount,
  ) {}

  /** Whether a request of `bytes` from `client` fits; if it does, it counts against the rest of the batch. */
  fits(client: number, bytes: number): boolean {
    const held = this.held(client);
    const ahead = this.#ahead.get(client);
    const commands = held.commands + (ahead?.commands ?? 0);
    const total = held.bytes + (ahead?.bytes ?? 0);
    if (commands >= this.share.commands || total + bytes > this.share.bytes) return false;
    if (ahead === undefined) this.#ahead.set(client, { commands: 1, bytes });
    else {
      ahead.commands++;
      ahead.bytes += bytes;
    }
    return true;
  }
}
