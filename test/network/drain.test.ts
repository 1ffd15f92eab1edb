import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import * as lp from 'it-length-prefixed';
import { type DrainableStream, DrainWaits, SendProgressWatch, type WatchedStream } from '../../network/drain.js';
import { createNetworkHost, protocolId } from '../../network/host.js';
import { rawPeer } from '../raw-peer.js';
import { waitFor } from '../wait-for.js';

const CHAIN = 'drain-test';


/** A fake of the part of a libp2p stream a drain wait reads: a flag and its events, listeners counted. */
class FakeStream extends EventTarget {
  writableNeedsDrain = false;
  listeners = 0;
  override addEventListener(...args: Parameters<EventTarget['addEventListener']>): void {
    this.listeners++;
    super.addEventListener(...args);
  }
  override removeEventListener(...args: Parameters<EventTarget['removeEventListener']>): void {
    this.listeners--;
    super.removeEventListener(...args);
  }
}

const asStream = (f: FakeStream) => f as unknown as DrainableStream;
const waits = new DrainWaits();
const drained = (s: DrainableStream, signal: AbortSignal) => waits.wait(s, signal);
const settled = async (p: Promise<unknown>) => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('network/drain DrainWaits', () => {
  it('returns at once when nothing waits to be sent', async () => {
    await drained(asStream(new FakeStream()), AbortSignal.timeout(1000));
  });

  it('waits for a drain every time, not only the first (libp2p onDrain() kept its first promise)', async () => {
    const s = new FakeStream();
    for (let round = 0; round < 3; round++) {
      s.writableNeedsDrain = true;
      const wait = drained(asStream(s), AbortSignal.timeout(5000));
      assert.equal(await settled(wait), false, `wait ${round} must not resolve before the drain`);
      s.writableNeedsDrain = false;
      s.dispatchEvent(new Event('drain'));
      await wait;
    }
  });

  it('goes on waiting through a wake-up after which the stream still needs to drain (the socket drained, not the stream)', async () => {
    const s = new FakeStream();
    // What a libp2p stream does on 'drain': clear its flag, retry its queue a microtask later,
    // and set the flag again when its peer's window is still shut.
    let windowShut = true;
    s.addEventListener('drain', () => {
      s.writableNeedsDrain = false;
      queueMicrotask(() => {
        if (windowShut) s.writableNeedsDrain = true;
      });
    });
    s.writableNeedsDrain = true;
    const wait = drained(asStream(s), AbortSignal.timeout(5000));
    for (let wake = 0; wake < 3; wake++) {
      s.dispatchEvent(new Event('drain'));
      assert.equal(await settled(wait), false, `wake-up ${wake} must not release the writers`);
    }
    windowShut = false;
    s.dispatchEvent(new Event('drain'));
    await wait;
  });

  it('fails when the stream closes first or the deadline passes', async () => {
    const s = new FakeStream();
    s.writableNeedsDrain = true;
    const closing = drained(asStream(s), AbortSignal.timeout(5000));
    s.dispatchEvent(new Event('close'));
    await assert.rejects(closing, /closed before it drained/);
    const controller = new AbortController();
    const late = drained(asStream(s), controller.signal);
    controller.abort();
    await assert.rejects(late, /did not drain in time/);
    await assert.rejects(drained(asStream(s), AbortSignal.abort()), /did not drain in time/);
  });

  it('shares one wait per stream among all its writers, and lets a writer whose deadline passed go alone', async () => {
    const s = new FakeStream();
    s.writableNeedsDrain = true;
    const controllers = Array.from({ length: 50 }, () => new AbortController());
    const all = controllers.map((c) => drained(asStream(s), c.signal));
    assert.equal(s.listeners, 2, 'one drain and one close listener for 50 writers');
    controllers[0]!.abort();
    await assert.rejects(all[0]!, /did not drain in time/);
    assert.equal(await settled(Promise.all(all.slice(1))), false, 'the others still wait');
    s.writableNeedsDrain = false;
    s.dispatchEvent(new Event('drain'));
    await Promise.all(all.slice(1));
    assert.equal(s.listeners, 0, 'nothing left on the stream');
  });
});

