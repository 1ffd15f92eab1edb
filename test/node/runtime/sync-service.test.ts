import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage } from '../../../network/codec.js';
import type { DirectHandler, ServeOptions } from '../../../network/host.js';
import type { SnapshotChunkAnswer, SyncAnswer } from '../../../node/runtime/ports.js';
import { MAX_SYNC_STREAMS_PER_PEER, serveSyncRequests, type SyncSource } from '../../../node/runtime/sync-service.js';

type Handler = DirectHandler;

/** A fake host: keeps what serveSyncRequests registers and whom it penalises. */
function fakeHost() {
  const registered: { name: string; handler: Handler; opts: ServeOptions | undefined }[] = [];
  const penalised: string[] = [];
  const host = {
    handle: (name: string, handler: Handler, opts?: ServeOptions) => registered.push({ name, handler, opts }),
    penalise: (peer: string) => penalised.push(peer),
  };
  return { host: host as unknown as Parameters<typeof serveSyncRequests>[0], registered, penalised };
}

function source(over: Partial<SyncSource> = {}): SyncSource & { asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    blocksFrom: (from: number): SyncAnswer => {
      asked.push(from);
      return { pruned: 7 };
    },
    snapshotChunk: (): SnapshotChunkAnswer | undefined => undefined,
    ...over,
  };
}

describe('sync-service: the sync protocol server', () => {
  it('answers a sync ask and a snapshot ask, penalising nobody', async () => {
    const { host, registered, penalised } = fakeHost();
    const src = source();
    serveSyncRequests(host, src);
    assert.equal(registered.length, 1);
    const { name, handler } = registered[0]!;
    assert.equal(name, 'sync');
    const pruned = await handler('peer-a', encodeMessage({ type: 'sync-request', fromHeight: 3 }));
    assert.deepEqual(decodeMessage(pruned as Uint8Array), { type: 'sync-pruned', lowestHeight: 7 });
    assert.deepEqual(src.asked, [3]);
    const none = await handler('peer-a', encodeMessage({ type: 'snapshot-request', height: 0, offset: 0 }));
    assert.equal(decodeMessage(none as Uint8Array).type, 'snapshot-none');
    assert.deepEqual(penalised, []);
  });

  it('penalises the sender of bytes that are not a sync ask, and answers nothing', async () => {
    const { host, registered, penalised } = fakeHost();
    const src = source();
    serveSyncRequests(host, src);
    const { handler } = registered[0]!;
    assert.equal(await handler('garbage', Uint8Array.of(0xff, 1, 2)), undefined);
    // Well-formed, but not something one asks on this protocol.
    assert.equal(await handler('wrong-kind', encodeMessage({ type: 'snapshot-none' })), undefined);
    assert.deepEqual(penalised, ['garbage', 'wrong-kind']);
    assert.deepEqual(src.asked, []);
  });

  it('bounds the sync streams one connection may hold open', () => {
    const { host, registered } = fakeHost();
    serveSyncRequests(host, source());
    const opts = registered[0]!.opts;
    assert.equal(opts?.maxInboundStreams, MAX_SYNC_STREAMS_PER_PEER);
    assert.ok(MAX_SYNC_STREAMS_PER_PEER >= 2 && MAX_SYNC_STREAMS_PER_PEER <= 16, 'room for a few asks, far below the default 256');
    assert.ok((opts?.maxRequestBytes ?? Number.POSITIVE_INFINITY) <= 1024, 'an ask is a few bytes');
  });

  it('reads asks but leaves them unanswered where the source says it does not answer', async () => {
    const { host, registered, penalised } = fakeHost();
    const src = source({ answers: () => false });
    serveSyncRequests(host, src);
    assert.equal(await registered[0]!.handler('peer-a', encodeMessage({ type: 'sync-request', fromHeight: 1 })), undefined);
    assert.deepEqual(src.asked, []);
    assert.deepEqual(penalised, []);
  });
});
