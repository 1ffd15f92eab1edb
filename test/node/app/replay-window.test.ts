import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admitSequence, decodeReplayRecord, encodeReplayRecord, REPLAY_RECORD_BYTES, REPLAY_WINDOW, type ReplayRecord } from '../../../node/app/replay-window.js';

/** The rule in plain terms: every committed sequence remembered, the window only bounds how far back. */
class Model {
  readonly seen = new Set<bigint>();
  high: bigint | undefined;

  admit(seq: bigint): boolean {
    if (this.high !== undefined && seq <= this.high - BigInt(REPLAY_WINDOW)) return false;
    if (this.seen.has(seq)) return false;
    this.seen.add(seq);
    if (this.high === undefined || seq > this.high) this.high = seq;
    return true;
  }
}

describe('replay window', () => {
  it('admits a sequence exactly when the unbounded model does, inside the window (property)', () => {
    // Sequences cluster near each other (in-flight requests) with occasional jumps past the window.
    const step = fc.oneof(fc.integer({ min: -40, max: 40 }), fc.integer({ min: -3000, max: 3000 }));
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.array(step, { minLength: 1, maxLength: 300 }), (start, steps) => {
        const model = new Model();
        let record: ReplayRecord | undefined;
        let seq = start;
        for (const s of steps) {
          seq = seq + BigInt(s) < 0n ? 0n : seq + BigInt(s);
          const next = admitSequence(record, seq);
          assert.equal(next !== null, model.admit(seq), `sequence ${seq} after high ${record?.high}`);
          if (next !== null) {
            record = decodeReplayRecord(encodeReplayRecord(next)) ?? assert.fail('a record must round-trip');
            assert.equal(record.high, model.high);
          }
        }
      }),
    );
  });

  it('refuses the same sequence twice, and anything at or below high - window', () => {
    const first = admitSequence(undefined, 5000n)!;
    assert.equal(admitSequence(first, 5000n), null);
    assert.notEqual(admitSequence(first, 4999n), null, 'an unseen sequence inside the window');
    assert.notEqual(admitSequence(first, 5000n - BigInt(REPLAY_WINDOW) + 1n), null, 'the oldest the window still knows');
    assert.equal(admitSequence(first, 5000n - BigInt(REPLAY_WINDOW)), null, 'too old to tell: refused');
    const moved = admitSequence(first, 5000n + BigInt(REPLAY_WINDOW) * 3n)!;
    assert.equal(admitSequence(moved, 5000n), null, 'after a jump past the window, the old high is too old and refused');
  });

  it('decodes only records a run could store', () => {
    const ok = encodeReplayRecord(admitSequence(undefined, 7n)!);
    assert.equal(ok.length, REPLAY_RECORD_BYTES);
    assert.notEqual(decodeReplayRecord(ok), null);
    assert.equal(decodeReplayRecord(ok.subarray(1)), null, 'wrong length');
    const noHigh = ok.slice();
    noHigh[8] = 0;
    assert.equal(decodeReplayRecord(noHigh), null, 'the high sequence itself must be marked');
  });
});
