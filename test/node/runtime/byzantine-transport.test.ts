import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { bytesToHex } from '../../../crypto/bytes.js';
import { EquivocationDetector } from '../../../node/consensus/evidence.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { ConsensusMessage } from '../../../node/consensus/messages.js';
import { byzantineRuntime, checkByzantineName, REAL_BYZANTINE_BEHAVIORS, type RawSink } from '../../../node/runtime/byzantine-transport.js';
import type { ConsensusTransport } from '../../../node/runtime/ports.js';
import { decodeMessage, encodeMessage } from '../../../network/codec.js';
import { genesisQc, makeBlock } from '../../../protocol/block.js';
import { ConfigError } from '../../../protocol/config-error.js';
import { type Block, voteDigest, type VoteData } from '../../../protocol/types.js';

const CHAIN = 'byz-test';
const N = 4;
const SELF = 1;

/** Fake: records what the wrapper hands to the real transport; `encode` mimics the p2p codec's refusals. */
class FakeTransport implements ConsensusTransport {
  readonly sent: { to: number; message: ConsensusMessage }[] = [];
  constructor(private readonly encode = false) {}
  broadcast(message: ConsensusMessage): void {
    if (this.encode) encodeMessage(message);
    for (let to = 0; to < N; to++) if (to !== SELF) this.sent.push({ to, message });
  }
  send(to: number, message: ConsensusMessage): void {
    if (this.encode) encodeMessage(message);
    this.sent.push({ to, message });
  }
  requestSync = async () => undefined;
  requestSnapshotChunk = async () => undefined;
}

/** Fake: a host that only records raw bytes. */
class FakeRaw implements RawSink {
  readonly maxMessageBytes = 1000;
  readonly requestKey = (bytes: Uint8Array) => hash('sha256', bytes, 'binary');
  readonly published: { topic: string; bytes: Uint8Array }[] = [];
  readonly frames: { to: number; protocol: string; bytes: Uint8Array }[] = [];
  async publish(topic: 'certificate', bytes: Uint8Array) {
    this.published.push({ topic, bytes });
  }
  async send(to: number, protocol: 'consensus' | 'vote' | 'requests', bytes: Uint8Array) {
    this.frames.push({ to, protocol, bytes });
  }
}

