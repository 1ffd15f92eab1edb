import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncodingError } from '../../crypto/errors.js';
import { MAX_COMMAND_BYTES } from '../../protocol/command.js';
import {
  type ClientRequest,
  decodeRequest,
  encodeRequest,
  MAX_REQUEST_BYTES,
  MIN_REQUEST_BYTES,
  readRequest,
  RequestDecodeError,
  requestParts,
  requestHeader,
  requestId,
} from '../../protocol/request.js';
import { validateRequest, type StatelessOptions, decodeVerdicts, encodeVerdicts, packRequests, unpackRequests, validatePacked } from '../../validation/stateless.js';
import { IGNORE_REASONS, REJECT_REASONS, type Verdict, verdictCode, verdictFromCode, verdictLabel } from '../../validation/verdict.js';
import { CHAIN, client, request } from '../validation/fixtures.js';

const requestArb: fc.Arbitrary<ClientRequest> = fc.record({
  chainId: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
  clientKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  sequence: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  expiry: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  command: fc.uint8Array({ maxLength: 300 }),
  signature: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

const opts = { chainId: CHAIN, height: 10 };
const label = (bytes: Uint8Array, o: StatelessOptions = opts) => verdictLabel(validateRequest(bytes, o));

/** Valid requests, random bytes, requests with a byte changed or cut short, and an oversized input. */
function onRequestInputs(agrees: (bytes: Uint8Array) => void): void {
  fc.assert(fc.property(requestArb, (r) => agrees(encodeRequest(r))));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), agrees));
  fc.assert(
    fc.property(requestArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 }), (r, pos, val, cut) => {
      const bytes = encodeRequest(r);
      bytes[pos % bytes.length] = val;
      agrees(cut >= 0 ? bytes : bytes.subarray(0, bytes.length + cut));
    }),
  );
  agrees(new Uint8Array(MAX_REQUEST_BYTES + 1));
}

