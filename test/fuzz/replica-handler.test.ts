import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToHex } from '../../crypto/bytes.js';
import { KvApplication } from '../../node/app/kv-app.js';
import { FakeCertificateOps, fakeSigner } from '../../node/consensus/fake-certs.js';
import type { ConsensusAction, ConsensusEvent } from '../../node/consensus/messages.js';
import { Replica } from '../../node/consensus/replica.js';
import type { SafetyState } from '../../node/consensus/safety-rules.js';
import { encodeCommand } from '../../protocol/command.js';
import { type Block, encodeVoteData, type QuorumCert } from '../../protocol/types.js';
import { Prng } from '../../sim/prng.js';

/**
 * Replica.step against mutated and random peer events: it never throws, and an event it
 * rejects leaves the replica's observable state (round, certificates, commits, pending
 * commands, safety state, internal map sizes) exactly as it was. The replica under test has
 * already seen every original message, so any certificate a mutant carries is known to it:
 * a rejected mutant has nothing legitimate to teach it.
 */

const CHAIN = 'vsmr-fuzz';
const N = 4;
const certs = new FakeCertificateOps(CHAIN, N);

function newReplica(i: number): Replica {
  let saved: SafetyState | null = null;
  return new Replica({
    chainId: CHAIN,
    index: i,
    n: N,
    signer: fakeSigner(i),
    safetyStorage: { load: () => saved, store: (s) => (saved = s) },
    certs,
    baseTimeoutMs: 1000,
    maxBatchCommands: 10,
    maxBatchBytes: 1 << 20,
  });
}

/** A fault-free 4-replica run, delivered FIFO; returns every event replica 0 stepped, in order. */
function recordRun(): ConsensusEvent[] {
  const replicas = Array.from({ length: N }, (_, i) => newReplica(i));
  const apps = Array.from({ length: N }, () => new KvApplication({ chainId: CHAIN }));
  const log: ConsensusEvent[] = [];
  const queue: [number, ConsensusEvent][] = [];
  const step = (i: number, ev: ConsensusEvent): void => {
    if (i === 0) log.push(ev);
    const actions: ConsensusAction[] = replicas[i]!.step(ev);
    for (const a of actions) {
      if (a.type === 'broadcast') for (let j = 0; j < N; j++) if (j !== i) queue.push([j, { ...a.message, from: i } as ConsensusEvent]);
      if (a.type === 'send') queue.push([a.to, { ...a.message, from: i } as ConsensusEvent]);
      if (a.type === 'commit') {
        for (const b of a.blocks) {
          const r = apps[i]!.applyBlock([...b.payload]);
          queue.unshift([i, { type: 'executed', state: { height: b.height, blockId: b.id, stateRoot: r.stateRoot, logRoot: r.logRoot } }]);
        }
      }
    }
  };
  for (let i = 0; i < N; i++) step(i, { type: 'start' });
  let submitted = 0;
  for (let k = 0; k < 4000 && (queue.length > 0 || submitted < 24); k++) {
    if (queue.length === 0 || k % 40 === 0) {
      const commands = [0, 1].map(() => encodeCommand({ type: 'put', key: new Uint8Array([submitted]), value: new Uint8Array([submitted++]) }));
      for (let i = 0; i < N; i++) step(i, { type: 'commands', commands });
    }
    const next = queue.shift();
    if (next) step(next[0], next[1]);
  }
  return log;
}

const LOG = recordRun();
const PEER_EVENTS = LOG.filter((e) => e.type === 'proposal' || e.type === 'vote' || e.type === 'timeout');

function rebuilt(): Replica {
  const r = newReplica(0);
  for (const ev of LOG) r.step(ev);
  return r;
}

const qcKey = (qc: QuorumCert): string => `${bytesToHex(encodeVoteData(qc.vote))}/${bytesToHex(qc.certificate)}`;

function observable(r: Replica): string {
  const s = r.safetyState;
  return JSON.stringify({
    round: r.currentRound,
    highQc: qcKey(r.highestQc),
    highTc: r.highestTc?.round,
    committed: r.committedHeight,
    pending: r.pendingCommands,
    sizes: r.stateSizes,
    safety: [s.lastVotedRound, s.oneChainRound, s.preferredRound, s.highestTimeoutRound, s.lastVote ? bytesToHex(s.lastVote.signature) : null],
  });
}

function flip(b: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(b);
  if (out.length > 0) out[at % out.length]! ^= 1 << at % 8;
  return out;
}

