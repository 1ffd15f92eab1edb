import assert from 'node:assert/strict';
import { decodeSnapshot, encodeSnapshot, type SnapshotLogEntry } from '../../../node/app/snapshot.js';
import { Result } from '../../../protocol/result.js';

const CHAIN = 'vsmr-snapshot-test';

/** KV state entries (namespace byte 0) with 2-byte keys, each a fresh array. */
function entriesOf(n: number): [Uint8Array, Uint8Array][] {
  return Array.from({ length: n }, (_, i) => [Uint8Array.of(0, i >> 8, i & 0xff), Uint8Array.of(i & 0xff, 7)]);
}

function logOf(n: number): SnapshotLogEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const requestId = new Uint8Array(32);
    new DataView(requestId.buffer).setUint32(0, i);
    return { requestId, result: i % 2 === 0 ? Result.OK : Result.NOT_FOUND };
  });
}

describe('node/app/snapshot.ts encodeSnapshot', () => {
  it('encodes each entry as it is read: items a generator changes after yielding them come out as they were', () => {
    const want = entriesOf(3);
    const wantLog = logOf(3);
    const key = new Uint8Array(3);
    const value = new Uint8Array(2);
    const requestId = new Uint8Array(32);
    function* entries(): Generator<[Uint8Array, Uint8Array]> {
      for (const [k, v] of want) {
        key.set(k);
        value.set(v);
        yield [key, value];
      }
    }
    function* log(): Generator<SnapshotLogEntry> {
      for (const e of wantLog) {
        requestId.set(e.requestId);
        yield { requestId, result: e.result };
      }
    }
    const streamed = encodeSnapshot({ chainId: CHAIN, height: 5, entries: entries(), log: log() });
    assert.deepEqual(streamed, encodeSnapshot({ chainId: CHAIN, height: 5, entries: want, log: wantLog }));
    const d = decodeSnapshot(streamed, CHAIN);
    assert.deepEqual(d.entries, want);
    assert.deepEqual(d.log, wantLog);
    assert.equal(d.height, 5);
  });

  it('round-trips snapshots far past its first buffer, at the size the layout gives', () => {
    for (const [n, m] of [
      [0, 0],
      [1, 0],
      [0, 1],
      [20_000, 0],
      [0, 10_000],
      [12_345, 6_789],
    ] as const) {
      const entries = entriesOf(n);
      const log = logOf(m);
      const bytes = encodeSnapshot({ chainId: CHAIN, height: n + m, entries, log });
      // magic, version, chain id, height, two counts; 2+3+4+2 bytes an entry, 33 a log entry.
      assert.equal(bytes.length, 4 + 1 + 1 + CHAIN.length + 8 + 8 + n * 11 + 8 + m * 33, `${n} entries, ${m} log entries`);
      const d = decodeSnapshot(bytes, CHAIN);
      assert.deepEqual(d.entries, entries);
      assert.deepEqual(d.log, log);
    }
  });
});
