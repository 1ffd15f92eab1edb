import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import type { YamuxWindowUpdates } from '../../network/yamux-window.js';

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function pair(rule: YamuxWindowUpdates): Promise<[NetworkHost, NetworkHost]> {
  const keys = await Promise.all([0, 1].map(() => generateKeyPair('Ed25519')));
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
  const base = 20_000 + Math.floor(Math.random() * 11_000);
  const addrs = ids.map((_, i) => `/ip4/127.0.0.1/tcp/${base + i}`);
  const hosts: NetworkHost[] = [];
  for (let i = 0; i < 2; i++) {
    const peers = ids.map((p, j) => ({ peerId: p, multiaddr: addrs[j]! })).filter((_, j) => j !== i);
    hosts.push(await createNetworkHost({ chainId: 'yamux-test', privateKey: keys[i]!, listen: [addrs[i]!], peers, allowedPeers: new Set(ids), yamuxWindowUpdates: rule }));
  }
  await until(() => hosts.every((h) => h.peers().length >= 1), 'the hosts to connect');
  return [hosts[0]!, hosts[1]!];
}

/**
 * Sends `frames` channel frames of `bytes` each from a to b, one per tick, and counts the
 * WindowUpdate frames that come back (each reaches YamuxStream.handleWindowUpdate, which this
 * wraps for the duration: a test-only spy).
 */
async function windowUpdatesFor(rule: YamuxWindowUpdates, frames: number, bytes: number): Promise<{ updates: number; delivered: Uint8Array[] }> {
  const [a, b] = await pair(rule);
  const proto = YamuxStream.prototype as unknown as { handleWindowUpdate: (this: unknown, frame: unknown) => void };
  const original = proto.handleWindowUpdate;
  let updates = 0;
  try {
    const delivered: Uint8Array[] = [];
    b.handle('requests', async (_from, data) => {
      delivered.push(data);
      return undefined;
    });
    await a.send(b.peerId, 'requests', new Uint8Array(8)); // the channel is open before counting
    await until(() => delivered.length === 1, 'the first frame');
    delivered.length = 0;
    proto.handleWindowUpdate = function (this: unknown, frame: unknown) {
      updates++;
      original.call(this, frame);
    };
    for (let i = 0; i < frames; i++) await a.send(b.peerId, 'requests', randomBytes(bytes));
    await until(() => delivered.length === frames, `${frames} frames delivered`);
    return { updates, delivered };
  } finally {
    proto.handleWindowUpdate = original;
    await Promise.all([a.stop(), b.stop()]);
  }
}

describe('yamux receive-window updates (network/yamux-window.ts)', () => {
  it("the library's rule answers every data frame with a WindowUpdate; the half-window rule sends none for 200 x 250 B", async () => {
    // Sends that queue up together leave as one data frame, so the library's count varies
    // (92-200 seen); it is never near the half-window rule's.
    const stock = await windowUpdatesFor('every-frame', 200, 250);
    assert.ok(stock.updates >= 40, `every-frame: ${stock.updates} updates for 200 frames`);
    const half = await windowUpdatesFor('half-window', 200, 250);
    assert.ok(half.updates <= 2, `half-window: ${half.updates} updates for 200 frames (50 KiB, under half a window)`);
  });

  it('under the half-window rule, more than a window of data still flows: credit comes back in time', async () => {
    // 12 frames of 100 KiB: 1.2 MiB through a 256 KiB window, and a single 1 MiB frame.
    const many = await windowUpdatesFor('half-window', 12, 100 * 1024);
    assert.equal(many.delivered.length, 12);
    assert.ok(many.updates >= 2, `credit was granted back (${many.updates} updates)`);
    const big = await windowUpdatesFor('half-window', 1, 1024 * 1024);
    assert.equal(big.delivered[0]!.length, 1024 * 1024);
  });
});