function setup(spec: string, opts: { encode?: boolean; now?: () => number } = {}) {
  const inner = new FakeTransport(opts.encode);
  const raw = new FakeRaw();
  const certs = new FakeCertificateOps(CHAIN, N);
  const byz = byzantineRuntime({
    spec,
    inner,
    index: SELF,
    n: N,
    chainId: CHAIN,
    signer: fakeSigner(SELF),
    certs,
    baseTimeoutMs: 50,
    raw,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { inner, raw, certs, byz };
}

function proposal(round: number, payload: Uint8Array[]): Block {
  return makeBlock(CHAIN, { round, height: 1, parentQc: genesisQc(CHAIN), author: SELF, payload });
}

const voteOf = (b: Block): VoteData => ({ blockId: b.id, round: b.round, height: b.height, parentId: b.parentQc.vote.blockId, parentRound: b.parentQc.vote.round });

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('byzantine transport (vsmr start --unsafe-byzantine)', () => {
  it('accepts the catalogue names (and compositions) and refuses others with a ConfigError naming the valid ones', () => {
    assert.deepEqual(checkByzantineName('equivocate'), ['equivocate']);
    assert.deepEqual(checkByzantineName('flood, double-vote'), ['flood', 'double-vote']);
    for (const bad of ['nope', '', 'twins', 'flood,nope', 'equivocate,,', ',flood']) {
      assert.throws(
        () => checkByzantineName(bad),
        (err: unknown) => err instanceof ConfigError && err.field === '--unsafe-byzantine' && err.message.includes('equivocate') && !err.message.includes('\n'),
      );
    }
    for (const name of ['equivocate', 'double-vote', 'silent', 'withhold-votes', 'bad-signatures', 'flood', 'replay', 'mutate']) assert.ok(REAL_BYZANTINE_BEHAVIORS.includes(name), name);
  });

  it('equivocate: conflicting proposals to the two halves, then the other one to each, and a second signed vote; honest detectors find both', async () => {
    const { inner, byz, certs } = setup('equivocate');
    const block = proposal(5, [new Uint8Array([1]), new Uint8Array([2])]);
    byz.transport.broadcast({ type: 'proposal', block });
    // The core's own vote for its block goes to the next leader (round 5 -> validator 2).
    const honestVote = { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) };
    byz.transport.send(2, { type: 'vote', vote: honestVote });
    await until(() => inner.sent.filter((s) => s.message.type === 'proposal').length >= 6);
    const proposals = inner.sent.filter((s) => s.message.type === 'proposal');
    const idsTo = (to: number) => new Set(proposals.filter((p) => p.to === to).map((p) => bytesToHex((p.message as { block: Block }).block.id)));
    assert.equal(new Set(proposals.map((p) => bytesToHex((p.message as { block: Block }).block.id))).size, 2, 'two different blocks');
    for (const to of [0, 2, 3]) assert.equal(idsTo(to).size, 2, `validator ${to} got both`);
    // First delivery differs between halves.
    const firstTo = (to: number) => bytesToHex((proposals.find((p) => p.to === to)!.message as { block: Block }).block.id);
    assert.notEqual(firstTo(0), firstTo(3));
    byz.stop();

    // What each honest validator sees, through the detector it runs.
    let proposalEvidence = 0;
    let voteEvidence = 0;
    for (const to of [0, 2, 3]) {
      const d = new EquivocationDetector(certs, CHAIN);
      for (const s of inner.sent.filter((x) => x.to === to)) {
        const e = d.observe(s.message, SELF);
        if (e?.kind === 'conflicting-proposals') proposalEvidence++;
        if (e?.kind === 'double-vote') voteEvidence++;
      }
    }
    assert.equal(proposalEvidence, 3, 'every honest validator saw two blocks for round 5');
    assert.equal(voteEvidence, 1, 'the next leader holds two signed votes for round 5');
  });

  it('double-vote: every vote is followed or preceded by a conflicting signed one', () => {
    const { inner, byz, certs } = setup('double-vote');
    const block = proposal(3, []);
    byz.transport.send(0, { type: 'vote', vote: { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) } });
    const votes = inner.sent.filter((s) => s.message.type === 'vote');
    assert.equal(votes.length, 2);
    const d = new EquivocationDetector(certs, CHAIN);
    const found = votes.map((v) => d.observe(v.message, SELF)).filter((e) => e !== undefined);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.offender, SELF);
  });

  it('silent and withhold-votes send nothing (or no votes); the honest path sends as asked', () => {
    const block = proposal(2, []);
    const vote: ConsensusMessage = { type: 'vote', vote: { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) } };
    const silent = setup('silent');
    silent.byz.transport.broadcast({ type: 'proposal', block });
    silent.byz.transport.send(0, vote);
    assert.equal(silent.inner.sent.length, 0);
    assert.equal(silent.byz.servesSync, false);
    const withhold = setup('withhold-votes');
    withhold.byz.transport.broadcast({ type: 'proposal', block });
    withhold.byz.transport.send(0, vote);
    assert.deepEqual(
      withhold.inner.sent.map((s) => s.message.type),
      ['proposal', 'proposal', 'proposal'],
    );
  });

  it('bad-signatures: votes leave with signatures that do not verify', () => {
    const { inner, byz, certs } = setup('bad-signatures');
    const block = proposal(2, []);
    const good = { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) };
    assert.equal(certs.verifyVote(good), true);
    byz.transport.send(0, { type: 'vote', vote: good });
    const sent = inner.sent[0]!.message;
    assert.equal(sent.type, 'vote');
    assert.equal(certs.verifyVote((sent as { vote: typeof good }).vote), false);
  });

  it('flood: garbage frames and request batches, an oversized frame and garbage gossip, rate-limited', () => {
    let t = 10_000;
    const { inner, raw, byz } = setup('flood', { encode: true, now: () => t });
    const block = proposal(2, []);
    const vote: ConsensusMessage = { type: 'vote', vote: { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) } };
    for (let k = 0; k < 50; k++) byz.transport.send(0, vote);
    const perSecond = raw.frames.length + raw.published.length;
    assert.ok(perSecond > 0 && perSecond <= 12, `bounded raw traffic per second, got ${perSecond}`);
    assert.ok(raw.frames.some((f) => f.protocol === 'requests'), 'garbage request batches');
    assert.ok(raw.published.some((p) => p.topic === 'certificate'));
    assert.ok(raw.frames.some((f) => f.bytes.length > raw.maxMessageBytes), 'one oversized frame');
    assert.equal(inner.sent.filter((s) => s.message.type === 'vote' && s.to === 0).length >= 50, true, 'the real votes still go out');
    t += 1000;
    byz.transport.send(0, vote);
    assert.ok(raw.frames.length + raw.published.length > perSecond, 'the budget refills each second');
  });

  it('replay and mutate: stale or altered messages go out besides or instead of the real ones', () => {
    const block = proposal(2, []);
    const vote: ConsensusMessage = { type: 'vote', vote: { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) } };
    const rep = setup('replay');
    rep.byz.incoming(0, { type: 'proposal', block: { ...block, author: 0 } });
    rep.byz.transport.send(2, vote);
    assert.equal(rep.inner.sent.length, 3, 'the vote and two replayed messages');
    const mut = setup('mutate');
    for (let k = 0; k < 20; k++) mut.byz.transport.send(2, vote);
    const changed = mut.inner.sent.filter((s) => bytesToHex(encodeMessage(s.message)) !== bytesToHex(encodeMessage(vote)));
    assert.ok(changed.length > 0 && changed.length < 20, `some votes mutated, got ${changed.length}`);
  });

  it('withhold-requests: its proposals go out compact, naming its requests by id with the last replaced by one that exists nowhere', () => {
    const { inner, raw, byz } = setup('withhold-requests');
    const payload = [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6)];
    const block = proposal(2, payload);
    byz.transport.broadcast({ type: 'proposal', block });
    assert.equal(inner.sent.length, 0, 'not through the honest transport');
    assert.deepEqual(raw.frames.map((f) => [f.to, f.protocol]), [[0, 'consensus'], [2, 'consensus'], [3, 'consensus']]);
    const sent = decodeMessage(raw.frames[0]!.bytes);
    assert.equal(sent.type, 'compact-proposal');
    if (sent.type !== 'compact-proposal') return;
    assert.deepEqual(sent.block.id, block.id);
    const ids = sent.block.payload.map((r) => ('id' in r ? Buffer.from(r.id).toString('latin1') : 'inline'));
    assert.deepEqual(ids.slice(0, 1), [hash('sha256', payload[0]!, 'binary')]);
    assert.equal(ids.length, 2, 'as many requests as the block holds');
    assert.notEqual(ids[1], hash('sha256', payload[1]!, 'binary'), 'the last one replaced by one nobody holds');
    byz.transport.broadcast({ type: 'proposal', block: proposal(6, []) });
    const empty = decodeMessage(raw.frames.at(-1)!.bytes);
    assert.equal(empty.type === 'compact-proposal' && empty.block.payload.length, 1, 'an empty block gets one');
    // Votes and timeouts go out as the honest core asked.
    byz.transport.send(0, { type: 'vote', vote: { vote: voteOf(block), signer: SELF, signature: fakeSigner(SELF).sign(voteDigest(CHAIN, voteOf(block))) } });
    assert.equal(inner.sent.length, 1);
  });

  it('incoming messages pass through the behaviour (vote-invalid votes for whatever it is shown)', () => {
    const { inner, byz } = setup('vote-invalid');
    const other = makeBlock(CHAIN, { round: 6, height: 1, parentQc: genesisQc(CHAIN), author: 2, payload: [] });
    const out = byz.incoming(2, { type: 'proposal', block: other });
    assert.equal(out?.type, 'proposal', 'the core still gets the proposal');
    assert.equal(inner.sent.filter((s) => s.message.type === 'vote' && s.to === 3).length, 2, 'two votes to the next leader');
  });
});
