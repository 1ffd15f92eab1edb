import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sha256 } from '../../../crypto/hash.js';
import {
  type ConsensusSigner,
  SafetyRules,
  type SafetyState,
  type SafetyStorage,
  SafetyViolation,
} from '../../../node/consensus/safety-rules.js';
import { type BlockInfo, type QuorumCert, type TimeoutCertInfo, voteDigest } from '../../../protocol/types.js';

const CHAIN = 'vsmr-test';

/** Fake: keeps the state in memory and counts writes; `failNext` simulates a failed fsync. */
class FakeSafetyStorage implements SafetyStorage {
  saved: SafetyState | null = null;
  writes = 0;
  failNext = false;
  load(): SafetyState | null {
    return this.saved;
  }
  store(state: SafetyState): void {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    this.saved = structuredClone(state);
    this.writes++;
  }
}

/** Fake signer: a hash of (index, digest). Real BLS signing is covered in crypto tests. */
const fakeSigner = (index = 0): ConsensusSigner => ({
  index,
  sign: (digest) => sha256(Uint8Array.of(index, ...digest)),
});

const id = (label: string) => sha256(new TextEncoder().encode(label));

function qc(round: number, opts: { height?: number; parentRound?: number; label?: string } = {}): QuorumCert {
  const parentRound = opts.parentRound ?? Math.max(0, round - 1);
  return {
    vote: {
      blockId: id(opts.label ?? `b${round}`),
      round,
      height: opts.height ?? round,
      parentId: id(`b${parentRound}`),
      parentRound,
    },
    certificate: new Uint8Array(0),
  };
}

function block(round: number, parent: QuorumCert, label = `b${round}`, height = parent.vote.height + 1): BlockInfo {
  return { id: id(label), round, height, parentQc: parent };
}

function violation(fn: () => unknown): SafetyViolation {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SafetyViolation, `expected SafetyViolation, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the safety rules to refuse');
}

type Step =
  | { vote: { round: number; qcRound: number; label?: string; tc?: TimeoutCertInfo; height?: number } }
  | { timeout: { round: number; qcRound: number; tc?: TimeoutCertInfo } };

interface Case {
  name: string;
  steps: Step[];
  /** Undefined: the last step succeeds; otherwise the rule it must violate. */
  expect?: SafetyViolation['rule'];
  values?: Record<string, number>;
}

const cases: Case[] = [
  { name: 'votes for the round right after its parent QC', steps: [{ vote: { round: 1, qcRound: 0 } }] },
  { name: 'votes in increasing rounds', steps: [{ vote: { round: 1, qcRound: 0 } }, { vote: { round: 2, qcRound: 1 } }] },
  {
    name: 'refuses a gap in rounds without a TC',
    steps: [{ vote: { round: 3, qcRound: 1 } }],
    expect: 'not-safe-to-vote',
    values: { round: 3, qcRound: 1, tcRound: -1 },
  },
  { name: 'votes after a TC whose highest QC it extends', steps: [{ vote: { round: 3, qcRound: 1, tc: { round: 2, highestQcRound: 1 } } }] },
  {
    name: 'refuses a TC-round proposal whose QC is below the TC`s highest QC',
    steps: [{ vote: { round: 3, qcRound: 1, tc: { round: 2, highestQcRound: 2 } } }],
    expect: 'not-safe-to-vote',
    values: { tcHighestQcRound: 2 },
  },
  {
    name: 'refuses a TC that is not for the previous round',
    steps: [{ vote: { round: 4, qcRound: 1, tc: { round: 2, highestQcRound: 1 } } }],
    expect: 'not-safe-to-vote',
  },
  {
    name: 'refuses a second, different block in a round it voted in (equivocation)',
    steps: [{ vote: { round: 2, qcRound: 1 } }, { vote: { round: 2, qcRound: 1, label: 'other' } }],
    expect: 'equivocation',
    values: { round: 2 },
  },
  {
    name: 'refuses to vote at or below its last voted round',
    steps: [{ vote: { round: 3, qcRound: 2 } }, { vote: { round: 2, qcRound: 1 } }],
    expect: 'round-not-increasing',
    values: { round: 2, lastVotedRound: 3 },
  },
  {
    name: 'refuses a proposal whose QC is not below its round',
    steps: [{ vote: { round: 2, qcRound: 2 } }],
    expect: 'malformed-proposal',
  },
  {
    name: 'refuses a height that does not follow the parent',
    steps: [{ vote: { round: 2, qcRound: 1, height: 5 } }],
    expect: 'malformed-proposal',
  },
  { name: 'times out in the round after its highest QC', steps: [{ timeout: { round: 2, qcRound: 1 } }] },
  { name: 'times out after a TC', steps: [{ timeout: { round: 4, qcRound: 1, tc: { round: 3, highestQcRound: 1 } } }] },
  {
    name: 'refuses to vote in a round it timed out in',
    steps: [{ timeout: { round: 2, qcRound: 1 } }, { vote: { round: 2, qcRound: 1 } }],
    expect: 'round-not-increasing',
    values: { round: 2, lastVotedRound: 2 },
  },
  { name: 'may time out in the round it voted in', steps: [{ vote: { round: 2, qcRound: 1 } }, { timeout: { round: 2, qcRound: 1 } }] },
  {
    name: 'refuses a timeout whose QC is below one it voted on top of',
    steps: [{ vote: { round: 4, qcRound: 3 } }, { timeout: { round: 3, qcRound: 2 } }],
    expect: 'not-safe-to-timeout',
    values: { round: 3, qcRound: 2, oneChainRound: 3 },
  },
  {
    name: 'refuses a timeout for a round that is not next after its QC or TC',
    steps: [{ timeout: { round: 5, qcRound: 1 } }],
    expect: 'not-safe-to-timeout',
  },
  {
    name: 'refuses a timeout below its last voted round',
    steps: [{ vote: { round: 5, qcRound: 4 } }, { timeout: { round: 4, qcRound: 4, tc: { round: 3, highestQcRound: 1 } } }],
    expect: 'stale-timeout',
    values: { round: 4, lastVotedRound: 5 },
  },
];

