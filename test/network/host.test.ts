import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { identify, type Identify } from '@libp2p/identify';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { createLibp2p, type Libp2p } from 'libp2p';
import { decodeMessage, encodeMessage } from '../../network/codec.js';
import {
  createNetworkHost,
  type DirectProtocolName,
  type GossipTopicName,
  type NetworkHost,
  protocolId,
  topicId,
  type ValidationResult,
} from '../../network/host.js';
import { waitFor } from '../wait-for.js';
import { plainPeer } from './plain-peer.js';

const CHAIN = 'test-chain';
const TOPICS: readonly GossipTopicName[] = ['proposal', 'certificate', 'timeout', 'request'];
const PROTOCOLS: readonly DirectProtocolName[] = ['vote', 'consensus', 'sync', 'submit'];
const MARK_REJECT = 0xba;
const MARK_IGNORE = 0xee;


/** Stand-in for the real validation pool: decode, and honour two test markers. */
function validator(_from: string, bytes: Uint8Array): ValidationResult {
  if (bytes[0] === MARK_REJECT) return 'reject';
  if (bytes[0] === MARK_IGNORE) return 'ignore';
  try {
    decodeMessage(bytes);
    return 'accept';
  } catch {
    return 'reject';
  }
}

interface Node {
  readonly host: NetworkHost;
  readonly gossip: Map<GossipTopicName, { from: string; bytes: Uint8Array }[]>;
  readonly direct: { protocol: DirectProtocolName; from: string; bytes: Uint8Array }[];
}

function received(n: Node, topic: GossipTopicName, bytes: Uint8Array): boolean {
  return (n.gossip.get(topic) ?? []).some((m) => Buffer.compare(m.bytes, bytes) === 0);
}

function wire(host: NetworkHost): Node {
  const node: Node = { host, gossip: new Map(), direct: [] };
  for (const t of TOPICS) {
    node.gossip.set(t, []);
    host.onGossip(t, validator, (from, bytes) => {
      node.gossip.get(t)!.push({ from, bytes });
    });
  }
  for (const p of PROTOCOLS) {
    host.handle(p, async (from, bytes) => {
      // A real handler decodes; garbage throws here and the host must contain it.
      const msg = decodeMessage(bytes);
      node.direct.push({ protocol: p, from, bytes });
      if (p === 'vote' || p === 'consensus') return undefined;
      return encodeMessage(msg.type === 'sync-request' ? { type: 'sync-request', fromHeight: msg.fromHeight + 1 } : msg);
    });
  }
  return node;
}

