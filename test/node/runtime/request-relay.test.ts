import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { createNodeMetrics } from '../../../node/observability/metrics.js';
import { RequestBatcher, requestBatchVerdict, serveRequestBatches } from '../../../node/runtime/request-relay.js';
import { ValidatorNode } from '../../../node/runtime/validator-node.js';
import { createNetworkHost, type NetworkHost } from '../../../network/host.js';
import { decodeRequestBatch, encodeRequestBatch, MAX_BATCH_BYTES } from '../../../protocol/request-batch.js';
import { MainThreadValidator } from '../../../validation/stateless.js';
import { accept, ignore, reject } from '../../../validation/verdict.js';
import { CHAIN, client, request } from '../../validation/fixtures.js';
import { FakeLedgerStore, FakeNetwork } from './fakes.js';
import { waitFor } from '../../wait-for.js';


/** A request with one signature byte flipped: well-formed, but not signed by its client. */
function forged(seq: bigint): Uint8Array {
  const bytes = request({ client: client(3), sequence: seq });
  bytes[bytes.length - 1]! ^= 0x01;
  return bytes;
}

describe('request relay in batches', () => {
  describe('RequestBatcher', () => {
    it('while busy, publishes one batch per window, holding every request in order', async () => {
      const published: Uint8Array[] = [];
      const b = new RequestBatcher({ windowMs: 100, publish: async (x) => published.push(x) });
      // A batch just went out (the quiet-chain path), so the next requests wait for the window.
      b.add(request({ sequence: 100n }));
      await Promise.resolve();
      assert.equal(published.length, 1);
      const reqs = Array.from({ length: 10 }, (_, k) => request({ sequence: BigInt(k) }));
      for (const r of reqs) b.add(r);
      await new Promise((r) => setImmediate(r));
      assert.equal(published.length, 1, 'nothing before the window closes');
      await waitFor(() => published.length === 2, 'the window to close');
      assert.deepEqual(decodeRequestBatch(published[1]!).map((r) => [...r]), reqs.map((r) => [...r]));
      assert.equal(b.pending, 0);
    });

    it('sends at once after a quiet window, one frame per tick, and batches by the window again while busy', async () => {
      const published: Uint8Array[] = [];
      const b = new RequestBatcher({ windowMs: 60_000, publish: async (x) => published.push(x) });
      const first = [request({ sequence: 1n }), request({ sequence: 2n })];
      for (const r of first) b.add(r);
      assert.equal(published.length, 0, 'not inside add(): the rest of the tick may add more');
      await Promise.resolve();
      assert.equal(published.length, 1, 'the first requests after a quiet window leave at the end of their tick');
      assert.deepEqual(decodeRequestBatch(published[0]!).map((r) => [...r]), first.map((r) => [...r]));
      // A batch just went out: the next request waits for the window (60 s here), not the tick.
      b.add(request({ sequence: 3n }));
      await new Promise((r) => setImmediate(r));
      assert.equal(published.length, 1);
      assert.equal(b.pending, 1);
      b.flush();
      assert.equal(published.length, 2);
      b.stop();
    });

    it('holds a batch while nobody would receive it, publishes once someone would, and gives up holding after holdMs', async () => {
      const published: Uint8Array[] = [];
      let ready = false;
      let asked = 0;
      const readiness = () => {
        asked++;
        return ready;
      };
      const b = new RequestBatcher({ windowMs: 1, ready: readiness, holdMs: 60_000, publish: async (x) => published.push(x) });
      b.add(request({ sequence: 1n }));
      await waitFor(() => asked >= 2, 'a flush, then a retry of the held batch');
      assert.equal(published.length, 0, 'held while no peer is subscribed');
      assert.equal(b.pending, 1);
      ready = true;
      await waitFor(() => published.length === 1, 'the held batch once a peer is there');
      assert.equal(b.pending, 0);
      b.stop();

      const late: Uint8Array[] = [];
      const never = new RequestBatcher({ windowMs: 1, ready: () => false, holdMs: 50, publish: async (x) => late.push(x) });
      never.add(request({ sequence: 2n }));
      await waitFor(() => late.length === 1, 'publishing anyway after holdMs');
      never.stop();
    });

    it('flushes at the count and byte limits, so its buffer never passes them', () => {
      const published: Uint8Array[] = [];
      const b = new RequestBatcher({ windowMs: 60_000, maxRequests: 4, maxBytes: 1000, publish: async (x) => published.push(x) });
      const reqs = Array.from({ length: 30 }, (_, k) => request({ sequence: BigInt(k) }));
      for (const r of reqs) {
        b.add(r);
        assert.ok(b.pending < 4);
      }
      b.flush();
      const batches = published.map(decodeRequestBatch);
      assert.ok(batches.every((x) => x.length <= 4));
      assert.ok(published.every((x) => x.length <= 1000 && x.length <= MAX_BATCH_BYTES));
      assert.deepEqual(batches.flat().map((r) => [...r]), reqs.map((r) => [...r]));
      b.stop();
      b.add(reqs[0]!);
      assert.equal(b.pending, 0, 'a stopped batcher takes nothing');
    });
  });

  describe('requestBatchVerdict', () => {
    const id = new Uint8Array(32);
    it('REJECTs malformed frames and batches with any rejected request; IGNOREs batches with nothing admissible', async () => {
      const one = encodeRequestBatch([Uint8Array.of(1), Uint8Array.of(2)]);
      let calls = 0;
      const admit = (verdicts: ReturnType<typeof accept>[]) => async () => {
        calls++;
        return verdicts;
      };
      assert.equal(await requestBatchVerdict(Uint8Array.of(9, 9, 9), admit([])), 'reject');
      assert.equal(calls, 0, 'a malformed frame costs no validation');
      assert.equal(await requestBatchVerdict(one, admit([accept(id), reject('bad-signature')])), 'reject');
      assert.equal(await requestBatchVerdict(one, admit([ignore('expired'), ignore('duplicate')])), 'ignore');
      assert.equal(await requestBatchVerdict(one, admit([ignore('expired'), accept(id)])), 'accept');
      assert.equal(calls, 3, 'one admission call per batch');
    });
  });

  describe('serveRequestBatches', () => {
    it('while busy, hands every well-formed batch to onReceived without validating it, and still penalises malformed frames', async () => {
      let handler: ((from: string, bytes: Uint8Array) => Promise<unknown>) | undefined;
      const penalised: string[] = [];
      const host = {
        handle: (_name: string, h: (from: string, bytes: Uint8Array) => Promise<unknown>) => {
          handler = h;
        },
        penalise: (peer: string) => {
          penalised.push(peer);
        },
      };
      const received: { from: string; count: number }[] = [];
      const verdicts: string[] = [];
      let admitted = 0;
      serveRequestBatches(host as unknown as Parameters<typeof serveRequestBatches>[0], {
        canAcceptWork: () => false,
        admit: async (requests) => {
          admitted += requests.length;
          return requests.map(() => accept(new Uint8Array(32)));
        },
        onReceived: (requests, from) => received.push({ from, count: requests.length }),
        onVerdict: (v) => verdicts.push(v),
      });
      await handler!('peer-a', encodeRequestBatch([0n, 1n].map((s) => request({ sequence: s }))));
      await handler!('peer-b', Uint8Array.of(9, 9, 9));
      assert.deepEqual(received, [{ from: 'peer-a', count: 2 }]);
      assert.equal(admitted, 0, 'nothing validated while busy');
      assert.deepEqual(verdicts, ['ignore', 'reject']);
      assert.deepEqual(penalised, ['peer-b']);
    });
  });

  describe('over a real `requests` channel, into a validator node', function () {
    this.timeout(60_000);
    let a: NetworkHost;
    let b: NetworkHost;
    let node: ValidatorNode;
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 1 }, false);
    const verdicts: string[] = [];
    const pending = async () => (await metrics.mempoolSize.get()).values[0]?.value ?? 0;

    before(async () => {
      const net = new FakeNetwork();
      // Never started: its core only queues what admit() hands it, which is what we observe.
      node = new ValidatorNode({
        chainId: CHAIN,
        index: 1,
        n: 4,
        signer: fakeSigner(1),
        certs: new FakeCertificateOps(CHAIN, 4),
        store: new FakeLedgerStore(),
        transport: net.transport(1),
        validator: new MainThreadValidator(CHAIN),
        consensus: { baseTimeoutMs: 60_000, maxBatchCommands: 100, maxBatchBytes: 1 << 20 },
        metrics,
      });
      const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
      const allowedPeers = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()));
      const common = { chainId: CHAIN, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers, topics: ['certificate' as const], gossip: { heartbeatIntervalMs: 200 }, redialBaseMs: 100 };
      b = await createNetworkHost({ ...common, privateKey: keys[1]! });
      a = await createNetworkHost({ ...common, privateKey: keys[0]!, peers: [{ peerId: b.peerId, multiaddr: b.multiaddrs()[0]! }] });
      serveRequestBatches(b, { admit: (requests) => node.admit(requests), onVerdict: (v) => verdicts.push(v) });
      // A gossip subscription on both sides, only so that gossipsub keeps a score for the peer.
      a.onGossip('certificate', () => 'accept', () => undefined);
      b.onGossip('certificate', () => 'accept', () => undefined);
      await waitFor(() => a.peers().includes(b.peerId) && b.topicPeers('certificate').includes(a.peerId), 'connected');
    });

    after(async () => {
      node.stop();
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('admits a good batch in one step, and rejects a batch with one forged request as a whole, lowering the sender score', async () => {
      const good = encodeRequestBatch([0n, 1n, 2n].map((s) => request({ client: client(1), sequence: s })));
      await a.send(b.peerId, 'requests', good);
      await waitFor(() => verdicts.length === 1, 'the good batch served');
      assert.equal(verdicts[0], 'accept');
      assert.equal(await pending(), 3, 'all three requests queued');

      const scoreBefore = b.peerScore(a.peerId);
      // Two honest requests and one forgery: none of the three may enter consensus.
      const bad = encodeRequestBatch([request({ client: client(2), sequence: 0n }), forged(0n), request({ client: client(2), sequence: 1n })]);
      await a.send(b.peerId, 'requests', bad);
      await waitFor(() => verdicts.length === 2, 'the forged batch served');
      assert.equal(verdicts[1], 'reject');
      await waitFor(() => b.peerScore(a.peerId) <= scoreBefore - 5, 'the sender penalised in its score');

      // A later good batch is still admitted, and the queue holds exactly the good requests:
      // the forged batch's honest requests were not queued.
      const later = encodeRequestBatch([request({ client: client(1), sequence: 3n })]);
      await a.send(b.peerId, 'requests', later);
      await waitFor(() => verdicts.length === 3, 'the later batch served');
      assert.equal(verdicts[2], 'accept');
      assert.equal(await pending(), 4);
    });
  });
});
