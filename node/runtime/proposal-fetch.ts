/**
 * Compact proposals over the libp2p host: the `fetch` protocol a replica uses to ask a
 * proposal's sender for requests it named by id and this replica lacks, the sender's side of
 * it, and the rebuild of an inbound compact proposal with its metrics. The logic lives in
 * compact-proposals.ts; this is its I/O, and the limits that keep a faulty peer from turning
 * fetches into work or memory on demand.
 */
import { type CompactProposal, decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, type RequestFetch, type RequestFetchReply, WireDecodeError } from '../../network/codec.js';
import type { NetworkHost } from '../../network/host.js';
import type { Logger } from '../observability/log.js';
import type { NodeMetrics } from '../observability/metrics.js';
import { assembleProposal, type ProposalCompactor, type ProposalMessage } from './compact-proposals.js';
import { decodeFromPeer } from './p2p-transport.js';

/**
 * How long a replica waits for a proposal's sender to supply requests: the default round
 * timeout, so a sender that takes longer has lost the round anyway.
 */
export const FETCH_TIMEOUT_MS = 1_000;

/**
 * Asks `peer` for requests; undefined when it does not answer in time, answers more than a
 * message may hold (refused unread), or answers garbage (penalised).
 */
export async function fetchRequests(host: Pick<NetworkHost, 'request' | 'penalise'>, peer: string, request: RequestFetch, metrics?: NodeMetrics): Promise<RequestFetchReply | undefined> {
  let reply: Uint8Array;
  try {
    reply = await host.request(peer, 'fetch', encodeMessage(request), FETCH_TIMEOUT_MS, MAX_MESSAGE_BYTES);
  } catch {
    return undefined;
  }
  metrics?.bytesIn.inc({ topic: 'fetch' }, reply.length);
  try {
    const msg = decodeMessage(reply);
    if (msg.type === 'request-fetch-reply') return msg;
  } catch (err) {
    if (!(err instanceof WireDecodeError)) throw err;
  }
  host.penalise(peer);
  return undefined;
}

/**
 * How many fetches one peer may have open at this node at once: an honest replica asks a
 * sender once per proposal and waits for the answer, so two leave room for a timed-out ask
 * still closing. With answers of at most one message, that bounds what a peer's asks hold here.
 */
export const MAX_FETCH_STREAMS_PER_PEER = 2;

/**
 * Answers other validators' fetches for this node's recent proposals, within one message. An
 * ask no honest replica sends (garbage, another message, an id twice) is penalised and gets no
 * answer.
 */
export function serveRequestFetches(host: Pick<NetworkHost, 'handle' | 'penalise'>, compactor: ProposalCompactor, metrics?: NodeMetrics): void {
  host.handle(
    'fetch',
    async (from, bytes) => {
      const msg = decodeFromPeer(host, from, bytes);
      if (msg === undefined) return undefined;
      const answer = msg.type === 'request-fetch' ? compactor.serve(msg, MAX_MESSAGE_BYTES) : undefined;
      if (answer === undefined) {
        host.penalise(from);
        return undefined;
      }
      const reply = encodeMessage(answer);
      metrics?.bytesOut.inc({ topic: 'fetch' }, reply.length);
      return reply;
    },
    { timeoutMs: FETCH_TIMEOUT_MS, maxInboundStreams: MAX_FETCH_STREAMS_PER_PEER },
  );
}

export interface ProposalReceiverOptions {
  readonly host: Pick<NetworkHost, 'request' | 'penalise'>;
  /** This node's copy of a request, by id key. */
  readonly lookup: (key: string) => Uint8Array | undefined;
  readonly keyOf: (request: Uint8Array) => string;
  /** The round this node's core is in: a proposal for an earlier one is not worth a fetch. */
  readonly currentRound: () => number;
  /** Who leads a round: only the leader's own proposal is worth a fetch. */
  readonly leaderOf: (round: number) => number;
  readonly metrics?: NodeMetrics;
  readonly logger?: Logger;
}

/**
 * A proposal more than this many rounds ahead of this node's round is not worth a fetch: a node
 * that far behind catches up by sync, and a sender cannot pick arbitrary future rounds to ask
 * about.
 */
export const MAX_FETCH_ROUNDS_AHEAD = 16;

/**
 * Rebuilds inbound compact proposals. A fetch is made only for a proposal from its own author,
 * who leads its round, for this node's round or up to MAX_FETCH_ROUNDS_AHEAD after it, and one
 * at a time per sender: a validator can make this node fetch only for rounds it leads, one
 * fetch (a reply of at most one message) at a time.
 */
export class CompactProposalReceiver {
  readonly #opts: ProposalReceiverOptions;
  readonly #fetching = new Set<number>();

  constructor(opts: ProposalReceiverOptions) {
    this.#opts = opts;
  }

  /**
   * The full proposal, or undefined when its sender did not supply what it named (this replica
   * then does not vote for it; a sender that answered with other bytes is penalised).
   */
  async rebuild(message: CompactProposal, from: { readonly peer: string; readonly sender: number }): Promise<ProposalMessage | undefined> {
    const { host, metrics: m } = this.#opts;
    const { round, author } = message.block;
    const assembly = await assembleProposal(message, {
      keyOf: this.#opts.keyOf,
      lookup: this.#opts.lookup,
      fetch: async (request) => {
        const now = this.#opts.currentRound();
        const worthIt = author === from.sender && this.#opts.leaderOf(round) === from.sender && round >= now && round <= now + MAX_FETCH_ROUNDS_AHEAD;
        if (!worthIt || this.#fetching.has(from.sender)) return undefined;
        this.#fetching.add(from.sender);
        try {
          return await fetchRequests(host, from.peer, request, m);
        } finally {
          this.#fetching.delete(from.sender);
        }
      },
    });
    if (assembly.kind === 'complete') {
      if (assembly.inline > 0) m?.proposalRequestsRebuilt.inc({ source: 'inline' }, assembly.inline);
      if (assembly.local > 0) m?.proposalRequestsRebuilt.inc({ source: 'local' }, assembly.local);
      if (assembly.fetched > 0) m?.proposalRequestsRebuilt.inc({ source: 'fetched' }, assembly.fetched);
      return assembly.message;
    }
    if (assembly.kind === 'forged') host.penalise(from.peer);
    m?.rejectedMessages.inc({ reason: assembly.kind === 'forged' ? 'proposal-fetch-forged' : 'proposal-unavailable' });
    this.#opts.logger?.debug({ from: from.sender, round, detail: assembly.detail }, 'compact proposal not rebuilt; not voting for it');
    return undefined;
  }
}
