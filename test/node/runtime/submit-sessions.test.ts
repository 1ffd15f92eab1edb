import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { SubmitSession, SubmitSessionError } from '../../../client/session.js';
import { MAX_SESSION_FRAMES, serveSubmitSessions, type SubmitSessionsOptions } from '../../../node/runtime/submit-sessions.js';
import type { CommitOutcome } from '../../../node/runtime/validator-node.js';
import { createNetworkHost, type NetworkHost, protocolId, type Session } from '../../../network/host.js';
import { encodeRequestBatch } from '../../../protocol/request-batch.js';
import { Result, resultName } from '../../../protocol/result.js';
import { decodeSessionReplies, decodeSessionRequests, encodeSessionReplies, encodeSessionRequests, type SessionReplies } from '../../../protocol/submit-session.js';
import { accept, ignore, reject, type Verdict } from '../../../validation/verdict.js';
import { rawPeer } from '../../raw-peer.js';
import { waitFor } from '../../wait-for.js';

const CHAIN = 'session-test';


/**
 * A fake of ValidatorNode.submit: the first byte of a request picks its verdict (1 reject, 2
 * ignore, else accept), and each accepted request's commit is settled by the test through
 * `commit(byte)`, so the order in which requests commit is the test's to choose.
 */
class FakeSubmit {
  readonly waiting = new Map<number, (r: CommitOutcome) => void>();
  cancelled = 0;
  submit: SubmitSessionsOptions['submit'] = async (_from, requests) =>
    requests.map((r) => {
      const verdict: Verdict = r[0] === 1 ? reject('bad-signature') : r[0] === 2 ? ignore('expired') : accept(r);
      if (verdict.kind !== 'accept') return { verdict };
      const committed = new Promise<CommitOutcome>((resolve) => this.waiting.set(r[1]!, resolve));
      return { verdict, committed, cancel: () => void (this.waiting.delete(r[1]!) && this.cancelled++) };
    });
  commit(id: number, height: number): void {
    const resolve = this.waiting.get(id);
    assert.ok(resolve, `request ${id} is waiting`);
    this.waiting.delete(id);
    resolve({ height, position: id, result: Result.OK, resultName: resultName(Result.OK) });
  }
}

