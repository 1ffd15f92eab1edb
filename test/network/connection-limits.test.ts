import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import type { Libp2p } from 'libp2p';
import { createNetworkHost, type NetworkHost, protocolId } from '../../network/host.js';
import { waitFor } from '../wait-for.js';
import { plainPeer } from './plain-peer.js';

const CHAIN = 'connection-limits-test';

describe('network/host: client connections past the limit', function () {
  this.timeout(60_000);
  let server: NetworkHost;
  const clients = new Map<string, Libp2p>();

  before(async () => {
    server = await createNetworkHost({ chainId: CHAIN, privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: new Set(), maxClientConnections: 3 });
    server.handleSession('submit-session', (_from, frame, session) => void session.send(frame));
  });

  after(async () => {
    await Promise.allSettled([server?.stop(), ...[...clients.values()].map((c) => c.stop())]);
  });

  /** A plain libp2p peer (no redial of its own) that dials the server; named for the asserts. */
  async function connect(name: string): Promise<Libp2p> {
    const node = await plainPeer();
    clients.set(name, node);
    await node.dial(multiaddr(server.multiaddrs()[0]!));
    await waitFor(() => server.peers().includes(node.peerId.toString()), `${name} connected`);
    return node;
  }

  const connected = (name: string) => server.peers().includes(clients.get(name)!.peerId.toString());

  it('a new client ends the connections of the least recently active one, never an active one', async () => {
    await connect('a');
    const b = await connect('b');
    await connect('c');
    // b does something after c connected: a and then c are now the idlest.
    const session = await b.dialProtocol(multiaddr(server.multiaddrs()[0]!), protocolId(CHAIN, 'submit-session'));
    const echo = new Promise<void>((resolve) => session.addEventListener('message', () => resolve(), { once: true }));
    session.send(lp.encode.single(Uint8Array.of(1, 2, 3)).subarray());
    await echo;
    await connect('d');
    await waitFor(() => !connected('a'), 'a, the idlest, cut');
    assert.ok(connected('b') && connected('c') && connected('d'));
    await connect('e');
    await waitFor(() => !connected('c'), 'c, now the idlest, cut');
    assert.ok(connected('b') && connected('d') && connected('e'), 'b, active since, stays');
    assert.equal(server.stats().clientsEvicted, 2);
  });
});
