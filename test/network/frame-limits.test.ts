import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import type { Libp2p } from 'libp2p';
import { encode as varint } from 'uint8-varint';
import { createNetworkHost, type DirectProtocolName, type NetworkHost, protocolId } from '../../network/host.js';
import { rawPeer } from '../raw-peer.js';
import { waitFor } from '../wait-for.js';

const CHAIN = 'frame-limits-test';
const FRAME_TIMEOUT_MS = 1000;
const MAX_QUERY_BYTES = 64;
const MAX_SYNC_EXCHANGES = 2;

/** The start of a frame that announces `announced` bytes and brings 10: a frame never finished. */
function unfinishedFrame(announced = 1000): Uint8Array {
  return Uint8Array.from([...varint(announced), ...new Uint8Array(10).fill(7)]);
}

describe('network/host: frame deadlines and exchange limits', function () {
  this.timeout(30_000);
  let server: NetworkHost;
  let client: NetworkHost;
  let raw: Libp2p;
  const votes: Uint8Array[] = [];
  const queries: Uint8Array[] = [];
  let syncsWaiting = 0;
  let openGate: () => void = () => undefined;
  let gate = Promise.resolve();

  before(async () => {
    const keys: PrivateKey[] = [];
    for (let i = 0; i < 3; i++) keys.push(await generateKeyPair('Ed25519'));
    const allowedPeers = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()));
    server = await createNetworkHost({ chainId: CHAIN, privateKey: keys[0]!, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers, frameTimeoutMs: FRAME_TIMEOUT_MS });
    server.handle('vote', async (_from, bytes) => {
      votes.push(bytes);
    });
    // A long exchange (a minute): only the frame deadline can cut a request that stops half way.
    server.handle('query', async (_from, bytes) => {
      queries.push(bytes);
      return bytes;
    }, { timeoutMs: 60_000, maxRequestBytes: MAX_QUERY_BYTES });
    server.handle('sync', async (_from, bytes) => {
      syncsWaiting++;
      await gate;
      syncsWaiting--;
      return bytes;
    }, { maxExchanges: MAX_SYNC_EXCHANGES });
    server.handleSession('submit-session', (_from, frame, session) => void session.send(frame));
    const at = [{ peerId: server.peerId, multiaddr: server.multiaddrs()[0]! }];
    client = await createNetworkHost({ chainId: CHAIN, privateKey: keys[1]!, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers, peers: at });
    raw = await rawPeer(keys[2]!);
    await raw.dial(multiaddr(server.multiaddrs()[0]!));
    await waitFor(() => client.peers().includes(server.peerId), 'client connected');
  });
  after(async () => {
    openGate();
    await Promise.allSettled([client?.stop(), server?.stop(), raw?.stop()]);
  });

  function openRaw(name: DirectProtocolName): Promise<Stream> {
    return raw.dialProtocol(peerIdFromString(server.peerId), protocolId(CHAIN, name), { signal: AbortSignal.timeout(5000) });
  }

  async function cutWhenUnfinished(name: DirectProtocolName, first?: Uint8Array): Promise<void> {
    const timedOut = server.stats().framesTimedOut;
    const stream = await openRaw(name);
    if (first) stream.send(lp.encode.single(first).subarray());
    stream.send(unfinishedFrame());
    await waitFor(() => server.stats().framesTimedOut > timedOut, 'the unfinished frame timed out');
    await waitFor(() => stream.status !== 'open', 'the stream ended by the server');
  }

  it('refuses a frame or stream timeout that is not a positive number', async () => {
    const privateKey = await generateKeyPair('Ed25519');
    for (const bad of [{ frameTimeoutMs: 0 }, { frameTimeoutMs: Number.NaN }, { streamTimeoutMs: -1 }]) {
      await assert.rejects(createNetworkHost({ chainId: CHAIN, privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: new Set(), ...bad }), RangeError);
    }
  });

  it('ends a channel stream whose frame stops half way, after serving the whole frame before it', async () => {
    const vote = Uint8Array.of(1, 2, 3);
    await cutWhenUnfinished('vote', vote);
    assert.deepEqual(votes, [vote]);
  });

  it('ends a session whose frame stops half way', async () => {
    await cutWhenUnfinished('submit-session', Uint8Array.of(9));
  });

  it('ends an exchange whose request stops half way, long before the exchange’s own timeout', async () => {
    const dropped = server.stats().directDropped;
    const stream = await openRaw('query');
    // Within the size limit, so only the deadline can end it.
    stream.send(unfinishedFrame(MAX_QUERY_BYTES));
    // waitFor gives up after 15 s; the exchange would run for 60.
    await waitFor(() => stream.status !== 'open', 'the exchange ended by the server');
    assert.ok(server.stats().directDropped > dropped);
    assert.equal(queries.length, 0);
  });

  it('refuses a request over the protocol’s size limit unread, and serves one at it', async () => {
    await assert.rejects(client.request(server.peerId, 'query', new Uint8Array(MAX_QUERY_BYTES + 1), 5000));
    assert.equal(queries.length, 0);
    const atLimit = new Uint8Array(MAX_QUERY_BYTES).fill(5);
    assert.deepEqual(await client.request(server.peerId, 'query', atLimit, 5000), atLimit);
  });

  it('refuses an exchange past the protocol’s limit over all connections, and serves again once one ends', async () => {
    gate = new Promise((resolve) => {
      openGate = resolve;
    });
    const refused = server.stats().exchangesRefused;
    // Two exchanges from two peers (two connections) fill the limit.
    const held = [client.request(server.peerId, 'sync', Uint8Array.of(1), 10_000)];
    const rawHeld = await openRaw('sync');
    rawHeld.send(lp.encode.single(Uint8Array.of(2)).subarray());
    await waitFor(() => syncsWaiting === MAX_SYNC_EXCHANGES, 'both exchanges in the handler');
    await assert.rejects(client.request(server.peerId, 'sync', Uint8Array.of(3), 5000));
    assert.equal(server.stats().exchangesRefused, refused + 1);
    openGate();
    assert.deepEqual(await held[0], Uint8Array.of(1));
    // A slot is free once the server has finished an exchange, a moment after its answer left.
    await waitFor(async () => {
      const answer = await client.request(server.peerId, 'sync', Uint8Array.of(4), 5000).catch(() => undefined);
      return answer !== undefined && answer[0] === 4;
    }, 'served again');
    await rawHeld.close().catch(() => undefined);
  });

  it('at the limit, a new exchange ends the oldest one still without its request', async () => {
    await waitFor(() => syncsWaiting === 0, 'no exchange in the handler');
    const evicted = server.stats().exchangesEvicted;
    // Two streams that ask nothing fill the limit.
    const idle = [await openRaw('sync'), await openRaw('sync')];
    assert.deepEqual(await client.request(server.peerId, 'sync', Uint8Array.of(6), 5000), Uint8Array.of(6));
    assert.equal(server.stats().exchangesEvicted, evicted + 1);
    await waitFor(() => idle[0]!.status !== 'open', 'the oldest idle exchange ended');
    for (const s of idle) s.abort(new Error('done'));
  });
});