describe('protocol/request codec', () => {
  it('round-trips every request, and the id is sha256 of the bytes', () => {
    fc.assert(
      fc.property(requestArb, (r) => {
        const bytes = encodeRequest(r);
        const d = decodeRequest(bytes);
        assert.deepEqual(
          { ...d, clientKey: [...d.clientKey], command: [...d.command], signature: [...d.signature] },
          { ...r, clientKey: [...r.clientKey], command: [...r.command], signature: [...r.signature], bytes: d.bytes, id: d.id, bodyLength: bytes.length - 64 },
        );
        assert.deepEqual(d.bytes, bytes);
        assert.deepEqual(d.id, requestId(bytes));
        assert.deepEqual(encodeRequest(d), bytes);
      }),
    );
  });

  it('reads the header of any request in place, and nothing from bytes too short to hold one', () => {
    fc.assert(
      fc.property(requestArb, (r) => {
        const bytes = encodeRequest(r);
        const h = requestHeader(bytes);
        assert.ok(h);
        assert.deepEqual([[...h.clientKey], h.sequence, h.expiry], [[...r.clientKey], r.sequence, r.expiry]);
        assert.equal(h.clientKey.buffer, bytes.buffer, 'a view, not a copy');
        assert.equal(requestHeader(bytes.subarray(0, MIN_REQUEST_BYTES - 1)), undefined);
      }),
    );
    assert.equal(encodeRequest({ chainId: 'x', clientKey: new Uint8Array(32), sequence: 0n, expiry: 0n, command: new Uint8Array(0), signature: new Uint8Array(64) }).length, MIN_REQUEST_BYTES);
  });

  it('refuses garbage with RequestDecodeError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          decodeRequest(bytes);
        } catch (e) {
          assert.ok(e instanceof RequestDecodeError && e instanceof EncodingError, String(e));
        }
      }),
    );
    // Mutations of valid encodings reach deeper into the decoder than random bytes do.
    fc.assert(
      fc.property(requestArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 }), (r, pos, val, cut) => {
        const bytes = encodeRequest(r);
        bytes[pos % bytes.length] = val;
        const mutated = cut >= 0 ? bytes : bytes.subarray(0, bytes.length + cut);
        try {
          decodeRequest(mutated);
        } catch (e) {
          assert.ok(e instanceof RequestDecodeError, String(e));
        }
      }),
    );
  });

  it('reads a request in place exactly where it decodes: the same fields, as views, and nothing for what decoding refuses', () => {
    const agrees = (bytes: Uint8Array) => {
      let decoded: ReturnType<typeof decodeRequest> | undefined;
      try {
        decoded = decodeRequest(bytes);
      } catch (e) {
        assert.ok(e instanceof RequestDecodeError, String(e));
      }
      const view = readRequest(bytes);
      if (decoded === undefined) {
        assert.equal(view, undefined);
        return;
      }
      assert.ok(view, 'a request that decodes reads');
      assert.deepEqual([[...view.clientKey], view.sequence, view.expiry, [...view.command]], [[...decoded.clientKey], decoded.sequence, decoded.expiry, [...decoded.command]]);
      assert.equal(view.command.buffer, bytes.buffer, 'a view, not a copy');
    };
    onRequestInputs(agrees);
    assert.equal(readRequest('not bytes' as unknown as Uint8Array), undefined);
  });

  it('gives the parts of a request in place exactly where it decodes, with the same failure where it does not', () => {
    const agrees = (bytes: Uint8Array) => {
      const outcome = (f: () => unknown) => {
        try {
          return { value: f() };
        } catch (e) {
          assert.ok(e instanceof RequestDecodeError, String(e));
          return { failure: e.failure };
        }
      };
      const decoded = outcome(() => decodeRequest(bytes));
      const parts = outcome(() => requestParts(bytes));
      if ('failure' in decoded) {
        assert.deepEqual(parts, decoded);
        return;
      }
      const d = decoded.value as ReturnType<typeof decodeRequest>;
      const p = parts.value as ReturnType<typeof requestParts>;
      assert.deepEqual(
        [[...p.clientKey], p.expiry, [...p.command], [...p.body], [...p.signature]],
        [[...d.clientKey], d.expiry, [...d.command], [...d.bytes.subarray(0, d.bodyLength)], [...d.signature]],
      );
      assert.equal(p.isForChain(d.chainId), true);
      assert.equal(p.isForChain(`${d.chainId}x`), false);
      // Every position matters, not only the length or the first character.
      for (let i = 0; i < d.chainId.length; i++) {
        const other = d.chainId.charCodeAt(i) === 0x41 ? 'B' : 'A';
        assert.equal(p.isForChain(d.chainId.slice(0, i) + other + d.chainId.slice(i + 1)), false, `chain id changed at ${i}`);
      }
      for (const v of [p.clientKey, p.command, p.body, p.signature]) assert.equal(v.buffer, bytes.buffer, 'a view, not a copy');
    };
    onRequestInputs(agrees);
    agrees('not bytes' as unknown as Uint8Array);
    // A request in the middle of a larger buffer.
    fc.assert(
      fc.property(requestArb, fc.nat(16), (r, at) => {
        const wire = encodeRequest(r);
        const backing = new Uint8Array(wire.length + at + 7).fill(0x5a);
        backing.set(wire, at);
        agrees(backing.subarray(at, at + wire.length));
      }),
    );
  });

  it('decodes into its own copy, even from a Buffer (whose slice() is a view)', () => {
    const wire = Buffer.from(encodeRequest({ chainId: CHAIN, clientKey: new Uint8Array(32).fill(1), sequence: 1n, expiry: 9n, command: Uint8Array.of(1, 2, 3), signature: new Uint8Array(64) }));
    const d = decodeRequest(wire);
    assert.notEqual(d.bytes.buffer, wire.buffer);
    assert.ok(!Buffer.isBuffer(d.bytes), 'a plain Uint8Array');
    wire.fill(0);
    assert.deepEqual([...d.command], [1, 2, 3]);
  });

  it('enforces the size limits before parsing', () => {
    assert.throws(() => decodeRequest(new Uint8Array(MAX_REQUEST_BYTES + 1)), (e: unknown) => e instanceof RequestDecodeError && e.failure === 'oversized');
    const max = request({ command: new Uint8Array(MAX_COMMAND_BYTES) });
    assert.ok(max.length <= MAX_REQUEST_BYTES);
    assert.equal(decodeRequest(max).command.length, MAX_COMMAND_BYTES);
  });
});

