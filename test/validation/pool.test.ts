import assert from 'node:assert/strict';
import { blsBackend, generateBlsKeyPair } from '../../crypto/bls/index.js';
import { type BlsSetBytes, packBlsSets, unpackBlsSets, verifyBlsSets } from '../../validation/bls-job.js';
import { PoolClosedError, ValidationPool, type ValidationPoolOptions, ValidationTaskError } from '../../validation/pool.js';
import { MAX_REQUEST_BYTES, requestId } from '../../protocol/request.js';
import { verdictLabel } from '../../validation/verdict.js';
import { CHAIN, client, request } from './fixtures.js';
import { waitFor } from '../wait-for.js';

const pools: ValidationPool[] = [];
/** Every check goes to the workers unless a test asks otherwise: most tests here are about them. */
function pool(opts: Partial<ValidationPoolOptions> = {}): ValidationPool {
  const p = new ValidationPool({ chainId: CHAIN, workers: 2, inlineUpTo: 0, ...opts });
  pools.push(p);
  return p;
}

/** A mixed batch and the verdicts it must get, in order. */
function mixedBatch(n: number): { batch: Uint8Array[]; want: string[] } {
  const batch: Uint8Array[] = [];
  const want: string[] = [];
  for (let i = 0; i < n; i++) {
    const seq = BigInt(i);
    switch (i % 5) {
      case 0:
      case 1:
        batch.push(request({ client: client(i % 7), sequence: seq }));
        want.push('accept');
        break;
      case 2: {
        const r = request({ sequence: seq });
        r[r.length - 1]! ^= 1;
        batch.push(r);
        want.push('reject:bad-signature');
        break;
      }
      case 3:
        batch.push(request({ sequence: seq, expiry: 1n }));
        want.push('ignore:expired');
        break;
      default:
        batch.push(i % 2 ? Uint8Array.of(i) : request({ chainId: 'elsewhere', sequence: seq }));
        want.push(i % 2 ? 'reject:malformed' : 'reject:wrong-chain');
    }
  }
  return { batch, want };
}

const blsBe = blsBackend('blst');
function votes(n: number, bad: readonly number[] = []): BlsSetBytes[] {
  const message = new TextEncoder().encode('vote for block 7');
  return Array.from({ length: n }, (_, i) => {
    const kp = generateBlsKeyPair(blsBe, new Uint8Array(32).fill(i + 1));
    const signed = bad.includes(i) ? new TextEncoder().encode('something else') : message;
    return { publicKey: kp.publicKey.bytes, message, signature: blsBe.sign(kp.secretKey, signed).bytes };
  });
}