/** Small-scope mutations of a delivered event: one field off by one, swapped, or corrupted. */
function mutant(ev: ConsensusEvent, rng: Prng): ConsensusEvent {
  const d = rng.chance(0.5) ? 1 : -1;
  const at = rng.int(0, 1 << 16);
  switch (ev.type) {
    case 'proposal': {
      const b = ev.block;
      const changes: Partial<Block>[] = [
        { round: b.round + d },
        { height: b.height + d },
        { author: (b.author + 1) % N },
        { id: flip(b.id, at) },
        { payload: [...b.payload, new Uint8Array([1, 2, 3])] },
        { parentQc: { ...b.parentQc, certificate: flip(b.parentQc.certificate, at) } },
        { parentQc: { ...b.parentQc, vote: { ...b.parentQc.vote, round: b.parentQc.vote.round + d } } },
        { executed: { ...b.executed, stateRoot: flip(b.executed.stateRoot, at) } },
      ];
      const pick = rng.int(0, changes.length);
      if (pick === changes.length) return { ...ev, from: (ev.from + 1) % N };
      return { ...ev, block: { ...b, ...changes[pick]! } };
    }
    case 'vote': {
      const v = ev.vote;
      const options: ConsensusEvent[] = [
        { ...ev, vote: { ...v, signature: flip(v.signature, at) } },
        { ...ev, vote: { ...v, vote: { ...v.vote, round: v.vote.round + d } } },
        { ...ev, vote: { ...v, vote: { ...v.vote, blockId: v.vote.parentId, parentId: v.vote.blockId } } },
        { ...ev, vote: { ...v, signer: (v.signer + 1) % N } },
      ];
      return options[rng.int(0, options.length - 1)]!;
    }
    case 'timeout': {
      const t = ev.timeout;
      const options: ConsensusEvent[] = [
        { ...ev, timeout: { ...t, signature: flip(t.signature, at) } },
        { ...ev, timeout: { ...t, round: t.round + d } },
        { ...ev, timeout: { ...t, highQcRound: t.highQcRound + d } },
        { ...ev, highQc: { ...ev.highQc, certificate: flip(ev.highQc.certificate, at) } },
      ];
      return options[rng.int(0, options.length - 1)]!;
    }
    default:
      return ev;
  }
}

const junkBytes = fc.uint8Array({ maxLength: 40 });
const junkNumber = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constant(Number.NaN), fc.constant(2 ** 60), fc.double());
const junkQc = fc.record({
  vote: fc.record({ blockId: junkBytes, round: junkNumber, height: junkNumber, parentId: junkBytes, parentRound: junkNumber }),
  certificate: junkBytes,
});
const junkEvent: fc.Arbitrary<ConsensusEvent> = fc.oneof(
  fc.record({ type: fc.constant('vote' as const), from: fc.integer({ min: 0, max: N - 1 }), vote: fc.record({ vote: junkQc.map((q) => q.vote), signer: junkNumber, signature: junkBytes }) }),
  fc.record({
    type: fc.constant('timeout' as const),
    from: fc.integer({ min: 0, max: N - 1 }),
    timeout: fc.record({ round: junkNumber, highQcRound: junkNumber, signer: junkNumber, signature: junkBytes }),
    highQc: junkQc,
  }),
  fc.record({
    type: fc.constant('proposal' as const),
    from: fc.integer({ min: 0, max: N - 1 }),
    block: fc.record({
      id: junkBytes,
      round: junkNumber,
      height: junkNumber,
      parentQc: junkQc,
      author: junkNumber,
      payload: fc.array(junkBytes, { maxLength: 3 }),
      executed: fc.record({ height: junkNumber, blockId: junkBytes, stateRoot: junkBytes, logRoot: junkBytes }),
    }),
  }),
  fc.record({ type: fc.constant('sync-response' as const), from: fc.integer({ min: 1, max: N - 1 }), blocks: fc.constant([] as Block[]), highQc: junkQc }),
);

describe('fuzz: Replica.step with mutated and random peer events', function () {
  this.timeout(60_000);

  it('the recorded run is a real one (blocks committed, every message kind present)', () => {
    const r = rebuilt();
    assert.ok(r.committedHeight >= 5, `committed ${r.committedHeight}`);
    for (const t of ['proposal', 'vote', 'executed', 'commands']) assert.ok(LOG.some((e) => e.type === t), t);
  });

  it('a mutated event never throws; when rejected it changes nothing', () => {
    const base = rebuilt();
    let rejected = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PEER_EVENTS.length - 1 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (k, seed) => {
        const r = rebuilt();
        const before = observable(r);
        const actions = r.step(mutant(PEER_EVENTS[k]!, new Prng(seed)));
        if (actions.some((a) => a.type === 'reject')) {
          rejected++;
          assert.equal(observable(r), before);
        }
      }),
      { numRuns: 150 },
    );
    assert.ok(rejected > 50, `only ${rejected} mutants were rejected`);
    assert.equal(observable(rebuilt()), observable(base), 'replay is deterministic');
  });

  it('a random, malformed event never throws; when rejected it changes nothing', () => {
    const r = rebuilt();
    fc.assert(
      fc.property(junkEvent, (ev) => {
        const before = observable(r);
        const actions = r.step(ev);
        if (actions.some((a) => a.type === 'reject')) assert.equal(observable(r), before);
      }),
      { numRuns: 400 },
    );
  });

  it('tampered sync responses are rejected whole: nothing of them enters the tree', () => {
    const proposals = PEER_EVENTS.flatMap((e) => (e.type === 'proposal' ? [e.block] : []));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const rng = new Prng(seed);
        const fresh = newReplica(0);
        fresh.step({ type: 'start' });
        const before = observable(fresh);
        const blocks = proposals.slice(0, rng.int(2, Math.min(8, proposals.length)));
        const k = rng.int(0, blocks.length - 1);
        const b = blocks[k]!;
        const bad = rng.chance(0.5) ? { ...b, payload: [...b.payload, new Uint8Array([9])] } : { ...b, parentQc: { ...b.parentQc, certificate: flip(b.parentQc.certificate, seed) } };
        const tampered = blocks.map((x, i) => (i === k ? bad : x));
        const actions = fresh.step({ type: 'sync-response', from: 1, blocks: tampered, highQc: blocks[blocks.length - 1]!.parentQc });
        if (b.parentQc.vote.round === 0 && bad.payload === b.payload) return; // genesis QC carries no signature to corrupt
        assert.ok(actions.some((a) => a.type === 'reject'));
        assert.equal(observable(fresh), before);
      }),
      { numRuns: 60 },
    );
  });
});