describe('network/host', function () {
  this.timeout(60_000);
  /** Messages are content-addressed, so every valid test message must be distinct bytes. */
  let seq = 0;
  const validMessage = (): Uint8Array => encodeMessage({ type: 'sync-request', fromHeight: ++seq });
  const keys: PrivateKey[] = [];
  const nodes: Node[] = [];
  let a: Node;
  let b: Node;
  let c: Node;
  /** Connected, but not in genesis: must not be able to inject consensus traffic. */
  let outsider: Node;
  /** A raw libp2p node with an allowed peer id: a byzantine validator writing arbitrary bytes. */
  let byz: Libp2p<{ identify: Identify; pubsub: GossipSub }>;
  let byzId: string;

  before(async () => {
    for (let i = 0; i < 5; i++) keys.push(await generateKeyPair('Ed25519'));
    const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
    byzId = ids[4]!;
    const allowedPeers = new Set([ids[0]!, ids[1]!, ids[2]!, byzId]);
    const peers: { peerId: string; multiaddr: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const host = await createNetworkHost({
        chainId: CHAIN,
        privateKey: keys[i]!,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        peers: [...peers],
        allowedPeers,
        topics: TOPICS,
        gossip: { heartbeatIntervalMs: 200 },
        redialBaseMs: 100,
      });
      nodes.push(wire(host));
      peers.push({ peerId: host.peerId, multiaddr: host.multiaddrs()[0]! });
    }
    [a, b, c] = nodes as [Node, Node, Node];
    outsider = wire(
      await createNetworkHost({ chainId: CHAIN, privateKey: keys[3]!, listen: ['/ip4/127.0.0.1/tcp/0'], peers, allowedPeers, topics: TOPICS }),
    );
    nodes.push(outsider);
    byz = await createLibp2p({
      privateKey: keys[4]!,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true }) },
    });
    for (const t of TOPICS) byz.services.pubsub.subscribe(topicId(CHAIN, t));
    for (const p of peers) await byz.dial(multiaddr(p.multiaddr)); // host.multiaddrs() already end in /p2p/<id>

    // Genesis dialling alone must connect the validators to each other.
    await waitFor(() => [a, b, c].every((n) => n.host.peers().length >= 3), 'genesis peers connected');
    await waitFor(
      () => TOPICS.every((t) => [a, b, c].every((n) => n.host.topicPeers(t).length >= 4)),
      'every topic subscribed by all peers',
    );
  });

  after(async () => {
    await Promise.allSettled([...nodes.map((n) => n.host.stop()), byz?.stop()]);
  });

  it('delivers gossip to every subscriber, with the forwarding peer as sender', async () => {
    for (const t of TOPICS) {
      const msg = validMessage();
      assert.ok((await a.host.publish(t, msg)) >= 2);
      await waitFor(() => received(b, t, msg) && received(c, t, msg) && received(outsider, t, msg), `gossip on ${t}`);
      assert.equal(b.gossip.get(t)!.find((m) => Buffer.compare(m.bytes, msg) === 0)!.from, a.host.peerId);
      assert.ok(!received(a, t, msg), 'no echo to the publisher');
    }
  });

  it('drops IGNOREd messages without penalty and REJECTed ones with a score penalty', async () => {
    const before = b.host.peerScore(a.host.peerId);
    const ignoredBefore = b.host.stats().gossipIgnored;
    const ignored = Uint8Array.of(MARK_IGNORE, ...randomBytes(8));
    await a.host.publish('proposal', ignored);
    await waitFor(() => b.host.stats().gossipIgnored > ignoredBefore, 'ignore counted');
    assert.ok(!received(b, 'proposal', ignored));
    const afterIgnore = b.host.peerScore(a.host.peerId);
    // Only score decay (first-delivery counters) may move it, by far less than one penalty.
    assert.ok(afterIgnore > before - 3, `ignore penalised: ${before} -> ${afterIgnore}`);

    const rejectedBefore = b.host.stats().gossipRejected;
    const rejected = Uint8Array.of(MARK_REJECT, ...randomBytes(8));
    await a.host.publish('proposal', rejected);
    await waitFor(() => b.host.stats().gossipRejected > rejectedBefore, 'reject counted');
    assert.ok(!received(b, 'proposal', rejected));
    // Scores are cached for one heartbeat, so poll.
    await waitFor(() => b.host.peerScore(a.host.peerId) <= afterIgnore - 5, 'reject penalised in score');

    // One reject does not cut a validator off.
    const good = validMessage();
    await a.host.publish('proposal', good);
    await waitFor(() => received(b, 'proposal', good), 'later valid gossip');
  });

  it('sends direct messages and answers requests', async () => {
    const vote = validMessage();
    await a.host.send(b.host.peerId, 'vote', vote);
    await waitFor(() => b.direct.some((d) => d.protocol === 'vote' && d.from === a.host.peerId && Buffer.compare(d.bytes, vote) === 0), 'vote');

    const res = decodeMessage(await a.host.request(c.host.peerId, 'sync', encodeMessage({ type: 'sync-request', fromHeight: 41 }), 5000));
    assert.deepEqual(res, { type: 'sync-request', fromHeight: 42 });

    // Client submission is open to non-validators.
    const sub = encodeMessage({ type: 'sync-request', fromHeight: 99 });
    const ack = decodeMessage(await outsider.host.request(a.host.peerId, 'submit', sub, 5000));
    assert.deepEqual(ack, { type: 'sync-request', fromHeight: 100 });
  });

  it('keeps one-way messages in order on one channel, and reopens it after a disconnect', async () => {
    const burst = Array.from({ length: 50 }, () => validMessage());
    await Promise.all(burst.map((m) => a.host.send(c.host.peerId, 'consensus', m)));
    const seen = () => c.direct.filter((d) => d.protocol === 'consensus' && d.from === a.host.peerId).map((d) => Buffer.from(d.bytes).toString('hex'));
    await waitFor(() => seen().length >= burst.length, 'burst delivered');
    const want = burst.map((m) => Buffer.from(m).toString('hex'));
    assert.deepEqual(seen().slice(-burst.length), want);

    await a.host.disconnect(c.host.peerId);
    const after = validMessage();
    await waitFor(() => a.host.peers().includes(c.host.peerId), 'redialled');
    await a.host.send(c.host.peerId, 'consensus', after);
    await waitFor(() => seen().at(-1) === Buffer.from(after).toString('hex'), 'delivered on a new channel');
  });

  it('hands a frame on an open channel to the socket within the send call, not after the caller returns', async () => {
    // The channel is open from the test above. A consensus step sends its messages and then
    // executes what it committed, synchronously: a frame behind an await would wait for that.
    const warm = validMessage();
    await a.host.send(c.host.peerId, 'consensus', warm);
    const proto = Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
    const inherited = proto.write;
    let writes = 0;
    proto.write = function (this: unknown, ...args: unknown[]) {
      writes++;
      return inherited.apply(this, args);
    };
    let sent: Promise<void>;
    try {
      sent = a.host.send(c.host.peerId, 'consensus', validMessage());
    } finally {
      delete (Socket.prototype as unknown as { write?: unknown }).write;
    }
    assert.ok(writes > 0, 'no socket write during the send call');
    await sent;
  });

  it('rejects consensus gossip and streams from a peer outside genesis', async () => {
    for (const t of ['proposal', 'certificate', 'timeout'] as const) {
      const notAllowedBefore = a.host.stats().notAllowed;
      const msg = validMessage();
      await outsider.host.publish(t, msg);
      await waitFor(() => a.host.stats().notAllowed > notAllowedBefore, `outsider ${t} rejected`);
      assert.ok(!received(a, t, msg));
    }
    await waitFor(() => a.host.peerScore(outsider.host.peerId) < 0, 'outsider score lowered');

    const votesBefore = a.direct.length;
    const notAllowedBefore = a.host.stats().notAllowed;
    await outsider.host.send(a.host.peerId, 'vote', validMessage()).catch(() => undefined);
    await assert.rejects(outsider.host.request(a.host.peerId, 'sync', validMessage(), 5000));
    await waitFor(() => a.host.stats().notAllowed >= notAllowedBefore + 2, 'outsider streams refused');
    assert.equal(a.direct.length, votesBefore);

    // The request topic is open to clients.
    const req = validMessage();
    await outsider.host.publish('request', req);
    await waitFor(() => received(a, 'request', req), 'client request gossip');
  });

  it('redials a genesis peer with backoff after the connection drops', async () => {
    // b was started with a in its genesis peers, so b is the side that redials.
    const redialsBefore = b.host.stats().redials;
    await b.host.disconnect(a.host.peerId);
    await waitFor(() => b.host.stats().redials > redialsBefore && b.host.peers().includes(a.host.peerId), 'redial');
    await waitFor(() => b.host.topicPeers('proposal').includes(a.host.peerId), 'resubscribed after redial');
    const msg = validMessage();
    await b.host.publish('proposal', msg);
    await waitFor(() => received(a, 'proposal', msg), 'gossip after redial');
  });

  it('survives garbage on every topic and protocol, and keeps working', async () => {
    const targets = [a, b];
    const errorsBefore = a.host.stats().handlerErrors + a.host.stats().directDropped;
    // Gossip garbage from an allowed (byzantine) peer and from the outsider.
    for (const t of TOPICS) {
      for (let i = 0; i < 5; i++) {
        await byz.services.pubsub.publish(topicId(CHAIN, t), randomBytes(1 + (i * 97) % 300)).catch(() => undefined);
        await outsider.host.publish(t, randomBytes(64)).catch(() => undefined);
      }
    }
    // Raw stream garbage: random bytes, a huge length prefix, an over-long varint, a truncated
    // frame, a valid frame with an undecodable body, and an empty stream.
    const payloads = [
      randomBytes(100),
      lp.encode.single(randomBytes(50)).subarray(),
      Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x02), // claims 512 MiB
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
      Uint8Array.of(0x20, 1, 2, 3),
      new Uint8Array(0),
    ];
    const protocols = [...PROTOCOLS.map((p) => protocolId(CHAIN, p)), '/meshsub/1.1.0', '/meshsub/1.2.0'];
    for (const target of targets) {
      for (const proto of protocols) {
        for (const bytes of payloads) {
          try {
            const s = await byz.dialProtocol(peerIdFromString(target.host.peerId), proto, { signal: AbortSignal.timeout(2000) });
            if (bytes.length > 0) s.send(bytes);
            await s.close({ signal: AbortSignal.timeout(2000) }).catch(() => undefined);
          } catch {
            // The target may reset the stream: that is the point.
          }
        }
      }
    }
    await waitFor(() => a.host.stats().handlerErrors + a.host.stats().directDropped > errorsBefore, 'garbage counted');

    // Everyone is still up and the honest validators still talk.
    for (const t of TOPICS) {
      const msg = validMessage();
      await b.host.publish(t, msg);
      await waitFor(() => received(a, t, msg) && received(c, t, msg), `gossip on ${t} after garbage`);
    }
    const res = decodeMessage(await b.host.request(a.host.peerId, 'sync', encodeMessage({ type: 'sync-request', fromHeight: 7 }), 5000));
    assert.deepEqual(res, { type: 'sync-request', fromHeight: 8 });
    await waitFor(() => a.host.peerScore(byzId) < 0, 'byzantine peer penalised');
  });
});

