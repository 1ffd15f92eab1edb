import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import { waitFor } from '../wait-for.js';

const CHAIN = 'ban-chain';

describe('network/host: banning a client peer', function () {
  this.timeout(60_000);
  let validator: NetworkHost;
  let other: NetworkHost;
  let client: NetworkHost;
  let served = 0;

  before(async () => {
    const [vk, ok, ck] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519'), generateKeyPair('Ed25519')]);
    const allowedPeers = new Set([peerIdFromPrivateKey(vk).toString(), peerIdFromPrivateKey(ok).toString()]);
    validator = await createNetworkHost({ chainId: CHAIN, privateKey: vk, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [], allowedPeers });
    validator.handle('submit', async (_from, bytes) => {
      served++;
      return bytes;
    });
    const at = { peerId: validator.peerId, multiaddr: validator.multiaddrs()[0]! };
    other = await createNetworkHost({ chainId: CHAIN, privateKey: ok, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [at], allowedPeers });
    client = await createNetworkHost({ chainId: CHAIN, privateKey: ck, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [at], allowedPeers: new Set() });
    await waitFor(() => validator.peers().includes(client.peerId) && validator.peers().includes(other.peerId), 'both connected');
  });

  after(async () => {
    await Promise.allSettled([validator, other, client].map((h) => h?.stop()));
  });

  it('closes a banned client\'s connection, refuses it while the ban lasts, and lets it back after', async () => {
    const ask = () => client.request(validator.peerId, 'submit', new Uint8Array([1, 2, 3]), 3_000);
    assert.deepEqual(await ask(), new Uint8Array([1, 2, 3]));
    const servedBefore = served;
    // Long enough to outlast the disconnect and a refused redial on a loaded machine; the test waits it out.
    assert.equal(validator.ban(client.peerId, 6_000), true);
    assert.ok(validator.isBanned(client.peerId));
    await waitFor(() => !validator.peers().includes(client.peerId) && !client.peers().includes(validator.peerId), 'banned client disconnected, both sides');
    // Every way back is shut while the ban lasts: a new connection (the client redials on
    // request) is refused once its peer id is known, and nothing reaches the handler.
    const refusedBefore = validator.stats().bannedRefused;
    await waitFor(async () => {
      await assert.rejects(ask());
      return validator.stats().bannedRefused > refusedBefore;
    }, 'a redial refused as banned');
    assert.ok(validator.isBanned(client.peerId), 'still within the ban');
    assert.ok(!validator.peers().includes(client.peerId), 'refused as a connection, not only stream by stream');
    assert.equal(served, servedBefore);
    await waitFor(() => !validator.isBanned(client.peerId), 'ban expired', 20_000);
    assert.deepEqual(await ask(), new Uint8Array([1, 2, 3]));
    assert.equal(served, servedBefore + 1);
  });

  it('never bans a genesis validator: consensus needs its connection', async () => {
    assert.equal(validator.ban(other.peerId, 60_000), false);
    assert.equal(validator.isBanned(other.peerId), false);
    assert.ok(validator.peers().includes(other.peerId));
    assert.deepEqual(await other.request(validator.peerId, 'submit', new Uint8Array([9]), 3_000), new Uint8Array([9]));
    assert.equal(validator.ban(client.peerId, 0), false, 'a ban of no length is none');
  });
});