describe('submit sessions (node/runtime/submit-sessions.ts)', function () {
  this.timeout(30_000);
  let server: NetworkHost;
  let client: NetworkHost;
  let fake: FakeSubmit;
  let full: 'validation' | 'mempool' | undefined;
  let waitMs = 400;
  const busy: { queue: string; n: number }[] = [];
  const accepted: number[] = [];

  before(async () => {
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    const allowedPeers = new Set([peerIdFromPrivateKey(keys[0]!).toString()]);
    const common = { chainId: CHAIN, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers };
    server = await createNetworkHost({ ...common, privateKey: keys[0]! });
    client = await createNetworkHost({ ...common, privateKey: keys[1]!, peers: [{ peerId: server.peerId, multiaddr: server.multiaddrs()[0]! }] });
    serveSubmitSessions(server, {
      submit: (from, requests) => fake.submit(from, requests),
      fullQueue: () => full,
      onBusy: (queue, n) => busy.push({ queue, n }),
      onAccepted: (rs) => accepted.push(...rs.map((r) => r[1]!)),
      // Read per frame: short by default (the timeout test), long where a test must not race it.
      get waitMs() {
        return waitMs;
      },
    });
    await waitFor(() => client.peers().includes(server.peerId), 'connected');
  });

  beforeEach(() => {
    fake = new FakeSubmit();
    full = undefined;
    waitMs = 400;
    busy.length = 0;
    accepted.length = 0;
  });

  after(async () => {
    await Promise.all([client?.stop(), server?.stop()]);
  });

  async function open(): Promise<{ session: Session; frames: SessionReplies[] }> {
    const frames: SessionReplies[] = [];
    const session = await client.openSession(server.peerId, 'submit-session', (bytes) => frames.push(decodeSessionReplies(bytes)));
    return { session, frames };
  }
  const req = (verdict: number, id: number) => Uint8Array.of(verdict, id, 0xaa);
  const frame = (tag: number, requests: Uint8Array[]) => encodeSessionRequests(tag, encodeRequestBatch(requests));

  it('answers verdicts at once and each commit when it happens, in frames of what settled together', async () => {
    const { session, frames } = await open();
    session.send(frame(7, [req(0, 1), req(1, 2), req(0, 3), req(2, 4), req(0, 5)]));
    await waitFor(() => frames.length === 1, 'the verdicts');
    assert.deepEqual(frames[0]!.tag, 7);
    assert.deepEqual(frames[0]!.indices, [1, 3]);
    assert.deepEqual(frames[0]!.replies, [
      { status: 'rejected', reason: 'bad-signature' },
      { status: 'ignored', reason: 'expired' },
    ]);
    assert.deepEqual(accepted, [1, 3, 5], 'the accepted requests go on to relay');
    // Request 5 commits before request 1; then 1 and 3 commit together.
    fake.commit(5, 10);
    await waitFor(() => frames.length === 2, 'the first commit');
    assert.deepEqual(frames[1]!.indices, [4]);
    assert.equal(frames[1]!.replies[0]!.status, 'committed');
    fake.commit(3, 11);
    fake.commit(1, 11);
    await waitFor(() => frames.length === 3, 'the second commit');
    assert.deepEqual(frames[2]!.indices, [0, 2], 'settled together, one frame, in index order');
    assert.deepEqual(frames[2]!.replies.map((r) => (r.status === 'committed' ? r.height : -1)), [11, 11]);
    await session.close();
  });

  it('answers a whole frame busy when a queue is full, refuses a batch that does not decode, and ends a session that reuses an open tag', async () => {
    const { session, frames } = await open();
    full = 'mempool';
    session.send(frame(1, [req(0, 1), req(0, 2)]));
    await waitFor(() => frames.length === 1, 'busy');
    assert.deepEqual(frames[0]!.replies, [
      { status: 'ignored', reason: 'busy' },
      { status: 'ignored', reason: 'busy' },
    ]);
    assert.deepEqual(busy, [{ queue: 'mempool', n: 2 }]);
    full = undefined;
    session.send(encodeSessionRequests(2, Uint8Array.of(9, 9, 9)));
    await waitFor(() => frames.length === 2, 'the refusal');
    assert.deepEqual(frames[1], { tag: 2, indices: [], replies: [] });
    session.send(frame(3, [req(0, 3)]));
    await waitFor(() => fake.waiting.has(3), 'the first frame of tag 3 submitted');
    session.send(frame(3, [req(0, 4)]));
    await waitFor(() => session.closed, 'the session ended over the reused tag');
    assert.ok(!fake.waiting.has(4), 'the second frame of tag 3 was never submitted');
    assert.equal(fake.cancelled, 1, 'and the first one no longer waits');
    assert.equal(frames.length, 2, 'nothing answered under the ambiguous tag');
  });

  it('times out what does not commit in time, and cancels the waits of a session that ends', async () => {
    const { session, frames } = await open();
    session.send(frame(1, [req(0, 1), req(0, 2)]));
    await waitFor(() => fake.waiting.size === 2, 'submitted');
    fake.commit(2, 5);
    await waitFor(() => frames.length === 2, 'the commit, then the timeout (waitMs 400)');
    assert.deepEqual(frames[1], { tag: 1, indices: [0], replies: [{ status: 'timeout' }] });
    assert.equal(fake.cancelled, 1, 'the timed-out request no longer waits');

    session.send(frame(2, [req(0, 3), req(0, 4)]));
    await waitFor(() => fake.waiting.size === 2, 'submitted again');
    await session.close();
    await waitFor(() => fake.cancelled === 3, 'the closed session cancelled its two waits');
  });

  it('answers busy past its bound on open frames, without submitting them', async () => {
    // No frame may time out (and close) before the one past the bound arrives, however slow the machine.
    waitMs = 60_000;
    const { session, frames } = await open();
    for (let tag = 0; tag < MAX_SESSION_FRAMES; tag++) session.send(frame(tag, [req(0, tag % 256)]));
    session.send(frame(MAX_SESSION_FRAMES, [req(0, 1)]));
    await waitFor(() => frames.length === 1, 'the frame past the bound answered');
    assert.equal(frames[0]!.tag, MAX_SESSION_FRAMES);
    assert.deepEqual(frames[0]!.replies, [{ status: 'ignored', reason: 'busy' }]);
    assert.deepEqual(busy, [{ queue: 'session', n: 1 }]);
    await session.close();
  });

  it('keeps session and exchange protocols apart at the host', async () => {
    assert.throws(() => server.handle('submit-session', async () => undefined), /session protocol/);
    assert.throws(() => server.handleSession('submit', () => undefined), /not a session protocol/);
    await assert.rejects(client.openSession(server.peerId, 'submit', () => undefined), /not a session protocol/);
  });

  it('client/session.ts: many requests on one session, each resolved by its own reply; a session the validator ends fails its waits and reopens', async () => {
    const sc = new SubmitSession(client, server.peerId);
    const replies = [1, 2, 3].map((id) => sc.submit(req(0, id), 5_000));
    const refused = sc.submit(req(1, 4), 5_000);
    assert.deepEqual(await refused, { status: 'rejected', reason: 'bad-signature' });
    await waitFor(() => fake.waiting.size === 3, 'three requests waiting');
    fake.commit(2, 7);
    const second = await replies[1]!;
    assert.equal(second.status === 'committed' && second.position, 2, 'request 2 answered alone, before the others');
    assert.equal(sc.inFlight, 2);
    fake.commit(1, 8);
    fake.commit(3, 8);
    assert.deepEqual((await Promise.all([replies[0]!, replies[2]!])).map((r) => (r.status === 'committed' ? r.position : -1)), [1, 3]);

    // The server times out what does not commit (waitMs 400 here): a reply like any other.
    assert.deepEqual(await sc.submit(req(0, 5), 5_000), { status: 'timeout' });
    // No reply in time on the client's side: a typed error, and the request forgotten.
    await assert.rejects(sc.submit(req(0, 6), 50), SubmitSessionError);
    assert.equal(sc.inFlight, 0);
    await sc.close();
    await assert.rejects(sc.submit(req(0, 7), 1_000), SubmitSessionError);

    // The validator ends the session: what waited fails at once, and the next call reopens.
    const again = new SubmitSession(client, server.peerId);
    const pending = again.submit(req(0, 8), 30_000);
    await waitFor(() => fake.waiting.has(8), 'submitted');
    await server.disconnect(client.peerId);
    await assert.rejects(pending, /the session ended/);
    // The host redials a genesis peer by itself, with backoff; dialling now saves the wait.
    await waitFor(() => !client.peers().includes(server.peerId), 'the old connection gone');
    await client.dial(server.multiaddrs()[0]!);
    assert.deepEqual(await again.submit(req(1, 9), 10_000), { status: 'rejected', reason: 'bad-signature' });
    await again.close();
  });

  it('ends a session whose frame has no tag, and keeps serving others', async () => {
    const bad = await open();
    bad.session.send(Uint8Array.of(1, 2));
    bad.session.send(frame(1, [req(0, 9)]));
    await waitFor(() => bad.session.closed, 'the session ended by the server');
    assert.ok(!fake.waiting.has(9), 'nothing after the tagless frame was submitted');
    const { session, frames } = await open();
    session.send(frame(1, [req(1, 1)]));
    await waitFor(() => frames.length === 1, 'a new session served');
    await session.close();
  });
});

