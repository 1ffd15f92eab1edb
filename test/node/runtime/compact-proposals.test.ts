import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import fc from 'fast-check';
import { DigestMemo } from '../../../crypto/digest-memo.js';
import { createNodeMetrics } from '../../../node/observability/metrics.js';
import {
  assembleProposal,
  idToKey,
  keyToId,
  ProposalCompactor,
  type ProposalMessage,
  RequestStash,
  RequestStashes,
} from '../../../node/runtime/compact-proposals.js';
import { CompactProposalReceiver, MAX_FETCH_ROUNDS_AHEAD, serveRequestFetches } from '../../../node/runtime/proposal-fetch.js';
import { type CompactProposal, decodeMessage, encodeMessage, type RequestFetch, type RequestFetchReply } from '../../../network/codec.js';
import { createNetworkHost, type NetworkHost } from '../../../network/host.js';
import { blockId, genesisQc, makeBlock } from '../../../protocol/block.js';
import { CHAIN } from '../../validation/fixtures.js';

const sha = (b: Uint8Array) => hash('sha256', b, 'binary');

/** Distinct request-like byte strings (the compactor never looks inside them). */
function requests(count: number, size = 40, salt = 0): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const r = new Uint8Array(size);
    new DataView(r.buffer).setUint32(0, i);
    r[4] = salt;
    return r;
  });
}

function proposal(payload: readonly Uint8Array[]): ProposalMessage {
  return { type: 'proposal', block: makeBlock(CHAIN, { round: 1, height: 1, parentQc: genesisQc(CHAIN), author: 0, payload }) };
}

/** The compact proposal as it arrives: through the wire codec, so its ids and bytes are fresh arrays. */
function overTheWire(msg: ProposalMessage | CompactProposal): CompactProposal {
  const back = decodeMessage(encodeMessage(msg));
  assert.equal(back.type, 'compact-proposal');
  return back as CompactProposal;
}

function leader(payloadSeenFromPeers: readonly Uint8Array[], opts: { now?: () => number; inlineFreshMs?: number } = {}) {
  const memo = new DigestMemo();
  const stash = new RequestStash({ maxRequests: 10_000, maxBytes: 1 << 24 });
  for (const r of payloadSeenFromPeers) stash.add(memo.key(r), r, 'peer', 0);
  const compactor = new ProposalCompactor({ keyOf: (b) => memo.key(b), stash, now: opts.now ?? (() => 1_000), ...(opts.inlineFreshMs === undefined ? {} : { inlineFreshMs: opts.inlineFreshMs }) });
  return { memo, stash, compactor };
}

/** A replica holding copies of `held`: arrays of its own, as a relay frame decodes them. */
function replica(held: readonly Uint8Array[]) {
  const memo = new DigestMemo();
  const stash = new RequestStash({ maxRequests: 10_000, maxBytes: 1 << 24 });
  const copies = held.map((r) => r.slice());
  for (const r of copies) stash.add(memo.key(r), r, 'peer', 0);
  return { memo, stash, copies, lookup: (key: string) => stash.get(key)?.bytes };
}

/** Rebuilds `wire` at replica `r`, fetching from `compactor` through the wire codec; returns what was asked too. */
async function assembleFrom(wire: CompactProposal, r: ReturnType<typeof replica>, compactor: ProposalCompactor) {
  const asked: RequestFetch[] = [];
  const assembly = await assembleProposal(wire, {
    keyOf: (b) => r.memo.key(b),
    lookup: r.lookup,
    fetch: async (req) => {
      asked.push(req);
      const answer = compactor.serve(decodeMessage(encodeMessage(req)) as RequestFetch, 1 << 20);
      return decodeMessage(encodeMessage(answer!)) as RequestFetchReply;
    },
  });
  return { asked, assembly };
}

