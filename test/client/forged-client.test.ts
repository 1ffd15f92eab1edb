import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import { encodeCommand } from '../../protocol/command.js';
import { loadGenesis } from '../../protocol/genesis.js';
import { encodeRequest, REQUEST_SIGNATURE_BYTES, signRequest } from '../../protocol/request.js';
import { encodeRequestBatch } from '../../protocol/request-batch.js';
import { decodeSessionReplies, encodeSessionRequests } from '../../protocol/submit-session.js';
import { decodeSubmitReplies } from '../../protocol/submit-reply.js';
import { waitFor } from '../wait-for.js';
import { LocalCluster, vsmr } from './local-cluster.js';

/**
 * A client that sends forged requests (random signatures under a real key) to a real validator
 * process is cut off after its first few (runtime/client-conduct.ts), while an honest client
 * goes on committing. Every process started here is stopped by its PID.
 */
describe('a client sending forged requests to a validator process', function () {
  this.timeout(180_000);
  let cluster: LocalCluster;
  const hosts: NetworkHost[] = [];

  before(async () => {
    cluster = await LocalCluster.start(1);
  });
  after(async () => {
    await Promise.allSettled(hosts.map((h) => h.stop()));
    await cluster?.stop();
  });

  it('is banned after its first frame, the rest of which goes unchecked, and refused when it comes back; an honest client still commits', async () => {
    const genesis = await loadGenesis(cluster.genesis);
    const v = genesis.validators[0]!;
    const key = await generateKeyPair('Ed25519');
    const attacker = await createNetworkHost({ chainId: genesis.chainId, privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [{ peerId: v.peerId, multiaddr: v.address }], allowedPeers: new Set() });
    hosts.push(attacker);
    await waitFor(() => attacker.peers().includes(v.peerId), 'attacker connected');
    const victim = ed25519KeypairFromSeed(randomBytes(32)).publicKey;
    const forged = Array.from({ length: 64 }, (_, i) =>
      encodeRequest({
        chainId: genesis.chainId,
        clientKey: victim,
        sequence: BigInt(i),
        expiry: 2n ** 62n,
        command: encodeCommand({ type: 'put', key: new Uint8Array([i]), value: new Uint8Array(8) }),
        signature: randomBytes(REQUEST_SIGNATURE_BYTES),
      }),
    );
    const replies: string[] = [];
    const session = await attacker.openSession(v.peerId, 'submit-session', (bytes) => {
      for (const r of decodeSessionReplies(bytes).replies) replies.push(r.status === 'rejected' || r.status === 'ignored' ? `${r.status}: ${r.reason}` : r.status);
    });
    assert.ok(session.send(encodeSessionRequests(1, encodeRequestBatch(forged))));
    await waitFor(async () => (await cluster.metric(0, 'vsmr_client_bans_total')) === 1, 'the attacker banned');
    await waitFor(() => session.closed && !attacker.peers().includes(v.peerId), 'its session and connection closed');
    // Only the first 16 were checked: all forged, so the other 48 were not worth a signature check.
    assert.equal(await cluster.metric(0, 'vsmr_client_requests_unchecked_total'), 48);
    // The frame was answered before the connection closed: 16 checked, 48 left unchecked.
    const counts = new Map<string, number>();
    for (const r of replies) counts.set(r, (counts.get(r) ?? 0) + 1);
    assert.deepEqual(
      [...counts],
      [
        ['rejected: bad-signature', 16],
        ['ignored: busy', 48],
      ],
    );
    // Coming back under the same identity is refused.
    await assert.rejects(attacker.openSession(v.peerId, 'submit-session', () => undefined, { timeoutMs: 3_000 }));
    // An honest client (its own identity) is served as before.
    const { stdout } = await vsmr('client', 'submit', '--genesis', cluster.genesis, '--count', '3', '--to', '0', '--json');
    assert.equal((JSON.parse(stdout) as { committed: number }).committed, 3);
    assert.equal(await cluster.metric(0, 'vsmr_client_bans_total'), 1);

    // Another identity, on submit-batch, leads with expired forgeries, which cost nothing to
    // refuse and earn no allowance: the forgeries after them get the same 16 checks, no more.
    const second = await createNetworkHost({ chainId: genesis.chainId, privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], peers: [{ peerId: v.peerId, multiaddr: v.address }], allowedPeers: new Set() });
    hosts.push(second);
    await waitFor(() => second.peers().includes(v.peerId), 'second attacker connected');
    const expiredFirst = forged.map((r, i) =>
      i < 16
        ? encodeRequest({ chainId: genesis.chainId, clientKey: victim, sequence: BigInt(1000 + i), expiry: 0n, command: encodeCommand({ type: 'put', key: new Uint8Array([i]), value: new Uint8Array(8) }), signature: randomBytes(REQUEST_SIGNATURE_BYTES) })
        : r,
    );
    const batchReplies = await second.request(v.peerId, 'submit-batch', encodeRequestBatch(expiredFirst), 10_000).then(
      (bytes) => decodeSubmitReplies(bytes).map((r) => (r.status === 'rejected' || r.status === 'ignored' ? `${r.status}: ${r.reason}` : r.status)),
      () => undefined, // the ban may close the connection before the answer leaves; the metrics below still tell
    );
    await waitFor(async () => (await cluster.metric(0, 'vsmr_client_bans_total')) === 2, 'the second attacker banned');
    assert.equal(await cluster.metric(0, 'vsmr_client_requests_unchecked_total'), 48 + 32);
    if (batchReplies !== undefined) {
      assert.deepEqual(batchReplies, [...Array(16).fill('ignored: expired'), ...Array(16).fill('rejected: bad-signature'), ...Array(32).fill('ignored: busy')]);
    }
  });

  it('earns a client no allowance for copies of one request: forgeries after 255 copies get 16 checks plus one', async () => {
    const genesis = await loadGenesis(cluster.genesis);
    const v = genesis.validators[0]!;
    const bans = await cluster.metric(0, 'vsmr_client_bans_total');
    const unchecked = await cluster.metric(0, 'vsmr_client_requests_unchecked_total');
    const third = await createNetworkHost({ chainId: genesis.chainId, privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], peers: [{ peerId: v.peerId, multiaddr: v.address }], allowedPeers: new Set() });
    hosts.push(third);
    await waitFor(() => third.peers().includes(v.peerId), 'third client connected');
    const signer = ed25519KeypairFromSeed(randomBytes(32)).secretKey;
    const valid = signRequest({ chainId: genesis.chainId, sequence: 0n, expiry: 2n ** 62n, command: encodeCommand({ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(2) }) }, signer);
    const replies: string[] = [];
    const session = await third.openSession(v.peerId, 'submit-session', (bytes) => {
      for (const r of decodeSessionReplies(bytes).replies) replies.push(r.status === 'rejected' || r.status === 'ignored' ? `${r.status}: ${r.reason}` : r.status);
    });
    // One validly signed request and 255 copies: each copy is accepted (it waits on the same
    // commit) or refused as replayed, and none of them is worth an allowance.
    assert.ok(session.send(encodeSessionRequests(1, encodeRequestBatch(Array.from({ length: 256 }, () => valid)))));
    await waitFor(() => replies.length === 256, 'the copies answered');
    assert.ok(replies.every((r) => r === 'committed' || r === 'ignored: replayed'), `${new Set(replies)}`);
    assert.equal(replies.filter((r) => r === 'committed').length >= 1, true);
    assert.equal(await cluster.metric(0, 'vsmr_client_requests_unchecked_total'), unchecked, 'no copy left unchecked');
    const forged = Array.from({ length: 64 }, (_, i) =>
      encodeRequest({ chainId: genesis.chainId, clientKey: signer.publicKey, sequence: BigInt(1 + i), expiry: 2n ** 62n, command: encodeCommand({ type: 'put', key: Uint8Array.of(i), value: Uint8Array.of(0) }), signature: randomBytes(REQUEST_SIGNATURE_BYTES) }),
    );
    assert.ok(session.send(encodeSessionRequests(2, encodeRequestBatch(forged))));
    await waitFor(async () => (await cluster.metric(0, 'vsmr_client_bans_total')) === bans + 1, 'the third client banned');
    // An allowance of 16 + 1 distinct accepted request: 17 forgeries checked, 47 not.
    assert.equal(await cluster.metric(0, 'vsmr_client_requests_unchecked_total'), unchecked + 47);
  });
});
