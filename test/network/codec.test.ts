import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncodingError } from '../../crypto/errors.js';
import type { Block, QuorumCert, TimeoutCert, VoteData } from '../../protocol/types.js';
import { MAX_SYNC_BLOCKS as REPLICA_MAX_SYNC_BLOCKS } from '../../node/consensus/replica.js';
import {
  decodeEnvelope,
  decodeMessage,
  encodeEnvelope,
  encodeMessage,
  MAX_PAYLOAD_COMMANDS,
  MAX_SNAPSHOT_CHUNK_BYTES,
  MAX_SNAPSHOT_PROOF_BLOCKS,
  MAX_SYNC_ASK_BYTES,
  MAX_SYNC_BLOCKS,
  MAX_SYNC_RESPONSE_BYTES,
  MIN_ENTRY_CHARGE,
  WireDecodeError,
  WireEncodeError,
  type WireMessage,
} from '../../network/codec.js';

const id = fc.uint8Array({ minLength: 32, maxLength: 32 });
const u64 = fc.maxSafeNat();
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const sig = fc.uint8Array({ maxLength: 96 });

const voteData: fc.Arbitrary<VoteData> = fc.record({ blockId: id, round: u64, height: u64, parentId: id, parentRound: u64 });
const qc: fc.Arbitrary<QuorumCert> = fc.record({ vote: voteData, certificate: fc.uint8Array({ maxLength: 200 }) });
const tc: fc.Arbitrary<TimeoutCert> = fc.record({
  round: u64,
  signers: fc.uint8Array({ maxLength: 8 }),
  highQcRounds: fc.array(u64, { maxLength: 6 }),
  highestQc: qc,
  certificate: fc.uint8Array({ maxLength: 200 }),
});
const block: fc.Arbitrary<Block> = fc.record({
  id,
  round: u64,
  height: u64,
  parentQc: qc,
  author: u32,
  payload: fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }),
  executed: fc.record({ height: u64, blockId: id, stateRoot: id, logRoot: id }),
});

const message: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.tuple(block, fc.option(tc, { nil: undefined })).map(([b, t]): WireMessage =>
    t === undefined ? { type: 'proposal', block: b } : { type: 'proposal', block: b, tc: t },
  ),
  fc.record({ vote: voteData, signer: u32, signature: sig }).map((vote): WireMessage => ({ type: 'vote', vote })),
  fc
    .tuple(fc.record({ round: u64, highQcRound: u64, signer: u32, signature: sig }), qc, fc.option(tc, { nil: undefined }))
    .map(([timeout, highQc, t]): WireMessage =>
      t === undefined ? { type: 'timeout', timeout, highQc } : { type: 'timeout', timeout, highQc, tc: t },
    ),
  u64.map((fromHeight): WireMessage => ({ type: 'sync-request', fromHeight })),
  fc.tuple(fc.array(block, { maxLength: 3 }), qc).map(([blocks, highQc]): WireMessage => ({ type: 'sync-response', blocks, highQc })),
  u64.map((lowestHeight): WireMessage => ({ type: 'sync-pruned', lowestHeight })),
  fc.tuple(u64, u64).map(([height, offset]): WireMessage => ({ type: 'snapshot-request', height, offset })),
  fc
    .tuple(u64, u64, u64, fc.uint8Array({ maxLength: 64 }), fc.option(fc.tuple(fc.array(block, { maxLength: 2 }), qc), { nil: undefined }))
    .map(([height, total, offset, data, p]): WireMessage =>
      p === undefined
        ? { type: 'snapshot-chunk', height, total, offset, data }
        : { type: 'snapshot-chunk', height, total, offset, data, proof: { blocks: p[0], qc: p[1] } },
    ),
  fc.constant<WireMessage>({ type: 'snapshot-none' }),
  fc
    .tuple(block, fc.array(fc.oneof(id.map((i) => ({ id: i })), fc.uint8Array({ maxLength: 64 }).map((b) => ({ bytes: b }))), { maxLength: 5 }), fc.option(tc, { nil: undefined }))
    .map(([b, payload, t]): WireMessage => {
      const compact = { ...b, payload };
      return t === undefined ? { type: 'compact-proposal', block: compact } : { type: 'compact-proposal', block: compact, tc: t };
    }),
  fc.tuple(id, fc.array(id, { maxLength: 5 })).map(([blockId, ids]): WireMessage => ({ type: 'request-fetch', blockId, ids })),
  fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }).map((requests): WireMessage => ({ type: 'request-fetch-reply', requests })),
);