describe('validation/stateless verdicts', () => {
  it('accepts a well-formed signed request', () => {
    const bytes = request();
    const v = validateRequest(bytes, opts);
    assert.equal(v.kind, 'accept');
    assert.deepEqual(v.kind === 'accept' && v.id, requestId(bytes));
    assert.equal(label(bytes, { ...opts, ed25519: 'node' }), 'accept');
  });

  it('produces every stateless reject and ignore reason from a crafted request', () => {
    const good = request();
    const badSig = good.slice();
    badSig[badSig.length - 1]! ^= 1;
    const tamperedBody = good.slice();
    tamperedBody[good.length - 70]! ^= 1; // inside the command, covered by the signature
    // A command-length field beyond MAX_COMMAND_BYTES inside a request under the overall cap.
    const overCmd = good.slice();
    const cmdLenAt = 2 + CHAIN.length + 32 + 16;
    new DataView(overCmd.buffer).setUint16(cmdLenAt, MAX_COMMAND_BYTES + 1);
    const me = client(0).publicKey;
    const cases: [string, Uint8Array][] = [
      ['reject:malformed', Uint8Array.of(1, 2, 3)],
      ['reject:malformed', new Uint8Array(0)],
      ['reject:oversized', new Uint8Array(MAX_REQUEST_BYTES + 1)],
      ['reject:oversized', overCmd],
      ['reject:bad-signature', badSig],
      ['reject:bad-signature', tamperedBody],
      ['reject:wrong-chain', request({ chainId: 'other-chain' })],
      ['reject:wrong-chain', request({ chainId: 'vsmr-tesX' })],
      ['reject:bad-command', request({ command: Uint8Array.of(0x7f) })],
      ['reject:unauthorized-transfer', request({ command: { type: 'transfer', from: client(1).publicKey, to: me, amount: 5n } })],
      ['accept', request({ command: { type: 'transfer', from: me, to: client(1).publicKey, amount: 5n } })],
      ['ignore:expired', request({ expiry: 9n })],
      ['accept', request({ expiry: 10n })],
    ];
    for (const [want, bytes] of cases) assert.equal(label(bytes), want, want);
    // A signature made for another chain does not verify here even with the chain id rewritten.
    const other = request({ chainId: 'vsmr-tesT' });
    other.set(new TextEncoder().encode(CHAIN), 2);
    assert.equal(label(other), 'reject:bad-signature');
  });

  it('validates a packed batch in input order, ids only for accepts', () => {
    const batch = [request(), Uint8Array.of(9), request({ chainId: 'x' }), request({ sequence: 1n })];
    const packed = packRequests(batch);
    assert.deepEqual(unpackRequests(packed), batch);
    const verdicts = decodeVerdicts(validatePacked(packed, opts), batch.length);
    assert.deepEqual(verdicts.map(verdictLabel), ['accept', 'reject:malformed', 'reject:wrong-chain', 'accept']);
    assert.deepEqual(verdicts[3]!.kind === 'accept' && verdicts[3]!.id, requestId(batch[3]!));
  });

  it('has stable, distinct verdict codes that round-trip', () => {
    const all: Verdict[] = [
      { kind: 'accept', id: new Uint8Array(32).fill(3) },
      ...REJECT_REASONS.map((reason) => ({ kind: 'reject', reason }) as const),
      ...IGNORE_REASONS.map((reason) => ({ kind: 'ignore', reason }) as const),
    ];
    const codes = all.map(verdictCode);
    assert.equal(new Set(codes).size, codes.length);
    assert.deepEqual(decodeVerdicts(encodeVerdicts(all), all.length).map(verdictLabel), all.map(verdictLabel));
    assert.equal(verdictFromCode(1, new Uint8Array(32)).kind, 'reject');
    assert.throws(() => verdictFromCode(200, new Uint8Array(32)), RangeError);
  });
});