describe('network/host: a topic guarded without subscribing', function () {
  this.timeout(60_000);
  const hosts: NetworkHost[] = [];
  after(async () => {
    await Promise.allSettled(hosts.map((h) => h.stop()));
  });

  it('publishes to subscribed peers only, and neither receives nor forwards what others publish', async () => {
    const keys = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));
    const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
    const allowedPeers = new Set(ids.slice(0, 2));
    const peers: { peerId: string; multiaddr: string }[] = [];
    const seen: Uint8Array[][] = [[], [], []];
    for (let i = 0; i < 3; i++) {
      const host = await createNetworkHost({ chainId: CHAIN, privateKey: keys[i]!, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [...peers], allowedPeers, topics: ['certificate'], gossip: { heartbeatIntervalMs: 200 } });
      hosts.push(host);
      // Hosts 0 and 1 are validators guarding the topic; host 2 is a client that follows it.
      host.onGossip('certificate', () => 'accept', (_from, bytes) => void seen[i]!.push(bytes), i < 2 ? { subscribe: false } : undefined);
      if (i < 2) peers.push({ peerId: host.peerId, multiaddr: host.multiaddrs()[0]! });
    }
    const [v0, v1, client] = hosts as [NetworkHost, NetworkHost, NetworkHost];
    await waitFor(() => v0.peers().includes(v1.peerId) && client.peers().length >= 2, 'connected');
    await waitFor(() => v0.topicPeers('certificate').includes(client.peerId) && v1.topicPeers('certificate').includes(client.peerId), 'the client subscribed');
    assert.deepEqual(client.topicPeers('certificate'), [], 'validators are not in the topic');
    assert.ok(!v0.topicPeers('certificate').includes(v1.peerId));

    // A publication reaches the subscriber once the validator's outbound gossip stream to it is
    // open: publish until one is sent, a bounded number of times.
    const publishedBy = async (v: NetworkHost): Promise<number> => {
      for (let k = 0; k < 100; k++) {
        const recipients = await v.publish('certificate', randomBytes(40));
        if (recipients > 0) return recipients;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('no publication reached the subscriber');
    };
    assert.equal(await publishedBy(v0), 1, 'sent to the one subscriber, not to the other validator');
    assert.equal(await publishedBy(v1), 1);
    await waitFor(() => seen[2]!.length >= 2, 'the client got both');
    assert.equal(seen[0]!.length + seen[1]!.length, 0, "no validator received the other one's publication");
  });
});

