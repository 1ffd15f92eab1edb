import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes, toHex, uintBE } from '../../../crypto/bytes.js';
import { sha256Noble } from '../../../crypto/hash.js';
import { merkleRoot } from '../../../crypto/merkle.js';
import type { LogEntry, LogProofRejectReason } from '../../../protocol/log-proof.js';
import { CommandLog } from '../../../node/app/log.js';
import { LogLeafHasher, LogProofError, logLeafData, verifyLogEntry } from '../../../protocol/log-proof.js';
import type { Result as ResultCode } from '../../../protocol/result.js';
import { Result } from '../../../protocol/result.js';
import { CHAIN } from './arbitraries.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const codes = Object.values(Result);
const arbEntry = fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...codes));

function rejects(fn: () => unknown, reason: LogProofRejectReason): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LogProofError, `expected LogProofError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

describe('app/log', () => {
  it('leaf data follows the written layout', () => {
    const hash = sha256Noble(ascii('command'));
    const prefix = concatBytes(Uint8Array.of(11), ascii('vsmr/log/v2'), Uint8Array.of(CHAIN.length), ascii(CHAIN));
    const expected = sha256Noble(concatBytes(prefix, uintBE(258, 8), hash, Uint8Array.of(Result.CAS_MISMATCH)));
    assert.equal(toHex(logLeafData(CHAIN, { position: 258, requestId: hash, result: Result.CAS_MISMATCH })), toHex(expected));
  });

  it("the log's leaf hasher (a reused scratch buffer) computes exactly logLeafData, call after call", () => {
    const chainIds = [CHAIN, 'x', 'c'.repeat(64)];
    const hashers = chainIds.map((c) => new LogLeafHasher(c));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: chainIds.length - 1 }), fc.maxSafeNat(), arbEntry), { minLength: 1, maxLength: 8 }), (calls) => {
        for (const [c, position, [requestId, result]] of calls) {
          const entry = { position, requestId, result };
          assert.equal(toHex(hashers[c]!.leafData(entry)), toHex(logLeafData(chainIds[c]!, entry)));
        }
      }),
    );
  });

  it('keeps the RFC 6962 root incrementally, equal to a full rebuild at every size', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 70 }), (entries) => {
        const log = new CommandLog(CHAIN);
        const leaves: Uint8Array[] = [];
        assert.equal(toHex(log.root()), toHex(merkleRoot([])));
        entries.forEach(([hash, result], position) => {
          const e = log.append(hash, result);
          assert.deepEqual(e, { position, requestId: hash, result });
          leaves.push(logLeafData(CHAIN, e));
          assert.equal(toHex(log.root()), toHex(merkleRoot(leaves)), `size ${leaves.length}`);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('proves every entry with its position and result, and nothing else', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { minLength: 1, maxLength: 40 }), fc.nat(), (entries, pick) => {
        const log = new CommandLog(CHAIN);
        for (const [hash, result] of entries) log.append(hash, result);
        const root = log.root();
        for (let p = 0; p < log.size; p++) verifyLogEntry(CHAIN, root, log.entry(p), log.prove(p));

        const p = pick % log.size;
        const entry = log.entry(p);
        const proof = log.prove(p);
        const otherResult = codes.find((c) => c !== entry.result)! as ResultCode;
        const wrong: LogEntry[] = [
          { ...entry, result: otherResult },
          { ...entry, requestId: sha256Noble(entry.requestId) },
        ];
        for (const e of wrong) rejects(() => verifyLogEntry(CHAIN, root, e, proof), 'invalid-inclusion');
        rejects(() => verifyLogEntry(CHAIN, root, { ...entry, position: p + 1 }, proof), 'position-mismatch');
        if (log.size > 1) {
          const q = (p + 1) % log.size;
          // The right index but another entry's path, and another entry claiming this position.
          rejects(() => verifyLogEntry(CHAIN, root, entry, { ...log.prove(q), index: p }), 'invalid-inclusion');
          rejects(() => verifyLogEntry(CHAIN, root, { ...log.entry(q), position: p }, proof), 'invalid-inclusion');
        }
        rejects(() => verifyLogEntry('other-chain', root, entry, proof), 'invalid-inclusion');
        log.append(entry.requestId, entry.result);
        rejects(() => verifyLogEntry(CHAIN, log.root(), entry, proof), 'invalid-inclusion');
      }),
      { numRuns: 60 },
    );
  });

  it('refuses malformed entries and out-of-range positions', () => {
    const log = new CommandLog(CHAIN);
    log.append(new Uint8Array(32), Result.OK);
    const proof = log.prove(0);
    const entry = log.entry(0);
    for (const bad of [{ ...entry, requestId: new Uint8Array(31) }, { ...entry, result: 256 }, { ...entry, position: -1 }, null]) {
      rejects(() => verifyLogEntry(CHAIN, log.root(), bad as LogEntry, proof), 'malformed');
    }
    assert.throws(() => log.prove(1), RangeError);
    assert.throws(() => log.entry(-1), RangeError);
    assert.throws(() => log.append(new Uint8Array(32), 99 as ResultCode), TypeError);
  });
});

describe('CommandLog storage', () => {
  it('keeps every entry, root and proof right as its slabs grow, and shares no bytes with its callers', () => {
    // 256 entries to start: 1,100 make the slabs double three times.
    const log = new CommandLog(CHAIN);
    const ids: Uint8Array[] = [];
    const roots: Uint8Array[] = [];
    for (let p = 0; p < 1100; p++) {
      // Every third id a Buffer, whose slice() would be a view of the caller's memory.
      const id = p % 3 === 0 ? Buffer.from(sha256Noble(uintBE(p, 8))) : sha256Noble(uintBE(p, 8));
      ids.push(new Uint8Array(id));
      const entry = log.append(id, codes[p % codes.length]!);
      id.fill(0); // the caller's buffer, reused
      assert.deepEqual(new Uint8Array(entry.requestId), ids[p], 'the returned entry has its own copy');
      entry.requestId.fill(1); // the returned copy, scribbled on
      roots.push(log.root());
    }
    const leaves = ids.map((requestId, position) => logLeafData(CHAIN, { position, requestId, result: codes[position % codes.length]! }));
    assert.equal(toHex(log.root()), toHex(merkleRoot(leaves)));
    for (const size of [1, 255, 256, 257, 511, 512, 513, 1024, 1025, 1100]) {
      assert.equal(toHex(log.rootAt(size)), toHex(roots[size - 1]!), `root at ${size}`);
    }
    for (let p = 0; p < 1100; p += 37) {
      const entry = log.entry(p);
      assert.deepEqual({ ...entry, requestId: new Uint8Array(entry.requestId) }, { position: p, requestId: ids[p], result: codes[p % codes.length] });
      verifyLogEntry(CHAIN, roots[1099]!, entry, log.prove(p));
      verifyLogEntry(CHAIN, roots[700]!, entry.position <= 700 ? entry : log.entry(0), log.prove(entry.position <= 700 ? p : 0, 701));
      entry.requestId.fill(2);
      assert.deepEqual(log.entry(p).requestId, ids[p]);
    }
  });
});

describe('CommandLog recent ids', () => {
  it('gives the newest ids, oldest first, in a copy, for any log size and count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 700 }), (size, count) => {
        const log = new CommandLog(CHAIN);
        const ids = Array.from({ length: size }, (_, p) => sha256Noble(uintBE(p, 8)));
        for (const id of ids) log.append(id, Result.OK);
        const got = log.recentIds(count);
        assert.equal(toHex(got), toHex(concatBytes(...ids.slice(Math.max(0, size - count)))));
        got.fill(9);
        if (size > 0) assert.deepEqual(log.entry(size - 1).requestId, ids[size - 1], 'the log keeps its own bytes');
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a count that is not a whole number', () => {
    for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => new CommandLog(CHAIN).recentIds(bad), RangeError);
  });
});

describe('CommandLog proofs against an earlier size', () => {
  it('proves every position against every earlier root, and refuses sizes that do not hold it', () => {
    const log = new CommandLog('vsmr-test');
    const roots: Uint8Array[] = [];
    for (let i = 0; i < 13; i++) {
      log.append(new Uint8Array(32).fill(i), 0);
      roots.push(log.root());
    }
    for (let size = 1; size <= 13; size++) {
      assert.deepEqual(log.rootAt(size), roots[size - 1]);
      for (let p = 0; p < size; p++) verifyLogEntry('vsmr-test', roots[size - 1]!, log.entry(p), log.prove(p, size));
    }
    assert.throws(() => log.prove(5, 5), RangeError);
    assert.throws(() => log.prove(0, 14), RangeError);
  });
});
