/**
 * Compact proposals over the libp2p host: the `fetch` protocol a replica uses to ask a
 * proposal's sender for requests it named by id and this replica lacks, the sender's side of
 * it, and the rebuild of an inbound compact proposal with its metrics. The logic lives in
 * compact-proposals.ts; this is its I/O.
 */
import { type CompactProposal, decodeMessage, encodeMessage, type RequestFetch, type RequestFetchReply, WireDecodeError } from '../../network/codec.js';
import type { NetworkHost } from '../../network/host.js';
import type { Logger } from '../observability/log.js';
import type { NodeMetrics } from '../observability/metrics.js';
import { assembleProposal, type ProposalCompactor, type ProposalMessage } from './compact-proposals.js';

/**
 * How long a replica waits for a proposal's sender to supply requests. Under the default 1 s
 * round timeout: a sender that takes longer has lost the round anyway.
 */
export const FETCH_TIMEOUT_MS = 1_000;

/** Asks `peer` for requests; undefined when it does not answer in time or answers garbage (penalised). */
export async function fetchRequests(host: Pick<NetworkHost, 'request' | 'penalise'>, peer: string, request: RequestFetch, metrics?: NodeMetrics): Promise<RequestFetchReply | undefined> {
  let reply: Uint8Array;
  try {
    reply = await host.request(peer, 'fetch', encodeMessage(request), FETCH_TIMEOUT_MS);
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

/** Answers other validators' fetches from this node's proposals and stash; a garbage ask is penalised. */
export function serveRequestFetches(host: Pick<NetworkHost, 'handle' | 'penalise'>, compactor: ProposalCompactor, metrics?: NodeMetrics): void {
  host.handle('fetch', async (from, bytes) => {
    let msg: ReturnType<typeof decodeMessage>;
    try {
      msg = decodeMessage(bytes);
    } catch (err) {
      if (!(err instanceof WireDecodeError)) throw err;
      host.penalise(from);
      return undefined;
    }
    if (msg.type !== 'request-fetch') {
      host.penalise(from);
      return undefined;
    }
    const reply = encodeMessage(compactor.serve(msg));
    metrics?.bytesOut.inc({ topic: 'fetch' }, reply.length);
    return reply;
  });
}

/**
 * Rebuilds an inbound compact proposal from `peer` (validator `sender`): the full proposal, or
 * undefined when its sender did not supply what it named (this replica then does not vote for
 * it; a sender that answered with other bytes is penalised).
 */
export async function rebuildProposal(
  message: CompactProposal,
  from: { readonly peer: string; readonly sender: number },
  opts: {
    readonly host: Pick<NetworkHost, 'request' | 'penalise'>;
    /** This node's copy of a request, by id key. */
    readonly lookup: (key: string) => Uint8Array | undefined;
    readonly keyOf: (request: Uint8Array) => string;
    readonly metrics?: NodeMetrics;
    readonly logger?: Logger;
  },
): Promise<ProposalMessage | undefined> {
  const assembly = await assembleProposal(message, {
    keyOf: opts.keyOf,
    lookup: opts.lookup,
    fetch: (request) => fetchRequests(opts.host, from.peer, request, opts.metrics),
  });
  const m = opts.metrics;
  if (assembly.kind === 'complete') {
    if (assembly.inline > 0) m?.proposalRequestsRebuilt.inc({ source: 'inline' }, assembly.inline);
    if (assembly.local > 0) m?.proposalRequestsRebuilt.inc({ source: 'local' }, assembly.local);
    if (assembly.fetched > 0) m?.proposalRequestsRebuilt.inc({ source: 'fetched' }, assembly.fetched);
    return assembly.message;
  }
  if (assembly.kind === 'forged') opts.host.penalise(from.peer);
  m?.rejectedMessages.inc({ reason: assembly.kind === 'forged' ? 'proposal-fetch-forged' : 'proposal-unavailable' });
  opts.logger?.debug({ from: from.sender, round: message.block.round, detail: assembly.detail }, 'compact proposal not rebuilt; not voting for it');
  return undefined;
}
