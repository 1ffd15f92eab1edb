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

  /** Opens a session and waits for the echo of one small frame, or for its end; `again` asks for one more. */
  async function echoed(): Promise<{ session: Session; echoed: boolean; again: () => Promise<void> }> {
    let got = 0;
    const session = await client.openSession(server.peerId, 'submit-session', () => {
      got++;
    });
    session.send(Uint8Array.of(1, 2, 3));
    await waitFor(() => got > 0 || session.closed, 'an echo or the end of the session');
    const again = async () => {
      const before = got;
      session.send(Uint8Array.of(4));
      await waitFor(() => got > before, 'another echo');
    };
    return { session, echoed: got > 0, again };
  }

  it('past the limit over all connections, a new session ends the least recently active one', async () => {
    const a = await echoed();
    const b = await echoed();
    assert.ok(a.echoed && b.echoed, 'the first two are served');
    // a, opened first, is active again after b: b is now the idlest.
    await a.again();
    const c = await echoed();
    assert.ok(c.echoed, 'the new one is served');
    await waitFor(() => b.session.closed, 'the idlest (b) is ended');
    assert.equal(a.session.closed, false, 'the recently active one stays');
    await a.again();
    a.session.close();
    c.session.close();
  });

  it('ends a session whose frame is over the limit', async () => {
    const s = await echoed();
    assert.ok(s.echoed);
    s.session.send(new Uint8Array(2048));
    await waitFor(() => s.session.closed, 'the session ends on the oversized frame');
  });
});
