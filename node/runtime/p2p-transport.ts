import type { ConsensusMessage } from '../consensus/messages.js';
import { type CompactProposal, decodeMessage, encodeMessage, WireDecodeError, type WireMessage } from '../../network/codec.js';
import type { NetworkHost } from '../../network/host.js';
import type { NodeMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/log.js';
import type { ProposalCompactor } from './compact-proposals.js';
import type { ConsensusTransport, SnapshotChunkAnswer, SyncAnswer } from './ports.js';

const SYNC_TIMEOUT_MS = 10_000;

/**
 * ConsensusTransport over the libp2p host. Proposals and timeouts go straight to each
 * validator on the `consensus` protocol and votes to the next leader on `vote`: on a direct
 * stream the sender is the noise-authenticated peer, so the core's "proposal comes from the
 * round's leader" check means something (a gossiped copy arrives from whoever forwarded it).
 * At the cluster sizes run here that costs n - 1 sends per proposal; gossip for large n is
 * benchmark work (issue 8).
 */
export function p2pTransport(opts: {
  host: NetworkHost;
  self: number;
  peerIds: readonly string[];
  metrics?: NodeMetrics;
  logger?: Logger;
  /** Writes proposals with request ids where the others hold the requests (compact-proposals.ts). */
  compactor?: ProposalCompactor;
}): ConsensusTransport {
  const { host, self, peerIds } = opts;
  const fire = (to: number, protocol: 'vote' | 'consensus', bytes: Uint8Array) => {
    opts.metrics?.bytesOut.inc({ topic: protocol }, bytes.length);
    host.send(peerIds[to]!, protocol, bytes).catch((err: unknown) => opts.logger?.debug({ to, protocol, err: String(err) }, 'send failed'));
  };
  return {
    broadcast(message) {
      // Encoded once for every peer: a full block is the largest message there is.
      const wire = message.type === 'proposal' && opts.compactor ? opts.compactor.compact(message) : message;
      if (wire.type === 'compact-proposal' && opts.metrics) {
        let byId = 0;
        for (const ref of wire.block.payload) if ('id' in ref) byId++;
        opts.metrics.proposalRequestsSent.inc({ as: 'id' }, byId);
        if (wire.block.payload.length > byId) opts.metrics.proposalRequestsSent.inc({ as: 'bytes' }, wire.block.payload.length - byId);
      } else if (wire.type === 'proposal' && wire.block.payload.length > 0) {
        opts.metrics?.proposalRequestsSent.inc({ as: 'bytes' }, wire.block.payload.length);
      }
      const bytes = encodeMessage(wire);
      for (let to = 0; to < peerIds.length; to++) if (to !== self) fire(to, 'consensus', bytes);
    },
    send(to, message) {
      fire(to, message.type === 'vote' ? 'vote' : 'consensus', encodeMessage(message));
    },
    async requestSync(to, fromHeight) {
      try {
        const reply = await host.request(peerIds[to]!, 'sync', encodeMessage({ type: 'sync-request', fromHeight }), SYNC_TIMEOUT_MS);
        opts.metrics?.bytesIn.inc({ topic: 'sync' }, reply.length);
        // Slow or gone proves nothing; bytes that are not a message do.
        const msg = decodeFromPeer(host, peerIds[to]!, reply);
        if (msg?.type === 'sync-pruned') return { pruned: msg.lowestHeight } satisfies SyncAnswer;
        return msg?.type === 'sync-response' ? ({ blocks: msg.blocks, highQc: msg.highQc } satisfies SyncAnswer) : undefined;
      } catch (err) {
        opts.logger?.debug({ to, err: String(err) }, 'sync request failed');
        return undefined;
      }
    },
    async requestSnapshotChunk(to, height, offset) {
      try {
        const reply = await host.request(peerIds[to]!, 'sync', encodeMessage({ type: 'snapshot-request', height, offset }), SYNC_TIMEOUT_MS);
        opts.metrics?.bytesIn.inc({ topic: 'snapshot' }, reply.length);
        const msg = decodeFromPeer(host, peerIds[to]!, reply);
        if (msg?.type !== 'snapshot-chunk') return undefined;
        const { type: _type, ...chunk } = msg;
        return chunk satisfies SnapshotChunkAnswer;
      } catch (err) {
        opts.logger?.debug({ to, err: String(err) }, 'snapshot request failed');
        return undefined;
      }
    },
  };
}

/** Decodes an inbound consensus frame; a WireDecodeError means the peer sent garbage. */
export function decodeConsensus(bytes: Uint8Array): ConsensusMessage | CompactProposal | undefined {
  try {
    const msg = decodeMessage(bytes);
    return msg.type === 'proposal' || msg.type === 'compact-proposal' || msg.type === 'vote' || msg.type === 'timeout' ? msg : undefined;
  } catch (err) {
    if (err instanceof WireDecodeError) return undefined;
    throw err;
  }
}

/**
 * Decodes a frame a peer sent on a request/response protocol; bytes that are no message are not
 * what an honest validator sends, so the peer is penalised and undefined returned.
 */
export function decodeFromPeer(host: Pick<NetworkHost, 'penalise'>, from: string, bytes: Uint8Array): WireMessage | undefined {
  try {
    return decodeMessage(bytes);
  } catch (err) {
    if (!(err instanceof WireDecodeError)) throw err;
    host.penalise(from);
    return undefined;
  }
}