describe('validation/pool', () => {
  after(async () => {
    await Promise.all(pools.map((p) => p.close({ drain: false })));
  });

  it('returns verdicts in input order for a mixed batch, across several tasks', async () => {
    const p = pool({ maxBatchRequests: 7 });
    const { batch, want } = mixedBatch(60);
    // Two callers in the same tick share tasks; each still gets its own answers in order.
    const [v1, v2] = await Promise.all([p.validate(batch, 10), p.validate(batch.slice(0, 9), 10)]);
    assert.deepEqual(v1.map(verdictLabel), want);
    assert.deepEqual(v2.map(verdictLabel), want.slice(0, 9));
    assert.ok(p.stats().tasksDispatched >= 9);
    // Oversized input is refused without a trip to a worker.
    assert.deepEqual((await p.validate([new Uint8Array(MAX_REQUEST_BYTES + 1)], 10)).map(verdictLabel), ['reject:oversized']);
  });

  it('loses nothing when a worker exits mid-batch: the task is retried once, answered once', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const p = pool({ faultInjection: { flag, mode: 'exit' }, cacheSize: 0, maxBatchRequests: 10 });
    const { batch, want } = mixedBatch(40);
    const verdicts = await p.validate(batch, 10);
    assert.equal(Atomics.load(flag, 0), 1, 'a worker died');
    assert.deepEqual(verdicts.map(verdictLabel), want);
    assert.equal(p.stats().tasksRetried, 1);
    // The replacement worker serves later work.
    assert.deepEqual((await p.validate(batch, 10)).map(verdictLabel), want);
  });

  it('terminates and retries a hung worker after the task timeout', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    // The timeout must also cover a healthy retry on a replacement worker that is still
    // starting up; on a loaded 2-core machine that took over 300 ms and was retried twice.
    const p = pool({ faultInjection: { flag, mode: 'hang' }, taskTimeoutMs: 1500, cacheSize: 0 });
    const { batch, want } = mixedBatch(20);
    assert.deepEqual((await p.validate(batch, 10)).map(verdictLabel), want);
    assert.equal(p.stats().tasksRetried, 1);
  });

  it('fails a job with ValidationTaskError once every attempt died', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const p = pool({ workers: 1, faultInjection: { flag, mode: 'exit' }, maxAttempts: 1, cacheSize: 0 });
    await assert.rejects(p.validate([request()], 10), ValidationTaskError);
    assert.deepEqual((await p.validate([request()], 10)).map(verdictLabel), ['accept']);
  });

  it('does not verify a cached request again, and answers expiry relative to the new height', async () => {
    const p = pool();
    const r = request({ expiry: 50n });
    assert.equal(p.isVerified(requestId(r)), false);
    await p.validate([r], 10);
    assert.ok(p.isVerified(requestId(r)));
    const tasks = p.stats().tasksDispatched;
    const [hit] = await p.validate([r], 20, { priority: true });
    assert.deepEqual(hit, { kind: 'accept', id: requestId(r) });
    assert.deepEqual((await p.validate([r], 51)).map(verdictLabel), ['ignore:expired']);
    assert.equal(p.stats().tasksDispatched, tasks);
    assert.equal(p.stats().cacheHits, 2);
  });

  it('checks identical requests once, in one call or in calls at the same time, and each still gets its verdict', async () => {
    const p = pool();
    const good = request({ sequence: 7n });
    const forged = request({ sequence: 8n });
    forged[forged.length - 1]! ^= 1;
    // Distinct arrays with the same bytes: nothing is remembered by the array here.
    const copies = (r: Uint8Array, k: number) => Array.from({ length: k }, () => Uint8Array.from(r));
    const frame = [...copies(good, 40), ...copies(forged, 40)];
    const verdicts = await p.validate(frame, 10);
    assert.deepEqual(verdicts.map(verdictLabel), [...Array(40).fill('accept'), ...Array(40).fill('reject:bad-signature')]);
    assert.equal(p.stats().requestsChecked, 2);
    // A forgery is not remembered, so copies sent in many calls at once merge while in check.
    const other = request({ sequence: 9n });
    const calls = await Promise.all(Array.from({ length: 20 }, (_, i) => p.validate(i % 2 ? copies(forged, 3) : copies(other, 3), 10)));
    for (const [i, v] of calls.entries()) assert.deepEqual(v.map(verdictLabel), Array(3).fill(i % 2 ? 'reject:bad-signature' : 'accept'));
    assert.equal(p.stats().requestsChecked, 4);
    // At another height a request is checked again: its verdict may differ there (expiry).
    const [a, b] = await Promise.all([p.validate(copies(forged, 2), 10), p.validate(copies(forged, 2), 11)]);
    assert.deepEqual([...a!, ...b!].map(verdictLabel), Array(4).fill('reject:bad-signature'));
    assert.equal(p.stats().requestsChecked, 6);
  });

  it('fails the calls of copies that joined a check already running, when that check fails', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    // The first task hangs until the timeout ends it; only one attempt is allowed.
    const p = pool({ workers: 1, faultInjection: { flag, mode: 'hang' }, taskTimeoutMs: 1500, maxAttempts: 1 });
    const r = request({ sequence: 3n });
    const first = p.validate([r], 10);
    await waitFor(() => p.stats().tasksDispatched === 1, 'the first check running');
    // A copy in a call of its own, while the first is in check: it waits on that check.
    const copy = p.validate([Uint8Array.from(r)], 10);
    await assert.rejects(first, ValidationTaskError);
    await assert.rejects(copy, ValidationTaskError);
    assert.equal(p.stats().requestsChecked, 1);
    // Nothing is left waiting on the failed check: the same request is checked afresh.
    assert.deepEqual((await p.validate([r], 10)).map(verdictLabel), ['accept']);
    assert.equal(p.stats().requestsChecked, 2);
  });

  it('answers at once only when every request is already verified here (validateKnown)', async () => {
    const p = pool();
    const a = request({ expiry: 50n, sequence: 1n });
    const b = request({ expiry: 50n, sequence: 2n });
    assert.equal(p.validateKnown([a], 10), undefined, 'nothing verified yet');
    await p.validate([a], 10);
    assert.equal(p.validateKnown([a, b], 10), undefined, 'one unknown request sends the whole set to validate()');
    await p.validate([b], 10);
    const tasks = p.stats().tasksDispatched;
    assert.deepEqual(p.validateKnown([a, b], 10), [
      { kind: 'accept', id: requestId(a) },
      { kind: 'accept', id: requestId(b) },
    ]);
    assert.deepEqual(p.validateKnown([b], 51)!.map(verdictLabel), ['ignore:expired']);
    assert.equal(p.stats().tasksDispatched, tasks, 'no worker involved');
  });

  it('checks up to checkUncachedUpTo unknown requests on the calling thread, and caches what passed', async () => {
    const p = pool();
    const known = request({ expiry: 50n, sequence: 10n });
    await p.validate([known], 10);
    const fresh = request({ expiry: 50n, sequence: 11n });
    const forged = request({ expiry: 50n, sequence: 12n });
    forged[forged.length - 1]! ^= 1;
    const tasks = p.stats().tasksDispatched;
    assert.equal(p.validateKnown([known, fresh, forged], 10, { checkUncachedUpTo: 1 }), undefined, 'two unknown, budget one');
    assert.equal(p.validateKnown([fresh], 10), undefined, 'giving up checked and cached nothing');
    assert.deepEqual(p.validateKnown([known, fresh, forged], 10, { checkUncachedUpTo: 2 })!.map(verdictLabel), ['accept', 'accept', 'reject:bad-signature']);
    assert.deepEqual(p.validateKnown([fresh], 10), [{ kind: 'accept', id: requestId(fresh) }], 'the one that passed is cached now');
    assert.equal(p.validateKnown([forged], 10), undefined, 'the forged one is not');
    assert.equal(p.stats().tasksDispatched, tasks, 'no worker involved');
  });

  it('batch-verifies BLS votes and isolates the bad ones when the batch fails', async () => {
    const good = votes(6);
    const mixed = votes(6, [1, 4]);
    mixed.push({ ...mixed[0]!, publicKey: new Uint8Array(48) }); // undecodable key
    assert.deepEqual(unpackBlsSets(packBlsSets(mixed)), mixed);
    assert.deepEqual(verifyBlsSets(good, blsBe), { valid: Uint8Array.of(1, 1, 1, 1, 1, 1), fellBack: false });
    const direct = verifyBlsSets(mixed, blsBe);
    assert.deepEqual([...direct.valid], [1, 0, 1, 1, 0, 1, 0]);
    assert.equal(direct.fellBack, true);

    const p = pool();
    assert.deepEqual(await p.verifyBls(good, { priority: true }), [true, true, true, true, true, true]);
    assert.deepEqual(await p.verifyBls(mixed), [true, false, true, true, false, true, false]);
    assert.equal(p.stats().blsBatchFallbacks, 1);
  });

  it('serves priority jobs first and falls back to the main thread when saturated', async () => {
    const p = pool({ workers: 1, tasksPerWorker: 1, maxBatchRequests: 4, mainThreadFallbackAt: 1, maxQueuedRequests: 8 });
    const { batch, want } = mixedBatch(20);
    const order: string[] = [];
    const bulk = p.validate(batch, 10).then((v) => {
      order.push('bulk');
      return v;
    });
    assert.equal(p.canAcceptWork(), false, '20 queued requests exceed maxQueuedRequests');
    const prio = p.verifyBls(votes(3), { priority: true }).then((v) => {
      order.push('bls');
      return v;
    });
    // The first priority unit now waits in the high lane, so the next one runs right here.
    const before = p.stats().mainThreadJobs;
    const onMain = p.verifyBls(votes(2), { priority: true });
    assert.equal(p.stats().mainThreadJobs, before + 1);
    assert.deepEqual(await onMain, [true, true]);
    assert.deepEqual(await prio, [true, true, true]);
    assert.deepEqual((await bulk).map(verdictLabel), want);
    assert.deepEqual(order, ['bls', 'bulk']);
    assert.equal(p.canAcceptWork(), true);
  });

  it('checks calls with at most inlineUpTo unchecked requests on the calling thread, with the verdicts the workers give', async () => {
    // No cache, so every call has all its requests to check.
    const inline = pool({ inlineUpTo: 2, cacheSize: 0 });
    const workers = pool({ cacheSize: 0 });
    const { batch, want } = mixedBatch(12);
    for (const size of [1, 2, 3]) {
      for (let at = 0; at + size <= batch.length; at += size) {
        const slice = batch.slice(at, at + size);
        const before = inline.stats();
        const got = (await inline.validate(slice, 10)).map(verdictLabel);
        assert.deepEqual(got, want.slice(at, at + size), `inline, ${size} at ${at}`);
        assert.deepEqual((await workers.validate(slice, 10)).map(verdictLabel), got, `workers, ${size} at ${at}`);
        const after = inline.stats();
        if (size <= 2) {
          assert.equal(after.tasksDispatched, before.tasksDispatched, `${size} checked in place`);
          assert.equal(after.mainThreadJobs, before.mainThreadJobs + 1);
        } else {
          assert.ok(after.tasksDispatched > before.tasksDispatched, `${size} go to a worker`);
        }
      }
    }
    assert.throws(() => new ValidationPool({ chainId: CHAIN, workers: 1, inlineUpTo: -1 }), RangeError);
  });

  it('counts only the requests the cache leaves, and checks in place only while the pool is idle', async () => {
    const p = pool({ inlineUpTo: 2 });
    const [a, b, c] = [request({ sequence: 901n }), request({ sequence: 902n }), request({ sequence: 903n })];
    await p.validate([a], 10);
    const warm = p.stats();
    // Three requests, one of them cached: two left to check, in place.
    assert.deepEqual((await p.validate([a, b, c], 10)).map(verdictLabel), ['accept', 'accept', 'accept']);
    assert.equal(p.stats().tasksDispatched, warm.tasksDispatched);
    assert.equal(p.stats().mainThreadJobs, warm.mainThreadJobs + 1);
    // Busy: with a task queued or in flight, lone requests queue and join the workers' tasks
    // (and count towards back-pressure) instead of taking the calling thread.
    const { batch, want } = mixedBatch(40);
    const fresh = mixedBatch(3).batch.map((_, i) => request({ sequence: 950n + BigInt(i) }));
    const before = p.stats();
    const big = p.validate(batch, 10);
    const lone = fresh.map((r) => p.validate([r], 10));
    assert.ok(p.queuedRequests > 0 || p.stats().tasksDispatched > before.tasksDispatched);
    assert.deepEqual((await big).map(verdictLabel), want);
    for (const v of await Promise.all(lone)) assert.deepEqual(v.map(verdictLabel), ['accept']);
    assert.equal(p.stats().mainThreadJobs, before.mainThreadJobs, 'none checked in place');
  });

  it('gives an accepted request its id, however it was checked: in place, by a worker, from the cache, by validateKnown', async () => {
    const ids = (vs: readonly { kind: string; id?: Uint8Array }[]) => vs.map((v) => (v.kind === 'accept' ? Buffer.from(v.id!).toString('hex') : v.kind));
    const { batch } = mixedBatch(8);
    const want = ids(await pool({ workers: 0, cacheSize: 0 }).validate(batch, 10));
    assert.equal(want.filter((w) => w.length === 64).length, 4, 'the batch has accepted requests to check');
    batch.forEach((bytes, i) => {
      if (want[i]!.length === 64) assert.equal(want[i], Buffer.from(requestId(bytes)).toString('hex'), `request ${i}`);
    });
    for (const p of [pool({ workers: 0 }), pool({ inlineUpTo: 64 }), pool({ inlineUpTo: 0 })]) {
      assert.deepEqual(ids(await p.validate(batch, 10)), want, 'first check');
      assert.deepEqual(ids(await p.validate(batch, 10)), want, 'from the cache');
    }
    const known = pool({ workers: 0 });
    assert.deepEqual(ids(known.validateKnown(batch, 10, { checkUncachedUpTo: batch.length })!), want, 'validateKnown, checked here');
  });

  it('runs on the calling thread with zero workers', async () => {
    const p = pool({ workers: 0 });
    const { batch, want } = mixedBatch(10);
    assert.deepEqual((await p.validate(batch, 10)).map(verdictLabel), want);
    assert.deepEqual(await p.verifyBls(votes(2, [0])), [false, true]);
  });

  it('tells onWork of every unit of work as its stats count it: a worker task or a call checked in place', async () => {
    for (const [opts, call] of [
      [{ inlineUpTo: 2, cacheSize: 0 }, 1],
      [{ cacheSize: 0 }, 3],
      [{ workers: 0, cacheSize: 0 }, 20],
    ] as const) {
      const told = { worker: 0, main: 0 };
      const p = pool({ ...opts, onWork: (where) => told[where]++ });
      const { batch } = mixedBatch(20);
      for (let at = 0; at < batch.length; at += call) await p.validate(batch.slice(at, at + call), 10);
      // The proposal path (a few unseen requests checked in place) and BLS sets, both ways.
      p.validateKnown(mixedBatch(3).batch.map((_, i) => request({ sequence: 990n + BigInt(i) })), 10, { checkUncachedUpTo: 3 });
      await p.verifyBls(votes(2, [0]));
      await p.verifyBls(votes(2), { priority: true });
      const { tasksDispatched, mainThreadJobs } = p.stats();
      assert.deepEqual(told, { worker: tasksDispatched, main: mainThreadJobs }, JSON.stringify(opts));
      assert.ok(told.worker + told.main > 0, 'some work was told');
    }
  });

  it('settles its work when the onWork hook throws', async () => {
    const p = pool({
      onWork: () => {
        throw new Error('a broken metrics hook');
      },
    });
    const { batch, want } = mixedBatch(8);
    assert.deepEqual((await p.validate(batch, 10)).map(verdictLabel), want);
    assert.deepEqual(await pool({ workers: 0, onWork: () => assert.fail('hook') }).verifyBls(votes(2, [1])), [true, false]);
  });

  it('drains on close, or fails pending work with PoolClosedError', async () => {
    const { batch, want } = mixedBatch(30);
    const a = pool({ maxBatchRequests: 5 });
    const pending = a.validate(batch, 10);
    await a.close();
    assert.deepEqual((await pending).map(verdictLabel), want);
    await assert.rejects(a.validate(batch, 10), PoolClosedError);
    assert.equal(a.canAcceptWork(), false);

    const b = pool({ workers: 1, tasksPerWorker: 1, maxBatchRequests: 5 });
    const doomed = assert.rejects(b.validate(batch, 10), PoolClosedError);
    await b.close({ drain: false });
    await doomed;
  });
});