describe('network/host: gossip on topics this host does not validate', function () {
  this.timeout(60_000);
  let server: NetworkHost;
  const spammers: Libp2p[] = [];

  before(async () => {
    // `request` is served but nothing registered its validator; no other topic is served.
    server = await createNetworkHost({ chainId: CHAIN, privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: new Set(), topics: ['request'] });
  });

  after(async () => {
    await Promise.allSettled([server?.stop(), ...spammers.map((s) => s.stop())]);
  });

  /**
   * A fresh peer (one scored down is graylisted, and nothing more it sends is read) with one
   * gossipsub stream to the server, on which it sends raw RPCs in order.
   */
  async function spammer(): Promise<{ peerId: string; send(topic: GossipTopicName, count: number): void }> {
    const { RPC } = await import('@libp2p/gossipsub/message');
    const node = await plainPeer();
    spammers.push(node);
    const stream = await node.dialProtocol(multiaddr(server.multiaddrs()[0]!), '/meshsub/1.2.0', { signal: AbortSignal.timeout(5_000) });
    return {
      peerId: node.peerId.toString(),
      send: (topic, count) => {
        const messages = Array.from({ length: count }, () => ({ topic: topicId(CHAIN, topic), data: randomBytes(16) }));
        stream.send(lp.encode.single(RPC.encode({ subscriptions: [], messages })).subarray());
      },
    };
  }

  it('rejects, and scores down, messages on a served topic that has no validator yet', async () => {
    const before = server.stats().gossipRejected;
    const peer = await spammer();
    peer.send('request', 10);
    await waitFor(() => server.stats().gossipRejected === before + 10, 'all ten rejected');
    await waitFor(() => server.peerScore(peer.peerId) < 0, 'the sender scored down');
    assert.equal(server.stats().gossipAccepted, 0);
  });

  it('drops messages on a topic it does not serve, and an RPC with too many messages, before any validation', async () => {
    const before = server.stats().gossipRejected;
    const peer = await spammer();
    peer.send('proposal', 10);
    peer.send('request', 513);
    // RPCs on one stream are handled in order: once the last one's message is counted, the two
    // before it have been handled too.
    peer.send('request', 1);
    await waitFor(() => server.stats().gossipRejected > before, 'the last RPC handled');
    assert.equal(server.stats().gossipRejected, before + 1);
  });

  it('refuses a validator for a topic it was not told to serve', () => {
    assert.throws(() => server.onGossip('proposal', () => 'accept', () => undefined), RangeError);
  });
});