/** A FakeStream that also holds unsent bytes, as the watch reads them. */
class FakeBackedUpStream extends FakeStream {
  writeBufferLength = 0;
}

describe('network/drain SendProgressWatch', function () {
  this.timeout(10_000);
  const TIMEOUT_MS = 300;
  const TICK_MS = 40;
  const tick = () => new Promise((r) => setTimeout(r, TICK_MS));

  /** A watch over a stream backed up with `unsent` bytes, and when (ms after it armed) it called a stall. */
  function backedUp(unsent: number) {
    const s = new FakeBackedUpStream();
    s.writableNeedsDrain = true;
    s.writeBufferLength = unsent;
    const started = Date.now();
    const result = { s, stalledAfterMs: undefined as number | undefined, watch: undefined as unknown as SendProgressWatch };
    result.watch = new SendProgressWatch(s as unknown as WatchedStream, TIMEOUT_MS, () => {
      result.stalledAfterMs ??= Date.now() - started;
    });
    result.watch.sent(unsent, false);
    return result;
  }

  it('ends a backed-up stream whose wake-ups move none of its bytes (another stream drained the socket)', async () => {
    const w = backedUp(1000);
    // The muxer wakes every stream of a connection when its socket drains: wake-ups for four
    // times the timeout, none of which sends a byte of this stream.
    for (let i = 0; i < 30 && w.stalledAfterMs === undefined; i++) {
      await tick();
      w.s.dispatchEvent(new Event('drain'));
    }
    assert.ok(w.stalledAfterMs !== undefined, 'stalled while the wake-ups went on');
    assert.ok(w.stalledAfterMs >= TIMEOUT_MS - 20, `not before its timeout (${w.stalledAfterMs} ms)`);
  });

  it('keeps a stream whose bytes leave while newer ones queue behind them, its unsent length growing', async () => {
    const w = backedUp(1000);
    // Each tick 100 bytes more are handed over and 50 of what was queued leaves: the unsent
    // length grows by 50 every time, yet bytes leave all along.
    for (let i = 0; i < 25; i++) {
      await tick();
      w.watch.sent(100, false);
      w.s.writeBufferLength += 50;
      w.s.dispatchEvent(new Event('drain'));
    }
    assert.equal(w.stalledAfterMs, undefined, `${25 * TICK_MS} ms of progress, more than three timeouts, and no stall`);
    // Then nothing leaves any more: the clock that progress restarted runs out.
    await waitFor(() => w.stalledAfterMs !== undefined, 'a stall once progress stops', 5_000);
  });

  it('disarms when the stream drains, arms again on the next send that backs up, and is silent once stopped', async () => {
    const w = backedUp(1000);
    w.s.writableNeedsDrain = false;
    w.s.writeBufferLength = 0;
    w.s.dispatchEvent(new Event('drain'));
    await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
    assert.equal(w.stalledAfterMs, undefined, 'a drained stream is not watched');
    w.s.writableNeedsDrain = true;
    w.s.writeBufferLength = 500;
    w.watch.sent(500, false);
    await waitFor(() => w.stalledAfterMs !== undefined, 'armed again, a stall', 5_000);
    const stopped = backedUp(1000);
    stopped.watch.stop();
    await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
    assert.equal(stopped.stalledAfterMs, undefined, 'a stopped watch says nothing');
  });
});

