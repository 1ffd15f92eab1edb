import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeQueryRequest,
  decodeQueryResponse,
  encodeQueryRequest,
  encodeQueryResponse,
  MAX_QUERY_REQUEST_BYTES,
  QueryDecodeError,
  type QueryRequest,
} from '../../protocol/query.js';

const request: fc.Arbitrary<QueryRequest> = fc.oneof(
  fc.record({ kind: fc.constant('certificate' as const), height: fc.nat() }),
  fc.record({ kind: fc.constant('log' as const), position: fc.nat() }),
  fc.record({ kind: fc.constant('state' as const), key: fc.uint8Array({ minLength: 1, maxLength: 1024 }) }),
);

describe('query protocol codec', () => {
  it('requests round-trip; any truncation or trailing byte is a QueryDecodeError', () => {
    fc.assert(
      fc.property(request, (q) => {
        const bytes = encodeQueryRequest(q);
        assert.deepEqual(decodeQueryRequest(bytes), { ...q });
        assert.throws(() => decodeQueryRequest(bytes.subarray(0, bytes.length - 1)), QueryDecodeError);
        assert.throws(() => decodeQueryRequest(Uint8Array.of(...bytes, 0)), QueryDecodeError);
      }),
    );
  });

  it('refuses unknown versions, kinds, empty keys and oversize requests', () => {
    assert.throws(() => decodeQueryRequest(Uint8Array.of(2, 1, 0, 0, 0, 0, 0, 0, 0, 1)), QueryDecodeError);
    assert.throws(() => decodeQueryRequest(Uint8Array.of(1, 9, 0, 0, 0, 0, 0, 0, 0, 1)), QueryDecodeError);
    assert.throws(() => decodeQueryRequest(Uint8Array.of(1, 3, 0, 0)), QueryDecodeError);
    assert.throws(() => decodeQueryRequest(new Uint8Array(MAX_QUERY_REQUEST_BYTES + 1)), QueryDecodeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (junk) => {
        try {
          decodeQueryRequest(junk);
        } catch (err) {
          assert.ok(err instanceof QueryDecodeError);
        }
      }),
    );
  });

  it('responses round-trip and refuse unknown statuses and invalid UTF-8', () => {
    const ok = { status: 'ok' as const, bundleJson: '{"version":1}' };
    assert.deepEqual(decodeQueryResponse(encodeQueryResponse(ok)), ok);
    const busy = { status: 'busy' as const, reason: 'too many' };
    assert.deepEqual(decodeQueryResponse(encodeQueryResponse(busy)), busy);
    assert.throws(() => decodeQueryResponse(Uint8Array.of(1, 7)), QueryDecodeError);
    assert.throws(() => decodeQueryResponse(Uint8Array.of(1, 0, 0xff, 0xfe)), QueryDecodeError);
    assert.throws(() => decodeQueryResponse(Uint8Array.of(1)), QueryDecodeError);
  });
});
