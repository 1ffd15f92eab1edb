import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncodingError } from '../../crypto/errors.js';
import { MAX_REQUEST_BYTES } from '../../protocol/request.js';
import {
  batchBytes,
  decodeRequestBatch,
  encodeRequestBatch,
  MAX_BATCH_BYTES,
  MAX_BATCH_REQUESTS,
  RequestBatchDecodeError,
  RequestBatchEncodeError,
} from '../../protocol/request-batch.js';
import { decodeSubmitReplies, encodeSubmitReplies, type SubmitReply, SubmitRepliesDecodeError } from '../../protocol/submit-reply.js';
import { Result, resultName } from '../../protocol/result.js';

const requestsArb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 40 });

const replyArb: fc.Arbitrary<SubmitReply> = fc.oneof(
  fc
    .record({
      height: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      position: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      result: fc.constantFrom(...Object.values(Result)),
    })
    .map((r): SubmitReply => ({ status: 'committed', ...r, resultName: resultName(r.result) })),
  fc.record({ status: fc.constantFrom('rejected' as const, 'ignored' as const), reason: fc.stringMatching(/^[\x20-\x7e]{1,40}$/) }).map((r): SubmitReply => ({ ...r })),
  fc.constant<SubmitReply>({ status: 'timeout' }),
);

describe('protocol/request-batch codec', () => {
  it('round-trips every list of requests, byte for byte, at the size batchBytes predicts', () => {
    fc.assert(
      fc.property(requestsArb, (requests) => {
        const bytes = encodeRequestBatch(requests);
        assert.equal(bytes.length, batchBytes(requests.reduce((a, r) => a + r.length, 0), requests.length));
        const back = decodeRequestBatch(bytes);
        assert.deepEqual(back.map((r) => [...r]), requests.map((r) => [...r]));
        // Canonical: re-encoding gives the same bytes.
        assert.deepEqual(encodeRequestBatch(back), bytes);
      }),
    );
  });

  it('decoded requests own their memory (a later change to the frame does not reach them)', () => {
    const bytes = encodeRequestBatch([Uint8Array.of(1, 2, 3)]);
    const [r] = decodeRequestBatch(bytes);
    bytes.fill(0);
    assert.deepEqual([...r!], [1, 2, 3]);
  });

  it('refuses garbage and mutations with RequestBatchDecodeError only, and never accepts a second spelling', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          const back = decodeRequestBatch(bytes);
          assert.deepEqual(encodeRequestBatch(back), bytes, 'decoded bytes must be the canonical encoding');
        } catch (e) {
          assert.ok(e instanceof RequestBatchDecodeError && e instanceof EncodingError, String(e));
        }
      }),
    );
    fc.assert(
      fc.property(requestsArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 }), (requests, pos, val, cut) => {
        const bytes = encodeRequestBatch(requests);
        bytes[pos % bytes.length] = val;
        const mutated = cut >= 0 ? Uint8Array.of(...bytes, ...new Uint8Array(cut)) : bytes.subarray(0, bytes.length + cut);
        try {
          const back = decodeRequestBatch(mutated);
          assert.deepEqual(encodeRequestBatch(back), mutated);
        } catch (e) {
          assert.ok(e instanceof RequestBatchDecodeError, String(e));
        }
      }),
    );
  });

  it('enforces its limits on both sides, with typed errors', () => {
    assert.throws(() => encodeRequestBatch([]), RequestBatchEncodeError);
    assert.throws(() => encodeRequestBatch([new Uint8Array(0)]), RequestBatchEncodeError);
    assert.throws(() => encodeRequestBatch([new Uint8Array(MAX_REQUEST_BYTES + 1)]), RequestBatchEncodeError);
    assert.throws(() => encodeRequestBatch(Array.from({ length: MAX_BATCH_REQUESTS + 1 }, () => Uint8Array.of(1))), RequestBatchEncodeError);
    const big = Array.from({ length: Math.ceil(MAX_BATCH_BYTES / MAX_REQUEST_BYTES) + 1 }, () => new Uint8Array(MAX_REQUEST_BYTES));
    assert.throws(() => encodeRequestBatch(big), RequestBatchEncodeError);
    assert.ok(encodeRequestBatch(Array.from({ length: MAX_BATCH_REQUESTS }, () => Uint8Array.of(7))).length > 0);

    const oversized = (e: unknown) => e instanceof RequestBatchDecodeError && e.failure === 'oversized';
    const tooLong = new Uint8Array(MAX_BATCH_BYTES + 1);
    assert.throws(() => decodeRequestBatch(tooLong), oversized);
    const tooMany = Uint8Array.of(1, (MAX_BATCH_REQUESTS + 1) >> 8, (MAX_BATCH_REQUESTS + 1) & 0xff);
    assert.throws(() => decodeRequestBatch(tooMany), oversized);
    const longEntry = Uint8Array.of(1, 0, 1, (MAX_REQUEST_BYTES + 1) >> 8, (MAX_REQUEST_BYTES + 1) & 0xff, 9);
    assert.throws(() => decodeRequestBatch(longEntry), oversized);
    const malformed = (e: unknown) => e instanceof RequestBatchDecodeError && e.failure === 'malformed';
    assert.throws(() => decodeRequestBatch(Uint8Array.of(1, 0, 0)), malformed, 'empty batch');
    assert.throws(() => decodeRequestBatch(Uint8Array.of(2, 0, 1, 0, 1, 9)), malformed, 'unknown version');
    assert.throws(() => decodeRequestBatch(Uint8Array.of(1, 0, 1, 0, 0)), malformed, 'empty request');
    assert.throws(() => decodeRequestBatch(Uint8Array.of(1, 0, 1, 0, 1, 9, 9)), malformed, 'trailing byte');
    assert.throws(() => decodeRequestBatch(Uint8Array.of(1, 0, 2, 0, 1, 9)), malformed, 'truncated');
  });
});