function runStep(rules: SafetyRules, step: Step): unknown {
  if ('vote' in step) {
    const v = step.vote;
    return rules.voteFor(block(v.round, qc(v.qcRound), v.label, v.height), v.tc);
  }
  return rules.signTimeout(step.timeout.round, qc(step.timeout.qcRound), step.timeout.tc);
}

describe('safety rules (table)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const storage = new FakeSafetyStorage();
      const rules = new SafetyRules(CHAIN, fakeSigner(), storage);
      const steps = [...c.steps];
      const last = steps.pop()!;
      for (const s of steps) runStep(rules, s);
      if (c.expect === undefined) {
        const writes = storage.writes;
        runStep(rules, last);
        assert.equal(storage.writes, writes + 1, 'state stored before the signature is returned');
        assert.deepEqual(storage.saved, structuredClone(rules.state));
        return;
      }
      const before = structuredClone(rules.state);
      const err = violation(() => runStep(rules, last));
      assert.equal(err.rule, c.expect);
      for (const [k, v] of Object.entries(c.values ?? {})) assert.equal(err.values[k], v, `value ${k}`);
      assert.deepEqual(structuredClone(rules.state), before, 'a refusal changes nothing');
    });
  }
});

describe('safety rules (behaviour)', () => {
  it('returns the identical signed vote when asked again for the same block, without writing', () => {
    const storage = new FakeSafetyStorage();
    const rules = new SafetyRules(CHAIN, fakeSigner(3), storage);
    const b = block(2, qc(1));
    const first = rules.voteFor(b);
    const writes = storage.writes;
    assert.equal(rules.voteFor(b), first);
    assert.equal(storage.writes, writes);
    assert.equal(first.signer, 3);
    assert.deepEqual(first.signature, fakeSigner(3).sign(voteDigest(CHAIN, first.vote)));
  });

  it('keeps its promises across a crash and restart', () => {
    const storage = new FakeSafetyStorage();
    const before = new SafetyRules(CHAIN, fakeSigner(), storage);
    const vote = before.voteFor(block(5, qc(4)));
    const after = new SafetyRules(CHAIN, fakeSigner(), storage);
    assert.equal(after.state.lastVotedRound, 5);
    assert.deepEqual(after.voteFor(block(5, qc(4))), vote);
    assert.equal(violation(() => after.voteFor(block(5, qc(4), 'fork'))).rule, 'equivocation');
    assert.equal(violation(() => after.voteFor(block(4, qc(3)))).rule, 'round-not-increasing');
  });

  it('records each proposal round durably, refuses one at or below it, also after a restart', () => {
    const storage = new FakeSafetyStorage();
    const rules = new SafetyRules(CHAIN, fakeSigner(), storage);
    rules.recordProposal(3);
    assert.equal(storage.saved?.lastProposedRound, 3);
    const after = new SafetyRules(CHAIN, fakeSigner(), storage);
    for (const round of [3, 2]) assert.equal(violation(() => after.recordProposal(round)).rule, 'proposal-not-increasing');
    after.recordProposal(4);
    assert.equal(after.state.lastProposedRound, 4);
    storage.failNext = true;
    assert.throws(() => after.recordProposal(5), /disk full/);
    assert.equal(after.state.lastProposedRound, 4);
  });

  it('releases no signature when the state cannot be stored', () => {
    const storage = new FakeSafetyStorage();
    const rules = new SafetyRules(CHAIN, fakeSigner(), storage);
    storage.failNext = true;
    assert.throws(() => rules.voteFor(block(1, qc(0))), /disk full/);
    assert.equal(rules.state.lastVotedRound, 0);
    storage.failNext = true;
    assert.throws(() => rules.signTimeout(1, qc(0)), /disk full/);
    assert.equal(rules.state.lastVotedRound, 0);
  });

  it('never signs two different votes for one round, nor signs at or below a round it signed in (random requests and restarts)', () => {
    const request = fc.oneof(
      fc.record({
        kind: fc.constant('vote' as const),
        round: fc.integer({ min: 1, max: 12 }),
        gap: fc.integer({ min: 1, max: 3 }),
        fork: fc.boolean(),
        tc: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('timeout' as const), round: fc.integer({ min: 1, max: 12 }), gap: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('restart' as const) }),
    );
    fc.assert(
      fc.property(fc.array(request, { maxLength: 40 }), (requests) => {
        const storage = new FakeSafetyStorage();
        let rules = new SafetyRules(CHAIN, fakeSigner(), storage);
        const votes = new Map<number, string>();
        let highestSigned = 0;
        for (const r of requests) {
          if (r.kind === 'restart') {
            rules = new SafetyRules(CHAIN, fakeSigner(), storage);
            continue;
          }
          const qcRound = Math.max(0, r.round - r.gap);
          try {
            if (r.kind === 'vote') {
              const tc = r.tc === undefined ? undefined : { round: r.round - 1, highestQcRound: Math.max(0, qcRound - r.tc) };
              const v = rules.voteFor(block(r.round, qc(qcRound), r.fork ? `fork${r.round}` : `b${r.round}`), tc);
              const key = Buffer.from(v.vote.blockId).toString('hex');
              const prior = votes.get(r.round);
              if (prior === undefined) {
                assert.ok(r.round > highestSigned, `voted in ${r.round} after signing in ${highestSigned}`);
                votes.set(r.round, key);
              } else assert.equal(prior, key, `two different votes in round ${r.round}`);
              highestSigned = Math.max(highestSigned, r.round);
            } else {
              rules.signTimeout(r.round, qc(qcRound));
              assert.ok(r.round >= highestSigned || votes.has(r.round), 'timeout below a signed round');
              highestSigned = Math.max(highestSigned, r.round);
            }
          } catch (err) {
            if (!(err instanceof SafetyViolation)) throw err;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