describe('submit sessions: a client that never reads its replies', function () {
  this.timeout(30_000);

  it('is paused, then cut off, and costs the validator no more than its bounds', async () => {
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    const server = await createNetworkHost({ chainId: CHAIN, privateKey: keys[0]!, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: new Set(), streamTimeoutMs: 1_000 });
    // A raw libp2p node: it speaks the session protocol but pauses its stream and never reads.
    const raw = await rawPeer(keys[1]!);
    let submitted = 0;
    try {
      serveSubmitSessions(server, {
        submit: async (_from, requests) => {
          submitted += requests.length;
          return requests.map(() => ({ verdict: ignore('expired') }));
        },
        fullQueue: () => undefined,
        onBusy: () => undefined,
        onAccepted: () => undefined,
        waitMs: 30_000,
      });
      await raw.dial(multiaddr(server.multiaddrs()[0]!));
      const stream = await raw.dialProtocol(peerIdFromPrivateKey(keys[0]!), protocolId(CHAIN, 'submit-session'));
      stream.pause();
      const before = server.stats().directDropped;
      // Each frame of 1,000 requests earns about 10 KB of refusals: a few hundred frames are
      // far more than the muxer's window and the session's 1 MiB of unsent replies.
      const requests = Array.from({ length: 1_000 }, (_, i) => Uint8Array.of(i & 0xff, i >> 8, 1));
      let sent = 0;
      let mostUnsent = 0;
      for (let tag = 0; tag < 400 && stream.status === 'open'; tag++) {
        stream.send(lp.encode.single(encodeSessionRequests(tag, encodeRequestBatch(requests))));
        sent++;
        mostUnsent = Math.max(mostUnsent, stream.writeBufferLength);
        if (tag % 20 === 19) await new Promise((r) => setTimeout(r, 5));
      }
      // Paused, the validator's end granted no more window: the client's frames backed up on
      // its own side (a few KB when the validator kept reading and only its replies queued).
      assert.ok(mostUnsent > 256 * 1024, `the client's frames backed up at its end (${mostUnsent} bytes unsent at most)`);
      await waitFor(() => stream.status !== 'open', 'the validator ends the session', 20_000);
      assert.ok(server.stats().directDropped > before, 'ended as a failed session');
      assert.ok(submitted < sent * requests.length, `the validator stopped taking frames (${submitted / requests.length} of ${sent} submitted)`);
      // The validator is fine: a well-behaved session is served.
      const c = await createNetworkHost({ chainId: CHAIN, privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: new Set(), peers: [{ peerId: server.peerId, multiaddr: server.multiaddrs()[0]! }] });
      try {
        await waitFor(() => c.peers().includes(server.peerId), 'connected');
        const sc = new SubmitSession(c, server.peerId);
        assert.deepEqual(await sc.submit(Uint8Array.of(1, 2, 3), 5_000), { status: 'ignored', reason: 'expired' });
        await sc.close();
      } finally {
        await c.stop();
      }
    } finally {
      await raw.stop();
      await server.stop();
    }
  });
});

