import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_BATCH_REQUESTS } from '../../protocol/request-batch.js';
import { Result, resultName } from '../../protocol/result.js';
import { decodeSessionReplies, decodeSessionRequests, encodeSessionReplies, encodeSessionRequests, SubmitSessionDecodeError } from '../../protocol/submit-session.js';
import type { SubmitReply } from '../../protocol/submit-reply.js';

const replyArb: fc.Arbitrary<SubmitReply> = fc.oneof(
  fc
    .record({ height: fc.nat({ max: Number.MAX_SAFE_INTEGER }), position: fc.nat({ max: Number.MAX_SAFE_INTEGER }), result: fc.constantFrom(...Object.values(Result)) })
    .map((r): SubmitReply => ({ status: 'committed', ...r, resultName: resultName(r.result) })),
  fc.record({ status: fc.constantFrom('rejected' as const, 'ignored' as const), reason: fc.stringMatching(/^[\x20-\x7e]{1,20}$/) }).map((r): SubmitReply => ({ ...r })),
  fc.constant<SubmitReply>({ status: 'timeout' }),
);

/** Replies at distinct positions of a batch, in increasing order. */
const groupArb = fc
  .uniqueArray(fc.tuple(fc.nat({ max: MAX_BATCH_REQUESTS - 1 }), replyArb), { selector: ([i]) => i, minLength: 0, maxLength: 30 })
  .map((entries) => entries.sort((x, y) => x[0] - y[0]));

describe('protocol/submit-session codec', () => {
  it('round-trips every tagged group of replies, refusals (no replies) included, canonically', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), groupArb, (tag, entries) => {
        const r = { tag, indices: entries.map(([i]) => i), replies: entries.map(([, reply]) => reply) };
        const bytes = encodeSessionReplies(r);
        const back = decodeSessionReplies(bytes);
        assert.deepEqual(back, r);
        assert.deepEqual(encodeSessionReplies(back), bytes);
      }),
    );
  });

  it('carries a client frame\'s tag and batch bytes through unchanged', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), fc.uint8Array({ maxLength: 200 }), (tag, batch) => {
        const back = decodeSessionRequests(encodeSessionRequests(tag, batch));
        assert.equal(back.tag, tag);
        assert.deepEqual([...back.batch], [...batch]);
      }),
    );
    assert.throws(() => decodeSessionRequests(Uint8Array.of(1, 2, 3)), SubmitSessionDecodeError);
    assert.throws(() => encodeSessionRequests(2 ** 32, new Uint8Array(1)), RangeError);
    assert.throws(() => encodeSessionRequests(-1, new Uint8Array(1)), RangeError);
  });

  it('refuses garbage and mutated frames with SubmitSessionDecodeError only, and never a second spelling', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          assert.deepEqual(encodeSessionReplies(decodeSessionReplies(bytes)), bytes);
        } catch (e) {
          assert.ok(e instanceof SubmitSessionDecodeError, String(e));
        }
      }),
    );
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), groupArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 }), (tag, entries, pos, val, cut) => {
        const bytes = encodeSessionReplies({ tag, indices: entries.map(([i]) => i), replies: entries.map(([, r]) => r) });
        bytes[pos % bytes.length] = val;
        const mutated = cut >= 0 ? Uint8Array.of(...bytes, ...new Uint8Array(cut)) : bytes.subarray(0, Math.max(0, bytes.length + cut));
        try {
          assert.deepEqual(encodeSessionReplies(decodeSessionReplies(mutated)), mutated);
        } catch (e) {
          assert.ok(e instanceof SubmitSessionDecodeError, String(e));
        }
      }),
    );
  });

  it('refuses indices that repeat, go backwards or leave a batch, and counts that disagree with the replies', () => {
    const timeout: SubmitReply = { status: 'timeout' };
    assert.throws(() => encodeSessionReplies({ tag: 1, indices: [3, 3], replies: [timeout, timeout] }), RangeError);
    assert.throws(() => encodeSessionReplies({ tag: 1, indices: [4, 2], replies: [timeout, timeout] }), RangeError);
    assert.throws(() => encodeSessionReplies({ tag: 1, indices: [MAX_BATCH_REQUESTS], replies: [timeout] }), RangeError);
    assert.throws(() => encodeSessionReplies({ tag: 1, indices: [0, 1], replies: [timeout] }), RangeError);
    const good = encodeSessionReplies({ tag: 7, indices: [2, 5], replies: [timeout, timeout] });
    // Layout: u32 tag, u16 count, then the u16 indices (2 at bytes 6-7, 5 at bytes 8-9).
    const backwards = good.slice();
    backwards[7] = 9; // 9 then 5
    assert.throws(() => decodeSessionReplies(backwards), SubmitSessionDecodeError);
  });
});