describe('network/host: a session whose peer stops reading', function () {
  this.timeout(30_000);

  it('ends once its frames stop leaving for the stream timeout, short of the unsent-bytes bound', async () => {
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    // A raw peer that accepts the session and never reads it: its receive window (256 KiB, not
    // allowed to grow) fills, and the rest stays queued at the session's end.
    const raw = await rawPeer(keys[0]!, { fixedWindow: true });
    let inbound: Stream | undefined;
    await raw.handle(protocolId(CHAIN, 'submit-session'), (stream) => {
      inbound = stream;
      stream.pause();
    });
    const host = await createNetworkHost({
      chainId: CHAIN,
      privateKey: keys[1]!,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allowedPeers: new Set(),
      peers: [{ peerId: raw.peerId.toString(), multiaddr: raw.getMultiaddrs()[0]!.toString() }],
      streamTimeoutMs: 1_000,
    });
    try {
      await waitFor(() => host.peers().includes(raw.peerId.toString()), 'connected');
      const session = await host.openSession(raw.peerId.toString(), 'submit-session', () => undefined);
      let ended: number | undefined;
      session.onClose(() => (ended = Date.now()));
      // 10 frames of 48 KiB: past the peer's window, well under the 1 MiB that ends a session at once.
      for (let i = 0; i < 10; i++) assert.ok(session.send(new Uint8Array(48 * 1024).fill(i)), `frame ${i} queued`);
      const sentAt = Date.now();
      await waitFor(() => inbound !== undefined, 'the peer took the session');
      assert.equal(session.closed, false, 'not ended by the sends themselves');
      // Nothing but the watch can end it: the peer neither reads nor closes.
      await waitFor(() => ended !== undefined, 'the session ends', 10_000);
      assert.ok(ended! - sentAt >= 900, `not before the stream timeout (${ended! - sentAt} ms)`);
    } finally {
      await host.stop();
      await raw.stop();
    }
  });
});

describe('network/host: a channel to a peer that stops reading', function () {
  this.timeout(30_000);

  it('holds the writers until the peer reads again, then delivers every frame in order', async () => {
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    const rawId = peerIdFromPrivateKey(keys[1]!);
    // Its receive window may not grow past the initial 256 KiB, so each round outruns it.
    const raw = await rawPeer(keys[1]!, { fixedWindow: true });
    const host = await createNetworkHost({
      chainId: CHAIN,
      privateKey: keys[0]!,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allowedPeers: new Set([rawId.toString()]),
      peers: [{ peerId: rawId.toString(), multiaddr: raw.getMultiaddrs()[0]!.toString() }],
      streamTimeoutMs: 20_000,
    });
    const received: number[] = [];
    let inbound: Stream | undefined;
    await raw.handle(protocolId(CHAIN, 'vote'), async (stream) => {
      inbound = stream;
      stream.pause();
      for await (const frame of lp.decode(stream, { maxDataLength: 1 << 20 })) received.push(frame.subarray()[0]!);
    });
    try {
      await waitFor(() => host.peers().includes(rawId.toString()), 'connected');
      // Twice: libp2p's own onDrain() held writers only until the stream's first drain.
      for (let round = 0; round < 2; round++) {
        if (round > 0) inbound!.pause();
        // 64 frames of 64 KiB: far more than the muxer's window, so the writers must wait.
        const base = received.length;
        const frame = (i: number) => new Uint8Array(64 * 1024).fill(i);
        const sends = Array.from({ length: 64 }, (_, i) => host.send(rawId.toString(), 'vote', frame(i)));
        const done = new Set<number>();
        for (const [i, p] of sends.entries()) p.then(() => done.add(i), () => undefined);
        await waitFor(() => inbound !== undefined, 'the channel opened');
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(done.size < sends.length, `round ${round}: writers wait while the peer does not read (${done.size} of ${sends.length} done)`);
        inbound!.resume();
        await Promise.all(sends);
        await waitFor(() => received.length === base + 64, 'every frame read');
        assert.deepEqual(received.slice(base), Array.from({ length: 64 }, (_, i) => i));
      }
    } finally {
      await host.stop();
      await raw.stop();
    }
  });
});