describe('client/session.ts: a stale session', function () {
  this.timeout(30_000);

  it('cannot answer a request of the session that replaced it', async () => {
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    // A raw validator: its first session gets a reply that does not decode (the client drops
    // that session and opens another); when the second session's first request comes, it
    // answers that request's tag on the first, dropped, stream with a forged commit, then on the
    // second stream with the true verdict. One connection carries both streams, in that order.
    const raw = await rawPeer(keys[0]!);
    const streams: Parameters<Parameters<typeof raw.handle>[1]>[0][] = [];
    const forged = encodeSessionReplies({ tag: 1, indices: [0], replies: [{ status: 'committed', height: 99, position: 99, result: Result.OK, resultName: resultName(Result.OK) }] });
    await raw.handle(protocolId(CHAIN, 'submit-session'), async (stream) => {
      const index = streams.push(stream) - 1;
      for await (const f of lp.decode(stream, { maxDataLength: 1 << 20 })) {
        const { tag } = decodeSessionRequests(f.subarray());
        if (index === 0) {
          stream.send(lp.encode.single(Uint8Array.of(0xff)));
          continue;
        }
        streams[0]!.send(lp.encode.single(forged));
        stream.send(lp.encode.single(encodeSessionReplies({ tag, indices: [0], replies: [{ status: 'rejected', reason: 'bad-signature' }] })));
      }
    });
    const client = await createNetworkHost({
      chainId: CHAIN,
      privateKey: keys[1]!,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allowedPeers: new Set(),
      peers: [{ peerId: raw.peerId.toString(), multiaddr: raw.getMultiaddrs()[0]!.toString() }],
    });
    try {
      await waitFor(() => client.peers().includes(raw.peerId.toString()), 'connected');
      const sc = new SubmitSession(client, raw.peerId.toString());
      await assert.rejects(sc.submit(Uint8Array.of(0, 1, 3), 5_000), /does not decode/);
      // Tag 1, the tag the forged reply names.
      assert.deepEqual(await sc.submit(Uint8Array.of(0, 2, 3), 5_000), { status: 'rejected', reason: 'bad-signature' });
      assert.equal(streams.length, 2, 'the second request went on a new session');
      await sc.close();
    } finally {
      await client.stop();
      await raw.stop();
    }
  });
});
