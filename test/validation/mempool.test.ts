import assert from 'node:assert/strict';
import { Mempool, MempoolBusyError } from '../../validation/mempool.js';
import { decodeRequest } from '../../protocol/request.js';
import { MainThreadValidator } from '../../validation/stateless.js';
import { verdictLabel } from '../../validation/verdict.js';
import { CHAIN, client, request } from './fixtures.js';

const validator = new MainThreadValidator(CHAIN);
const mempool = (over: Partial<{ maxCount: number; maxBytes: number; sequenceWindow: number; height: number }> = {}) =>
  new Mempool({ maxCount: 100, maxBytes: 1 << 20, sequenceWindow: 8, validator, ...over });
const labels = async (m: Mempool, reqs: Uint8Array[]) => (await m.submit(reqs)).map(verdictLabel);

describe('validation/mempool', () => {
  it('produces every stateful ignore reason: duplicate, replayed, expired, conflict, too far', async () => {
    const m = mempool({ height: 5 });
    const r0 = request({ sequence: 0n });
    assert.deepEqual(await labels(m, [r0, r0]), ['accept', 'ignore:duplicate']);
    assert.deepEqual(await labels(m, [request({ sequence: 0n, command: Uint8Array.of(2, 0, 1, 9) })]), ['ignore:sequence-conflict']);
    assert.deepEqual(await labels(m, [request({ sequence: 8n })]), ['ignore:sequence-too-far']);
    assert.deepEqual(await labels(m, [request({ sequence: 1n, expiry: 4n })]), ['ignore:expired']);
    m.markCommitted([decodeRequest(r0).id]);
    assert.equal(m.size, 0);
    // The same bytes again after commit are a replay, not a fresh request.
    assert.deepEqual(await labels(m, [r0]), ['ignore:replayed']);
    // Stateless rejects pass through submit unchanged.
    assert.deepEqual(await labels(m, [Uint8Array.of(1), request({ chainId: 'nope' })]), ['reject:malformed', 'reject:wrong-chain']);
  });

  it('allows gaps inside the window and ages old sequences out of it', async () => {
    const m = mempool({ sequenceWindow: 4 });
    const r3 = request({ sequence: 3n });
    assert.deepEqual(await labels(m, [r3, request({ sequence: 1n })]), ['accept', 'accept']);
    m.markCommitted([decodeRequest(r3).id]);
    // seq 1 is still committable (3 - 4 < 1), seq 0 too; then commit 6: floor becomes 2.
    const r6 = request({ sequence: 6n });
    assert.deepEqual(await labels(m, [r6]), ['accept']);
    m.markCommitted([decodeRequest(r6).id]);
    assert.equal(m.size, 0, 'seq 1 fell below the window and was dropped');
    assert.deepEqual(await labels(m, [request({ sequence: 2n }), request({ sequence: 4n }), request({ sequence: 10n }), request({ sequence: 11n })]), [
      'ignore:replayed',
      'accept',
      'accept',
      'ignore:sequence-too-far',
    ]);
  });

  it('answers busy when full by count or bytes, and recovers after commits', async () => {
    const m = mempool({ maxCount: 3 });
    const reqs = [0n, 1n, 2n, 3n].map((s) => request({ sequence: s }));
    assert.deepEqual(await labels(m, reqs), ['accept', 'accept', 'accept', 'ignore:busy']);
    assert.throws(() => m.add(decodeRequest(reqs[3]!)), (e: unknown) => e instanceof MempoolBusyError && e.retryable);
    m.markCommitted(m.nextBatch(2, 1 << 20).map((r) => r.id));
    assert.equal(m.size, 1);
    assert.deepEqual(await labels(m, [reqs[3]!]), ['accept']);

    const small = mempool({ maxBytes: reqs[0]!.length * 2 });
    assert.deepEqual(await labels(small, reqs.slice(0, 3)), ['accept', 'accept', 'ignore:busy']);
    assert.equal(small.bytes, reqs[0]!.length * 2);
  });

  it('builds batches round-robin across clients, in sequence order per client', async () => {
    const m = mempool();
    const [a, b, c] = [client(0), client(1), client(2)];
    const reqs = [
      ...[2n, 0n, 1n, 3n].map((s) => request({ client: a, sequence: s })),
      ...[0n, 1n].map((s) => request({ client: b, sequence: s })),
      request({ client: c, sequence: 5n }),
    ];
    assert.ok((await m.submit(reqs)).every((v) => v.kind === 'accept'));
    const who = (r: { clientKey: Uint8Array; sequence: bigint }) => `${r.clientKey[0] === a.publicKey[0] ? 'a' : r.clientKey[0] === b.publicKey[0] ? 'b' : 'c'}${r.sequence}`;
    assert.deepEqual(m.nextBatch(5, 1 << 20).map(who), ['a0', 'b0', 'c5', 'a1', 'b1']);
    // Clients served last time move to the back; exclusion skips in-flight requests.
    const first = m.nextBatch(5, 1 << 20);
    assert.deepEqual(first.map(who), ['a0', 'b0', 'c5', 'a1', 'b1']);
    const inFlight = new Set(first.map((r) => Buffer.from(r.id).toString('hex')));
    assert.deepEqual(m.nextBatch(5, 1 << 20, (id) => inFlight.has(Buffer.from(id).toString('hex'))).map(who), ['a2', 'a3']);
    // Only a was served last, so it goes last; the byte budget ends a turn rather than reorder.
    assert.deepEqual(m.nextBatch(10, reqs[0]!.length * 2).map(who), ['b0', 'c5']);
    assert.deepEqual(m.nextBatch(0, 1 << 20), []);
  });

  it('evicts expired requests when the height advances', async () => {
    const m = mempool({ height: 1 });
    await m.submit([request({ sequence: 0n, expiry: 3n }), request({ sequence: 1n, expiry: 4n }), request({ sequence: 2n, expiry: 9n })]);
    assert.equal(m.advanceHeight(4), 1);
    assert.equal(m.size, 2);
    assert.equal(m.advanceHeight(5), 1);
    assert.deepEqual(m.nextBatch(10, 1 << 20).map((r) => r.sequence), [2n]);
    assert.throws(() => m.advanceHeight(4), RangeError);
  });

  it('re-validates what it reloads after a restart', async () => {
    const good = [request({ sequence: 0n, expiry: 10n }), request({ sequence: 1n, expiry: 20n })];
    const corrupted = request({ sequence: 2n });
    corrupted[corrupted.length - 1]! ^= 0x40;
    const m = mempool({ height: 15 });
    assert.deepEqual((await m.reload([...good, corrupted])).map(verdictLabel), ['ignore:expired', 'accept', 'reject:bad-signature']);
    assert.equal(m.size, 1);
  });
});
