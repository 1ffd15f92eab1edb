import assert from 'node:assert/strict';
import { requestAnatomy, roundAnatomy } from '../../bench/e2e/anatomy.js';

/** A validator's /metrics text with the series the anatomy reads. */
function metrics(v: { rounds: number; formation: number; proposal: number; vote: number; qc: number; flush: number; flushes: number }): string {
  const l = 'chain_id="c",validator="0"';
  return [
    `vsmr_qc_formation_seconds_sum{${l}} ${v.formation}`,
    `vsmr_qc_formation_seconds_count{${l}} ${v.rounds}`,
    `vsmr_message_handling_seconds_sum{${l},type="proposal"} ${v.proposal}`,
    `vsmr_message_handling_seconds_sum{${l},type="vote"} ${v.vote}`,
    `vsmr_message_handling_seconds_sum{${l},type="timeout"} 99`,
    `vsmr_bls_verify_seconds_sum{${l},kind="qc"} ${v.qc}`,
    `vsmr_bls_verify_seconds_sum{${l},kind="tc"} 77`,
    `vsmr_durable_flush_seconds_sum{${l}} ${v.flush}`,
    `vsmr_durable_flush_seconds_count{${l}} ${v.flushes}`,
  ].join('\n');
}

describe('bench round anatomy', () => {
  const zero = { rounds: 0, formation: 0, proposal: 0, vote: 0, qc: 0, flush: 0, flushes: 0 };

  it('divides what the window added by the rounds certified in it, over the validators read twice', () => {
    const open = [metrics({ ...zero, rounds: 10, formation: 1 }), metrics(zero), undefined];
    const close = [
      metrics({ rounds: 110, formation: 3, proposal: 0.8, vote: 0.4, qc: 0.2, flush: 0.1, flushes: 200 }),
      metrics({ rounds: 100, formation: 2, proposal: 0.8, vote: 0.4, qc: 0.2, flush: 0.1, flushes: 200 }),
      metrics({ rounds: 5000, formation: 9, proposal: 9, vote: 9, qc: 9, flush: 9, flushes: 9 }),
    ];
    // Two validators, 200 rounds between them: 4 s of QC formation, 1.6 s of proposals, ...
    assert.deepEqual(roundAnatomy(open, close), {
      validators: 2,
      rounds: 100,
      qcFormationMs: 20,
      proposalMsPerRound: 8,
      voteMsPerRound: 4,
      qcVerifyMsPerRound: 2,
      flushMsPerRound: 1,
      flushesPerRound: 2,
    });
  });

  it('is null without rounds or without a validator read at both edges, and skips a validator whose counters went back', () => {
    assert.equal(roundAnatomy([metrics(zero)], [metrics(zero)]), null);
    assert.equal(roundAnatomy([undefined], [metrics({ ...zero, rounds: 5 })]), null);
    assert.equal(roundAnatomy([''], [metrics({ ...zero, rounds: 5 })]), null, 'an empty reply is not a validator with no rounds');
    // A restarted validator's counters start again from zero: not a negative round count.
    assert.equal(roundAnatomy([metrics({ ...zero, rounds: 50 })], [metrics({ ...zero, rounds: 10 })]), null);
  });
});

describe('bench request anatomy', () => {
  /** A validator's /metrics text with the request-stage series: [sum s, count] per stage. */
  const stages = (v: Partial<Record<'validate' | 'queued' | 'ordering' | 'execute' | 'server', [number, number]>>) =>
    Object.entries(v)
      .flatMap(([stage, [sum, count]]) => [`vsmr_request_stage_seconds_sum{chain_id="c",stage="${stage}"} ${sum}`, `vsmr_request_stage_seconds_count{chain_id="c",stage="${stage}"} ${count}`])
      .join('\n');

  it('means each stage over the receipts the window added, over the validators read twice', () => {
    const zero = stages({ validate: [0, 0], queued: [0, 0], ordering: [0, 0], execute: [0, 0] });
    const open = [stages({ validate: [1, 10], queued: [1, 8], ordering: [1, 8], execute: [1, 10] }), zero, undefined];
    const close = [
      // 100 receipts: validate 0.1 s in all, queued and ordering timed for 80 of them.
      stages({ validate: [1.1, 110], queued: [2.6, 88], ordering: [5, 88], execute: [1.3, 110] }),
      stages({ validate: [0.1, 100], queued: [1.6, 80], ordering: [4, 80], execute: [0.3, 100] }),
      stages({ validate: [99, 99], queued: [99, 99], ordering: [99, 99], execute: [99, 99] }),
    ];
    assert.deepEqual(requestAnatomy(open, close), { requests: 200, validateMs: 1, queuedMs: 20, orderingMs: 50, executeMs: 3, orderedRequests: 160 });
  });

  it('means the whole stay at the validator over the same receipts, where it was recorded', () => {
    const open = [stages({ validate: [0, 0], queued: [0, 0], ordering: [0, 0], execute: [0, 0], server: [0, 0] })];
    // 100 receipts, 8 s at the validator in all; only 50 had their proposal timed.
    const close = [stages({ validate: [0.1, 100], queued: [1, 50], ordering: [2, 50], execute: [0.3, 100], server: [8, 100] })];
    const a = requestAnatomy(open, close);
    assert.equal(a?.serverMs, 80);
    assert.equal(a?.orderedRequests, 50);
  });

  it('is null without receipts in the window', () => {
    const same = stages({ validate: [1, 10], queued: [1, 8], ordering: [1, 8], execute: [1, 10] });
    assert.equal(requestAnatomy([same], [same]), null);
    assert.equal(requestAnatomy([undefined], [same]), null);
  });
});