describe('compact proposals', () => {
  describe('RequestStash', () => {
    it('keeps the first sighting of a request and evicts the oldest past its count and byte bounds', () => {
      const stash = new RequestStash({ maxRequests: 3, maxBytes: 100 });
      const [a, b, c, d] = requests(4, 30);
      stash.add(sha(a!), a!, 'client', 1);
      stash.add(sha(a!), a!.slice(), 'peer', 2);
      assert.equal(stash.get(sha(a!))?.origin, 'client');
      assert.equal(stash.get(sha(a!))?.at, 1);
      stash.add(sha(b!), b!, 'peer', 3);
      stash.add(sha(c!), c!, 'peer', 4);
      assert.equal(stash.bytes, 90);
      // 120 bytes would pass the byte bound: the oldest goes.
      stash.add(sha(d!), d!, 'peer', 5);
      assert.equal(stash.get(sha(a!)), undefined);
      assert.deepEqual([b, c, d].map((r) => stash.get(sha(r!))?.bytes), [b, c, d]);
      assert.equal(stash.size, 3);
      assert.equal(stash.bytes, 90);
      // A request larger than the whole stash is not held (it would evict everything).
      stash.add('big', new Uint8Array(101), 'peer', 6);
      assert.equal(stash.get('big'), undefined);
      assert.equal(stash.size, 3);
      assert.throws(() => new RequestStash({ maxRequests: 0, maxBytes: 1 }), RangeError);
      assert.throws(() => new RequestStash({ maxRequests: 1, maxBytes: Number.NaN }), RangeError);
    });

    it('holds exactly the newest requests that fit, whatever the sizes (property)', () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 46 }), { maxLength: 3000 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 50, max: 400 }), (sizes, maxRequests, maxBytes) => {
          const stash = new RequestStash({ maxRequests, maxBytes });
          const all = sizes.map((n, i) => {
            const r = new Uint8Array(n + 4);
            new DataView(r.buffer).setUint32(0, i);
            stash.add(sha(r), r, 'peer', i);
            return r;
          });
          // The expected contents: the longest suffix within both bounds.
          let count = 0;
          let bytes = 0;
          for (let i = all.length - 1; i >= 0 && count + 1 <= maxRequests && bytes + all[i]!.length <= maxBytes; i--) {
            count++;
            bytes += all[i]!.length;
          }
          assert.equal(stash.size, count);
          assert.equal(stash.bytes, bytes);
          all.forEach((r, i) => {
            assert.equal(stash.get(sha(r)) !== undefined, i >= all.length - count, `request ${i}`);
          });
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('RequestStashes', () => {
    it('gives each origin its own bounds, so junk relayed by one validator evicts none of the others\' requests', () => {
      const stashes = new RequestStashes({ maxRequests: 4, maxBytes: 1 << 16 });
      const honest = requests(3, 40, 1);
      for (const r of honest) stashes.add('peer-a', sha(r), r, 0);
      const mine = requests(1, 40, 2)[0]!;
      stashes.add('client', sha(mine), mine, 5);
      for (const junk of requests(100, 40, 3)) stashes.add('peer-b', sha(junk), junk, 1);
      for (const r of honest) assert.equal(stashes.get(sha(r))?.bytes, r);
      assert.deepEqual({ ...stashes.get(sha(mine)) }, { bytes: mine, origin: 'client', at: 5 });
      assert.equal(stashes.get(sha(requests(100, 40, 3)[99]!))?.origin, 'peer');
      assert.equal(stashes.get(sha(requests(100, 40, 3)[0]!)), undefined, 'peer-b evicted its own oldest');
      assert.throws(() => new RequestStashes({ maxRequests: 0, maxBytes: 1 }), RangeError);
    });
  });

  describe('ProposalCompactor', () => {
    it('sends as ids what peers relayed, inline what is fresh from its own clients or unknown, and leaves an empty block alone', () => {
      let now = 1_000;
      const relayed = requests(3, 40, 1);
      const { memo, stash, compactor } = leader(relayed, { now: () => now, inlineFreshMs: 50 });
      const [fresh, old] = requests(2, 40, 2);
      stash.add(memo.key(fresh!), fresh!, 'client', 990);
      stash.add(memo.key(old!), old!, 'client', 900);
      const unknown = requests(1, 40, 3)[0]!;

      const empty = proposal([]);
      assert.equal(compactor.compact(empty), empty);

      const msg = proposal([...relayed, fresh!, old!, unknown]);
      const wire = compactor.compact(msg);
      assert.equal(wire.type, 'compact-proposal');
      const refs = (wire as CompactProposal).block.payload;
      assert.deepEqual(
        refs.map((r) => ('id' in r ? 'id' : 'bytes')),
        ['id', 'id', 'id', 'bytes', 'id', 'bytes'],
      );
      refs.forEach((r, i) => {
        if ('id' in r) assert.equal(idToKey(r.id), sha(msg.block.payload[i]!));
        else assert.equal(r.bytes, msg.block.payload[i]);
      });
      // Everything else is the proposal's own.
      const { payload: _p, ...header } = (wire as CompactProposal).block;
      const { payload: _q, ...original } = msg.block;
      assert.deepEqual(header, original);

      // Later, the fresh request has aged past the window too.
      now = 1_100;
      assert.equal((compactor.compact(proposal([fresh!])) as CompactProposal).block.payload.every((r) => 'id' in r), true);
      // A block of only fresh or unknown requests goes as the proposal itself.
      now = 991;
      const inlineOnly = proposal([fresh!, unknown]);
      assert.equal(compactor.compact(inlineOnly), inlineOnly);
    });

    it('answers a fetch only from the proposals it sent, with empty bytes for anything else, within its byte budget', () => {
      const relayed = requests(4, 40, 1);
      const { memo, stash, compactor } = leader(relayed);
      const msg = proposal(relayed);
      const wire = compactor.compact(msg) as CompactProposal;
      const stranger = requests(1, 40, 9)[0]!;
      // Held in the stash but in no proposal this node sent: an ask cannot turn the stash into replies.
      const onlyStashed = requests(1, 40, 8)[0]!;
      stash.add(memo.key(onlyStashed), onlyStashed, 'peer', 0);
      const ids = [relayed[2]!, stranger, relayed[0]!, onlyStashed].map((r) => keyToId(sha(r)));
      const reply = compactor.serve({ type: 'request-fetch', blockId: wire.block.id, ids }, 1 << 20);
      const none = new Uint8Array(0);
      assert.deepEqual(reply?.requests, [relayed[2], none, relayed[0], none]);
      // Another block's id: nothing, though this node holds the requests.
      const other = compactor.serve({ type: 'request-fetch', blockId: new Uint8Array(32), ids: ids.slice(0, 1) }, 1 << 20);
      assert.deepEqual(other?.requests, [none]);
      // An id asked twice is no honest replica's ask: no answer (the host penalises it).
      assert.equal(compactor.serve({ type: 'request-fetch', blockId: wire.block.id, ids: [ids[0]!, ids[2]!, ids[0]!] }, 1 << 20), undefined);
      // The budget, framing included: exactly enough for two of three 40-byte requests.
      const three = [relayed[0]!, relayed[1]!, relayed[2]!].map((r) => keyToId(sha(r)));
      const exact = 2 + 4 + 3 * 4 + 2 * 40;
      for (const [max, answered] of [[exact, 2], [exact - 1, 1], [exact + 40, 3]] as const) {
        const r = compactor.serve({ type: 'request-fetch', blockId: wire.block.id, ids: three }, max)!;
        assert.equal(r.requests.filter((x) => x.length > 0).length, answered, `budget ${max}`);
        assert.ok(encodeMessage(r).length <= max, `the encoded reply fits ${max} bytes`);
      }
    });

    it('refuses nonsense options', () => {
      const stash = new RequestStash({ maxRequests: 1, maxBytes: 1 });
      assert.throws(() => new ProposalCompactor({ keyOf: sha, stash, now: () => 0, inlineFreshMs: -1 }), RangeError);
      assert.throws(() => new ProposalCompactor({ keyOf: sha, stash, now: () => 0, rememberProposals: 0 }), RangeError);
    });
  });

  describe('assembleProposal', () => {
    it("rebuilds the leader's block from the replica's own arrays, fetching only what it lacks", async () => {
      const payload = requests(10, 60);
      const { compactor } = leader(payload);
      const msg = proposal(payload);
      const wire = overTheWire(compactor.compact(msg));
      const r = replica(payload.slice(0, 7));
      const { asked, assembly } = await assembleFrom(wire, r, compactor);
      assert.equal(assembly.kind, 'complete');
      if (assembly.kind !== 'complete') return;
      assert.deepEqual({ inline: assembly.inline, local: assembly.local, fetched: assembly.fetched }, { inline: 0, local: 7, fetched: 3 });
      assert.equal(asked.length, 1);
      assert.deepEqual(asked[0]!.ids.map(idToKey), payload.slice(7).map(sha));
      assert.deepEqual(asked[0]!.blockId, msg.block.id);
      const block = assembly.message.block;
      assert.deepEqual(block, msg.block);
      assert.deepEqual(blockId(CHAIN, block), msg.block.id);
      // The replica's own copies, the arrays its pool hashed and checked: no second hash or check.
      for (let i = 0; i < 7; i++) assert.equal(block.payload[i], r.copies[i]);
    });

    it('fetches nothing when the replica holds every request, and keeps inline bytes and the TC', async () => {
      const payload = requests(5, 60);
      const { memo, stash, compactor } = leader(payload.slice(0, 4));
      stash.add(memo.key(payload[4]!), payload[4]!, 'client', 999);
      const msg = proposal(payload);
      const withTc: ProposalMessage = { ...msg, tc: { round: 0, signers: Uint8Array.of(7), highQcRounds: [0, 0, 0], highestQc: genesisQc(CHAIN), certificate: new Uint8Array(96) } };
      const wire = overTheWire(compactor.compact(withTc));
      const r = replica(payload.slice(0, 4));
      const assembly = await assembleProposal(wire, { keyOf: (b) => r.memo.key(b), lookup: r.lookup, fetch: () => assert.fail('no fetch expected') });
      assert.equal(assembly.kind, 'complete');
      if (assembly.kind !== 'complete') return;
      assert.deepEqual({ inline: assembly.inline, local: assembly.local, fetched: assembly.fetched }, { inline: 1, local: 4, fetched: 0 });
      assert.deepEqual(assembly.message, withTc);
    });

    it('reports a sender that does not answer, or lacks what it proposed, as unavailable, and one that answers other bytes as forged', async () => {
      const payload = requests(4, 60);
      const { compactor } = leader(payload);
      const wire = overTheWire(compactor.compact(proposal(payload)));
      const r = replica(payload.slice(0, 2));
      const run = (fetch: (req: RequestFetch) => Promise<RequestFetchReply | undefined>) => assembleProposal(wire, { keyOf: (b) => r.memo.key(b), lookup: r.lookup, fetch });

      assert.equal((await run(async () => undefined)).kind, 'unavailable');
      const partly = await run(async (req) => ({ type: 'request-fetch-reply', requests: [payload[2]!, new Uint8Array(0)].slice(0, req.ids.length) }));
      assert.deepEqual(partly.kind === 'unavailable' ? partly.missing : -1, 1);
      // Bytes under the wrong id: a leader cannot slip another request in through a fetch.
      assert.equal((await run(async () => ({ type: 'request-fetch-reply', requests: [payload[3]!, payload[2]!] }))).kind, 'forged');
      assert.equal((await run(async () => ({ type: 'request-fetch-reply', requests: [payload[2]!] }))).kind, 'forged');
      assert.equal((await run(async () => ({ type: 'request-fetch-reply', requests: [requests(1, 60, 5)[0]!, payload[3]!] }))).kind, 'forged');
    });

    it('asks once for a request the proposal names twice', async () => {
      const payload = requests(3, 60);
      const twice = [payload[0]!, payload[1]!, payload[2]!, payload[1]!];
      const { compactor } = leader(payload);
      const wire = overTheWire(compactor.compact(proposal(twice)));
      const r = replica(payload.slice(0, 1));
      const { asked, assembly } = await assembleFrom(wire, r, compactor);
      assert.deepEqual(asked.map((a) => a.ids.map(idToKey)), [[sha(payload[1]!), sha(payload[2]!)]]);
      assert.equal(assembly.kind, 'complete');
      if (assembly.kind === 'complete') {
        assert.deepEqual(assembly.message.block.payload, twice);
        assert.equal(assembly.fetched, 3);
      }
    });

    it('rebuilds the same block id for any split between inline, held and fetched requests (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ size: fc.integer({ min: 1, max: 300 }), leaderSawFromPeer: fc.boolean(), replicaHolds: fc.boolean() }), { minLength: 1, maxLength: 40 }),
          async (spec) => {
            const payload = spec.map((s, i) => {
              const r = new Uint8Array(s.size + 4);
              new DataView(r.buffer).setUint32(0, i);
              return r;
            });
            const { compactor } = leader(payload.filter((_, i) => spec[i]!.leaderSawFromPeer));
            const msg = proposal(payload);
            const sent = compactor.compact(msg);
            if (sent.type === 'proposal') {
              assert.ok(spec.every((s) => !s.leaderSawFromPeer));
              return;
            }
            const wire = overTheWire(sent);
            const r = replica(payload.filter((_, i) => spec[i]!.replicaHolds));
            const assembly = await assembleProposal(wire, {
              keyOf: (b) => r.memo.key(b),
              lookup: r.lookup,
              fetch: async (req) => compactor.serve(req, 1 << 22),
            });
            assert.equal(assembly.kind, 'complete');
            if (assembly.kind !== 'complete') return;
            assert.deepEqual(blockId(CHAIN, assembly.message.block), msg.block.id);
            assert.equal(assembly.inline + assembly.local + assembly.fetched, payload.length);
            assert.equal(assembly.inline, spec.filter((s) => !s.leaderSawFromPeer).length);
          },
        ),
        { numRuns: 100 },
      );
    });
  });

  describe('CompactProposalReceiver', () => {
    /** A fake host whose fetches wait until released, counting them. */
    function slowHost(serve: (req: RequestFetch) => RequestFetchReply | undefined) {
      const calls: string[] = [];
      const waiting: (() => void)[] = [];
      const penalised: string[] = [];
      const host = {
        request: async (peer: string, _protocol: string, bytes: Uint8Array) => {
          calls.push(peer);
          await new Promise<void>((r) => waiting.push(r));
          return encodeMessage(serve(decodeMessage(bytes) as RequestFetch)!);
        },
        penalise: (peer: string) => {
          penalised.push(peer);
        },
      };
      return { host, calls, penalised, release: () => {
          for (const r of waiting.splice(0)) r();
        },
      };
    }

    it('fetches only for a proposal from its author and round leader, for the current round to 16 ahead, one fetch per sender at a time', async () => {
      const payload = requests(4, 60);
      const { compactor } = leader(payload);
      const fake = slowHost((req) => compactor.serve(req, 1 << 20));
      const r = replica(payload.slice(0, 2));
      let round = 1;
      const receiver = new CompactProposalReceiver({ host: fake.host, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => round, leaderOf: () => 0 });
      const wire = overTheWire(compactor.compact(proposal(payload)));

      // Sent by validator 2, but authored by 0: not worth a fetch (the core refuses it anyway).
      assert.equal(await receiver.rebuild(wire, { peer: 'p2', sender: 2 }), undefined);
      assert.equal(fake.calls.length, 0);
      // From its author, but for a round another validator leads, or far ahead: no fetch either.
      const notLeader = new CompactProposalReceiver({ host: fake.host, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => round, leaderOf: () => 3 });
      assert.equal(await notLeader.rebuild(wire, { peer: 'p0', sender: 0 }), undefined);
      const farBehind = new CompactProposalReceiver({ host: fake.host, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => 1 - MAX_FETCH_ROUNDS_AHEAD - 1, leaderOf: () => 0 });
      assert.equal(await farBehind.rebuild(wire, { peer: 'p0', sender: 0 }), undefined);
      assert.equal(fake.calls.length, 0);

      // From its author: one fetch, and a second proposal from that sender meanwhile gets none.
      const first = receiver.rebuild(wire, { peer: 'p0', sender: 0 });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(fake.calls, ['p0']);
      assert.equal(await receiver.rebuild(wire, { peer: 'p0', sender: 0 }), undefined);
      assert.deepEqual(fake.calls, ['p0']);
      // The limit is per sender: another validator's proposal (round 2, which it leads) is fetched meanwhile.
      const byTwo = new CompactProposalReceiver({ host: fake.host, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => round, leaderOf: (x) => (x === 2 ? 2 : 0) });
      const other = leader(payload);
      const wire2 = overTheWire(other.compactor.compact({ type: 'proposal', block: makeBlock(CHAIN, { round: 2, height: 1, parentQc: genesisQc(CHAIN), author: 2, payload }) }));
      void byTwo.rebuild(wire2, { peer: 'p2', sender: 2 });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(fake.calls, ['p0', 'p2']);
      fake.release();
      assert.equal((await first)?.block.payload.length, 4);

      // The core moved past its round: no fetch for it.
      round = 2;
      assert.equal(await receiver.rebuild(wire, { peer: 'p0', sender: 0 }), undefined);
      assert.equal(fake.calls.length, 2, 'no third fetch');
      // Nothing to fetch: rebuilt whatever the round.
      const held = replica(payload);
      const local = new CompactProposalReceiver({ host: fake.host, lookup: held.lookup, keyOf: (x) => held.memo.key(x), currentRound: () => 9, leaderOf: () => 0 });
      assert.equal((await local.rebuild(wire, { peer: 'p0', sender: 0 }))?.block.payload.length, 4);
      assert.deepEqual(fake.penalised, []);
    });

    it('penalises a sender that answers with bytes other than the requests asked for', async () => {
      const payload = requests(3, 60);
      const { compactor } = leader(payload);
      const fake = slowHost((req) => ({ type: 'request-fetch-reply', requests: req.ids.map(() => requests(1, 60, 9)[0]!) }));
      const r = replica(payload.slice(0, 1));
      const metrics = createNodeMetrics({ chainId: CHAIN, validator: 1 }, false);
      const receiver = new CompactProposalReceiver({ host: fake.host, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => 1, leaderOf: () => 0, metrics });
      const pending = receiver.rebuild(overTheWire(compactor.compact(proposal(payload))), { peer: 'p0', sender: 0 });
      await new Promise((r) => setImmediate(r));
      fake.release();
      assert.equal(await pending, undefined);
      assert.deepEqual(fake.penalised, ['p0']);
      assert.equal((await metrics.rejectedMessages.get()).values.find((v) => v.labels.reason === 'proposal-fetch-forged')?.value, 1);
    });
  });

  describe('over a real `fetch` protocol', function () {
    this.timeout(60_000);
    let a: NetworkHost;
    let b: NetworkHost;
    const payload = requests(6, 120);
    const sender = leader(payload);
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 1 }, false);

    before(async () => {
      const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
      const allowedPeers = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()));
      const common = { chainId: CHAIN, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers, topics: ['certificate' as const], redialBaseMs: 100 };
      a = await createNetworkHost({ ...common, privateKey: keys[0]! });
      b = await createNetworkHost({ ...common, privateKey: keys[1]!, peers: [{ peerId: a.peerId, multiaddr: a.multiaddrs()[0]! }] });
      serveRequestFetches(a, sender.compactor);
      const deadline = Date.now() + 15_000;
      while (!b.peers().includes(a.peerId)) {
        if (Date.now() > deadline) assert.fail('hosts did not connect');
        await new Promise((r) => setTimeout(r, 20));
      }
    });

    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('fetches the requests a replica lacks from the sender, and counts where each came from', async () => {
      const msg = proposal(payload);
      const wire = overTheWire(sender.compactor.compact(msg));
      const r = replica(payload.slice(0, 4));
      const receiver = new CompactProposalReceiver({ host: b, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => 1, leaderOf: () => 0, metrics });
      const rebuilt = await receiver.rebuild(wire, { peer: a.peerId, sender: 0 });
      assert.deepEqual(rebuilt, msg);
      const counts = Object.fromEntries((await metrics.proposalRequestsRebuilt.get()).values.map((v) => [v.labels.source, v.value]));
      assert.deepEqual(counts, { local: 4, fetched: 2 });
    });

    it('refuses, unread, an answer larger than the asker allows', async () => {
      const msg = proposal(payload);
      sender.compactor.compact(msg);
      const ask = encodeMessage({ type: 'request-fetch', blockId: msg.block.id, ids: payload.slice(0, 3).map((x) => keyToId(sha(x))) });
      const full = decodeMessage(await b.request(a.peerId, 'fetch', ask, 5_000));
      assert.equal(full.type === 'request-fetch-reply' && full.requests.filter((x) => x.length > 0).length, 3);
      await assert.rejects(b.request(a.peerId, 'fetch', ask, 5_000, 200));
    });

    it('does not rebuild a proposal whose sender never held what it named', async () => {
      const strangers = requests(2, 120, 7);
      const { compactor } = leader([...payload, ...strangers]);
      // Another leader's proposal, naming two requests the serving host `a` has never seen.
      const wire = overTheWire(compactor.compact(proposal([payload[0]!, ...strangers])));
      const r = replica([payload[0]!]);
      const receiver = new CompactProposalReceiver({ host: b, lookup: r.lookup, keyOf: (x) => r.memo.key(x), currentRound: () => 1, leaderOf: () => 0, metrics });
      const rebuilt = await receiver.rebuild(wire, { peer: a.peerId, sender: 0 });
      assert.equal(rebuilt, undefined);
      const rejected = (await metrics.rejectedMessages.get()).values.find((v) => v.labels.reason === 'proposal-unavailable');
      assert.equal(rejected?.value, 1);
    });

    it('answers a garbage fetch with nothing and lowers the asker\'s score', async () => {
      a.onGossip('certificate', () => 'accept', () => undefined);
      b.onGossip('certificate', () => 'accept', () => undefined);
      const deadline = Date.now() + 15_000;
      while (!a.topicPeers('certificate').includes(b.peerId)) {
        if (Date.now() > deadline) assert.fail('no gossip score kept for the peer');
        await new Promise((r) => setTimeout(r, 20));
      }
      const before = a.peerScore(b.peerId);
      // A request/response stream answered with no frame: the asker's read fails.
      await assert.rejects(b.request(a.peerId, 'fetch', Uint8Array.of(1, 11, 0), 5_000));
      await assert.rejects(b.request(a.peerId, 'fetch', encodeMessage({ type: 'sync-request', fromHeight: 0 }), 5_000));
      const until = Date.now() + 15_000;
      while (!(a.peerScore(b.peerId) <= before - 10)) {
        if (Date.now() > until) assert.fail(`score ${a.peerScore(b.peerId)} not lowered from ${before}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
});
