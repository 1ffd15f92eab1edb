import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createNetworkHost, type NetworkHost, type Session } from '../../network/host.js';
import { waitFor } from '../wait-for.js';

const CHAIN = 'session-limits-test';

describe('network/host: session limits', function () {
  this.timeout(30_000);
  let server: NetworkHost;
  let client: NetworkHost;

  before(async () => {
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    const common = { chainId: CHAIN, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: new Set([peerIdFromPrivateKey(keys[0]!).toString()]) };
    server = await createNetworkHost({ ...common, privateKey: keys[0]! });
    client = await createNetworkHost({ ...common, privateKey: keys[1]!, peers: [{ peerId: server.peerId, multiaddr: server.multiaddrs()[0]! }] });
    // Echoes each frame; at most 2 sessions open at once, frames of at most 1 KiB.
    server.handleSession('submit-session', (_from, frame, session) => void session.send(frame), { maxSessions: 2, maxFrameBytes: 1024 });
    await waitFor(() => client.peers().includes(server.peerId), 'connected');
  });
  after(async () => {
    await Promise.all([client?.stop(), server?.stop()]);
  });

  /** Opens a session and waits for the echo of one small frame, or for its end. */
  async function echoed(): Promise<{ session: Session; echoed: boolean }> {
    let got = false;
    const session = await client.openSession(server.peerId, 'submit-session', () => {
      got = true;
    });
    session.send(Uint8Array.of(1, 2, 3));
    await waitFor(() => got || session.closed, 'an echo or the end of the session');
    return { session, echoed: got };
  }

  it('ends a session past the protocol\'s limit over all connections, and admits one again once another ends', async () => {
    const a = await echoed();
    const b = await echoed();
    assert.ok(a.echoed && b.echoed, 'the first two are served');
    const c = await echoed();
    assert.equal(c.echoed, false, 'the third is ended unserved');
    assert.ok(c.session.closed);
    a.session.close();
    await waitFor(async () => (await echoed()).echoed, 'a session served again once one has ended');
    b.session.close();
  });

  it('ends a session whose frame is over the limit', async () => {
    const s = await echoed();
    assert.ok(s.echoed);
    s.session.send(new Uint8Array(2048));
    await waitFor(() => s.session.closed, 'the session ends on the oversized frame');
  });
});