describe('protocol/submit-reply batch codec', () => {
  it('round-trips every list of replies, and refuses garbage with SubmitRepliesDecodeError only', () => {
    fc.assert(
      fc.property(fc.array(replyArb, { maxLength: 50 }), (replies) => {
        assert.deepEqual(decodeSubmitReplies(encodeSubmitReplies(replies)), replies);
      }),
    );
    fc.assert(
      fc.property(fc.array(replyArb, { minLength: 1, maxLength: 10 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -2, max: 2 }), (replies, pos, val, cut) => {
        const bytes = encodeSubmitReplies(replies);
        bytes[pos % bytes.length] = val;
        const mutated = cut >= 0 ? Uint8Array.of(...bytes, ...new Uint8Array(cut)) : bytes.subarray(0, bytes.length + cut);
        try {
          assert.deepEqual(encodeSubmitReplies(decodeSubmitReplies(mutated)), mutated);
        } catch (e) {
          assert.ok(e instanceof SubmitRepliesDecodeError, String(e));
        }
      }),
    );
  });

  it('keeps a result code this build does not know, as the log does, instead of refusing the frame', () => {
    const known = new Set<number>(Object.values(Result));
    const unknown = Array.from({ length: 256 }, (_, i) => i).filter((c) => !known.has(c));
    assert.ok(unknown.length > 0);
    for (const code of unknown) {
      // u8 version 1, u16 count 1, committed: u64 height 5, u64 position 9, u8 code.
      const frame = Uint8Array.of(1, 0, 1, 0, ...[0, 0, 0, 0, 0, 0, 0, 5], ...[0, 0, 0, 0, 0, 0, 0, 9], code);
      assert.deepEqual(decodeSubmitReplies(frame), [{ status: 'committed', height: 5, position: 9, result: code, resultName: `UNKNOWN(${code})` }]);
      assert.deepEqual(encodeSubmitReplies(decodeSubmitReplies(frame)), frame);
    }
  });
});
