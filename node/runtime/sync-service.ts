/**
 * The `sync` protocol's server side: blocks from a height (or "pruned below"), and snapshot
 * chunks. Each answer can be many MiB read from the ledger and encoded on the event loop, and
 * its bytes wait in the stream until the asker reads them, so what one peer may have open is
 * bounded per connection (MAX_SYNC_STREAMS_PER_PEER), as request fetches are. An honest node
 * far behind may have several asks open to one peer (it asks a round's leader again when a
 * higher QC arrives while earlier answers are still on their way), so the bound is a few, not
 * one: it caps what a faulty peer pins here at 8 answers, against the 256 streams libp2p
 * allows by default. An ask past it is reset by libp2p, unpenalised; the asker moves on.
 */
import { encodeMessage, MAX_SYNC_ASK_BYTES } from '../../network/codec.js';
import { decodeFromPeer } from './p2p-transport.js';
import type { NetworkHost } from '../../network/host.js';
import type { SnapshotChunkAnswer, SyncAnswer } from './ports.js';

/** Sync streams one connection may hold open here at once. */
export const MAX_SYNC_STREAMS_PER_PEER = 8;

export interface SyncSource {
  /** Blocks from `fromHeight` with the highest QC, or the lowest height still held. */
  blocksFrom(fromHeight: number): SyncAnswer;
  /** The chunk of the snapshot at `height` (0: the latest) from `offset`; undefined when there is none. */
  snapshotChunk(height: number, offset: number): SnapshotChunkAnswer | undefined;
  /** False: asks are read and end unanswered (a Byzantine test behaviour); answered when absent. */
  answers?(): boolean;
}

/**
 * Registers the `sync` handler. Bytes that are not a sync ask (undecodable, or another message)
 * are not what an honest validator sends, so the sender is penalised and the stream ends
 * unanswered.
 */
export function serveSyncRequests(host: Pick<NetworkHost, 'handle' | 'penalise'>, source: SyncSource): void {
  host.handle(
    'sync',
    async (from, bytes) => {
      const msg = decodeFromPeer(host, from, bytes);
      if (msg === undefined) return undefined;
      if (source.answers?.() === false) return undefined;
      if (msg.type === 'snapshot-request') {
        const chunk = source.snapshotChunk(msg.height, msg.offset);
        return encodeMessage(chunk ? { type: 'snapshot-chunk', ...chunk } : { type: 'snapshot-none' });
      }
      if (msg.type !== 'sync-request') {
        host.penalise(from);
        return undefined;
      }
      const answer = source.blocksFrom(msg.fromHeight);
      if ('pruned' in answer) return encodeMessage({ type: 'sync-pruned', lowestHeight: answer.pruned });
      return encodeMessage({ type: 'sync-response', blocks: answer.blocks, highQc: answer.highQc });
    },
    { maxRequestBytes: MAX_SYNC_ASK_BYTES, maxInboundStreams: MAX_SYNC_STREAMS_PER_PEER },
  );
}
