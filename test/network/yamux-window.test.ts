import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import { setYamuxWindowUpdates, type YamuxWindowUpdates } from '../../network/yamux-window.js';

async function until(cond: () => boolean, what: string, timeoutMs = 20_000, pollMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function pair(rule: YamuxWindowUpdates): Promise<[NetworkHost, NetworkHost]> {
  const keys = await Promise.all([0, 1].map(() => generateKeyPair('Ed25519')));
  const allowedPeers = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()));
  const hosts = await Promise.all(
    keys.map((privateKey) => createNetworkHost({ chainId: 'yamux-test', privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers, yamuxWindowUpdates: rule })),
  );
  const [a, b] = hosts as [NetworkHost, NetworkHost];
  await a.dial(b.multiaddrs()[0]!); // the host's multiaddrs already end in /p2p/<id>
  await until(() => hosts.every((h) => h.peers().length >= 1), 'the hosts to connect');
  return [a, b];
}

/**
 * Sends `frames` channel frames of `bytes` each from a to b, one after another, and counts the
 * plain WindowUpdate frames (no SYN/ACK/FIN/RST flag: those open and close streams, such as the
 * connection monitor's pings) that either host receives; each reaches
 * YamuxStream.handleWindowUpdate, which this wraps for the duration (a test-only spy).
 */
async function windowUpdatesFor(
  rule: YamuxWindowUpdates,
  frames: number,
  bytes: number,
): Promise<{ updates: number; dataFrames: number; delivered: Uint8Array[] }> {
  const [a, b] = await pair(rule);
  type Frame = { header: { flag: number; length: number } };
  const proto = YamuxStream.prototype as unknown as {
    handleWindowUpdate: (this: unknown, frame: Frame) => void;
    handleData: (this: unknown, frame: Frame) => void;
  };
  const original = proto.handleWindowUpdate;
  const originalData = proto.handleData;
  let updates = 0;
  let dataFrames = 0;
  try {
    const delivered: Uint8Array[] = [];
    b.handle('requests', async (_from, data) => {
      delivered.push(data);
      return undefined;
    });
    await a.send(b.peerId, 'requests', new Uint8Array(8)); // the channel is open before counting
    await until(() => delivered.length === 1, 'the first frame');
    delivered.length = 0;
    proto.handleWindowUpdate = function (this: unknown, frame: Frame) {
      if (frame.header.flag === 0) updates++;
      original.call(this, frame);
    };
    proto.handleData = function (this: unknown, frame: Frame) {
      if (frame.header.length > 0) dataFrames++;
      originalData.call(this, frame);
    };
    // One at a time, each delivered before the next is sent: sends that queue up together leave
    // as one data frame, and on a loaded machine 200 of them once coalesced into 9.
    for (let i = 0; i < frames; i++) {
      await a.send(b.peerId, 'requests', randomBytes(bytes));
      await until(() => delivered.length > i, `frame ${i + 1} delivered`, 20_000, 1);
    }
    await until(() => delivered.length === frames, `${frames} frames delivered`);
    return { updates, dataFrames, delivered };
  } finally {
    proto.handleWindowUpdate = original;
    proto.handleData = originalData;
    await Promise.all([a.stop(), b.stop()]);
  }
}

describe('yamux receive-window updates (network/yamux-window.ts)', () => {
  it("the library's rule answers every data frame with a WindowUpdate; the half-window rule sends none for 200 x 250 B", async () => {
    // The library answers a data frame with an update unless its window just grew (99-200 updates
    // for 200 frames seen).
    const stock = await windowUpdatesFor('every-frame', 200, 250);
    // Every stream of both hosts is counted, so a few frames of other protocols join the 200.
    assert.ok(stock.dataFrames >= 200, `one data frame per send: ${stock.dataFrames} for 200 sends`);
    assert.ok(stock.updates >= 40, `every-frame: ${stock.updates} updates for ${stock.dataFrames} data frames`);
    const half = await windowUpdatesFor('half-window', 200, 250);
    assert.ok(half.updates <= 2, `half-window: ${half.updates} updates for ${half.dataFrames} data frames (50 KiB, under half a window)`);
  });

  it('under the half-window rule, more than a window of data still flows: credit comes back in time', async () => {
    // 12 frames of 100 KiB: 1.2 MiB through a 256 KiB window, and a single 1 MiB frame.
    // Without credit coming back the sender would block for good and the wait would time out.
    const many = await windowUpdatesFor('half-window', 12, 100 * 1024);
    assert.deepEqual(
      many.delivered.map((d) => d.length),
      Array(12).fill(100 * 1024),
    );
    const big = await windowUpdatesFor('half-window', 1, 1024 * 1024);
    assert.equal(big.delivered[0]!.length, 1024 * 1024);
  });
});

describe('yamux receive-window updates on one stream (a fake frame sink, no sockets)', () => {
  type Sent = { type: number; flag: number; length: number };
  const WINDOW = 256 * 1024;

  /** A stream whose outgoing frames land in `sent`; RTT unknown, so the window never grows. */
  function stream(state: StreamState): { s: YamuxStream; sent: Sent[]; data: (bytes: number) => void } {
    const sent: Sent[] = [];
    const logger = Object.assign(() => undefined, { error: () => undefined, trace: () => undefined, enabled: false });
    const s = new YamuxStream({
      id: '1',
      streamId: 1,
      state,
      direction: 'inbound',
      log: logger,
      getRTT: () => -1,
      sendFrame: (header: Sent) => {
        sent.push({ type: header.type, flag: header.flag, length: header.length });
        return true;
      },
    } as unknown as ConstructorParameters<typeof YamuxStream>[0]);
    const data = (bytes: number) =>
      (s as unknown as { handleData: (f: unknown) => void }).handleData({ header: { type: 0, flag: 0, streamID: 1, length: bytes }, data: new Uint8Array(bytes) });
    return { s, sent, data };
  }

  afterEach(() => setYamuxWindowUpdates('half-window'));

  it('half-window: no update while more than half the window is left, then one that restores it all', () => {
    setYamuxWindowUpdates('half-window');
    const { sent, data } = stream(StreamState.Established);
    for (let i = 0; i < 127; i++) data(1024);
    assert.deepEqual(sent, []);
    data(1024); // half used
    assert.deepEqual(sent, [{ type: 1, flag: 0, length: WINDOW / 2 }]);
    for (let i = 0; i < 127; i++) data(1024);
    assert.equal(sent.length, 1, 'credit restored: the next 127 KiB pass without an update');
  });

  it('every-frame (the library): one update per data frame', () => {
    setYamuxWindowUpdates('every-frame');
    const { sent, data } = stream(StreamState.Established);
    for (let i = 0; i < 10; i++) data(1024);
    assert.equal(sent.length, 10);
    assert.ok(sent.every((f) => f.type === 1 && f.length === 1024));
  });

  it('an opening stream still acknowledges at once, and a paused one sends nothing until resumed', () => {
    setYamuxWindowUpdates('half-window');
    const opening = stream(StreamState.SYNReceived);
    opening.s.sendWindowUpdate();
    assert.deepEqual(opening.sent, [{ type: 1, flag: 2, length: 0 }], 'ACK flag, no credit needed yet');
    const { s, sent, data } = stream(StreamState.Established);
    s.sendPause();
    for (let i = 0; i < 200; i++) data(1024);
    assert.deepEqual(sent, [], 'paused: the library withholds credit');
    s.sendResume();
    assert.deepEqual(sent, [{ type: 1, flag: 0, length: 200 * 1024 }], 'resumed with more than half used: credit at once');
    assert.ok(WINDOW > 200 * 1024);
  });
});