/** Decoding peer bytes either succeeds canonically or throws WireDecodeError, nothing else. */
function decodeOnlyTyped(bytes: Uint8Array): void {
  let decoded: WireMessage;
  try {
    decoded = decodeMessage(bytes);
  } catch (err) {
    assert.ok(err instanceof WireDecodeError, `unexpected ${String(err)}`);
    assert.ok(err instanceof EncodingError);
    return;
  }
  assert.deepEqual(encodeMessage(decoded), bytes);
}

describe('network/codec', () => {
  it('keeps MAX_SYNC_BLOCKS in step with the replica', () => {
    assert.equal(MAX_SYNC_BLOCKS, REPLICA_MAX_SYNC_BLOCKS);
  });

  it('fits every question of the sync protocol in MAX_SYNC_ASK_BYTES, the most its streams read', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        assert.ok(encodeMessage({ type: 'sync-request', fromHeight: a }).length <= MAX_SYNC_ASK_BYTES);
        assert.ok(encodeMessage({ type: 'snapshot-request', height: a, offset: b }).length <= MAX_SYNC_ASK_BYTES);
      }),
    );
  });

  it('round-trips random messages canonically', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeMessage(m);
        const back = decodeMessage(bytes);
        assert.deepStrictEqual(back, structuredClone(m)); // fc records have null prototypes
        assert.deepEqual(encodeMessage(back), bytes);
        assert.equal(decodeEnvelope(bytes).kind, m.type);
      }),
      { numRuns: 300 },
    );
  });

  it('envelope round-trips and re-wraps to the same bytes', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeMessage(m);
        assert.deepEqual(encodeEnvelope(decodeEnvelope(bytes)), bytes);
      }),
      { numRuns: 50 },
    );
  });

  it('random bytes only ever throw WireDecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), decodeOnlyTyped), { numRuns: 2000 });
    // A valid header followed by random bytes reaches the body decoders.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.uint8Array({ maxLength: 600 }), (kind, body) =>
        decodeOnlyTyped(Uint8Array.of(1, kind, ...body)),
      ),
      { numRuns: 2000 },
    );
  });

  it('single-byte mutations, truncations and extensions of valid encodings only ever throw WireDecodeError', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, xor) => {
        const bytes = encodeMessage(m);
        const mutated = bytes.slice();
        const i = at % bytes.length;
        mutated[i]! ^= xor;
        decodeOnlyTyped(mutated);
        decodeOnlyTyped(bytes.subarray(0, i));
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        assert.throws(() => decodeMessage(longer), WireDecodeError);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses hostile counts before allocating and values beyond the limits', () => {
    // A sync response whose block count claims 2^32-1 blocks.
    const m: WireMessage = {
      type: 'sync-response',
      blocks: [],
      highQc: { vote: { blockId: new Uint8Array(32), round: 0, height: 0, parentId: new Uint8Array(32), parentRound: 0 }, certificate: new Uint8Array(0) },
    };
    const bytes = encodeMessage(m);
    const hostile = bytes.slice();
    hostile.set([0xff, 0xff, 0xff, 0xff], 2);
    assert.throws(() => decodeMessage(hostile), /sync\.blocks: 4294967295 > 10000/);
    // Within the count limit but far more blocks than bytes remain: refused before the loop.
    new DataView(hostile.buffer).setUint32(2, MAX_SYNC_BLOCKS);
    assert.throws(() => decodeMessage(hostile), /truncated sync\.blocks/);
    const unsafe = encodeMessage({ type: 'sync-request', fromHeight: 1 });
    unsafe.fill(0xff, 2);
    assert.throws(() => decodeMessage(unsafe), /out of range/);
    assert.throws(() => decodeMessage(Uint8Array.of(2, 1)), /version/);
    assert.throws(() => decodeMessage(Uint8Array.of(1, 99)), /kind/);
    assert.throws(() => encodeMessage({ type: 'sync-request', fromHeight: -1 }), WireEncodeError);
    assert.throws(() => encodeMessage({ type: 'sync-request', fromHeight: 2 ** 53 }), WireEncodeError);
  });

  it('enforces the snapshot chunk and proof limits on both sides', () => {
    const chunk = (data: Uint8Array): WireMessage => ({ type: 'snapshot-chunk', height: 5, total: data.length, offset: 0, data });
    const full = encodeMessage(chunk(new Uint8Array(MAX_SNAPSHOT_CHUNK_BYTES)));
    assert.equal((decodeMessage(full) as { data: Uint8Array }).data.length, MAX_SNAPSHOT_CHUNK_BYTES);
    assert.throws(() => encodeMessage(chunk(new Uint8Array(MAX_SNAPSHOT_CHUNK_BYTES + 1))), WireEncodeError);
    // A forged length one past the chunk limit is refused before anything is sliced.
    const forged = full.slice();
    new DataView(forged.buffer).setUint32(2 + 24, MAX_SNAPSHOT_CHUNK_BYTES + 1);
    assert.throws(() => decodeMessage(forged), /snapshot\.data longer than/);
    const base = fc.sample(block, { numRuns: 1, seed: 2 })[0]!;
    const qc0 = base.parentQc;
    const tooMany: WireMessage = { type: 'snapshot-chunk', height: 1, total: 1, offset: 0, data: new Uint8Array(1), proof: { blocks: new Array<Block>(MAX_SNAPSHOT_PROOF_BLOCKS + 1).fill(base), qc: qc0 } };
    assert.throws(() => encodeMessage(tooMany), WireEncodeError);
  });

  it('enforces the payload and sync-block limits on both sides', () => {
    const base = fc.sample(block, { numRuns: 1, seed: 1 })[0]!;
    const big: Block = { ...base, payload: new Array<Uint8Array>(MAX_PAYLOAD_COMMANDS + 1).fill(new Uint8Array(0)) };
    assert.throws(() => encodeMessage({ type: 'proposal', block: big }), WireEncodeError);
    const ok = encodeMessage({ type: 'proposal', block: { ...base, payload: [] } });
    // Patch the payload count (after id, round, height, parentQc, author) to exceed the limit.
    const countAt = 2 + 32 + 8 + 8 + 88 + 4 + base.parentQc.certificate.length + 4;
    const view = new DataView(ok.buffer, ok.byteOffset);
    assert.equal(view.getUint32(countAt), 0);
    view.setUint32(countAt, MAX_PAYLOAD_COMMANDS + 1);
    assert.throws(() => decodeMessage(ok), /block\.payload/);
  });

  it('charges each payload entry of a sync answer or snapshot proof at least MIN_ENTRY_CHARGE bytes, so empty commands cannot multiply its objects', () => {
    const base = fc.sample(block, { numRuns: 1, seed: 3 })[0]!;
    const empties: Block = { ...base, payload: new Array<Uint8Array>(MAX_PAYLOAD_COMMANDS).fill(new Uint8Array(0)) };
    // As many blocks of empty commands as the charge lets through: on the wire each entry is 4
    // bytes, so even one block more is a few MB, far under the answer's own limit.
    const fits = Math.floor(MAX_SYNC_RESPONSE_BYTES / (MAX_PAYLOAD_COMMANDS * MIN_ENTRY_CHARGE));
    assert.ok(fits + 1 <= MAX_SNAPSHOT_PROOF_BLOCKS);
    const answer = (n: number) => encodeMessage({ type: 'sync-response', blocks: new Array<Block>(n).fill(empties), highQc: base.parentQc });
    const proofChunk = (n: number) =>
      encodeMessage({ type: 'snapshot-chunk', height: 1, total: 1, offset: 0, data: new Uint8Array(1), proof: { blocks: new Array<Block>(n).fill(empties), qc: base.parentQc } });
    for (const encode of [answer, proofChunk]) {
      const over = encode(fits + 1);
      assert.ok(over.length < MAX_SYNC_RESPONSE_BYTES / 4);
      assert.throws(() => decodeMessage(over), (e: unknown) => e instanceof WireDecodeError && /budget/.test(e.message));
      assert.ok(['sync-response', 'snapshot-chunk'].includes(decodeMessage(encode(fits)).type));
    }
  });
});
