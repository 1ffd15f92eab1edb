import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSnapshot, encodeSnapshot, LOG_ENTRY_MEMORY_BYTES, STATE_ENTRY_HEAP_BYTES, STATE_ENTRY_OFF_HEAP_BYTES, type SnapshotLimits, snapshotLimits } from '../../../node/app/snapshot.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { createNodeMetrics, type NodeMetrics } from '../../../node/observability/metrics.js';
import type { LedgerStore, SnapshotChunkAnswer } from '../../../node/runtime/ports.js';
import { downloadSnapshot, SnapshotSyncError, type SnapshotSyncFailure, snapshotTransferAllowanceMs, verifySnapshot, verifySnapshotProof } from '../../../node/runtime/state-sync.js';
import { isReceipt, type SnapshotPolicy, ValidatorNode } from '../../../node/runtime/validator-node.js';
import { Result } from '../../../protocol/result.js';
import { NodeStore } from '../../../node/storage/lmdb-store.js';
import { ed25519KeypairFromSeed } from '../../../crypto/ed25519/backends.js';
import { bytesEqual, toHex } from '../../../crypto/bytes.js';
import { DigestMemo } from '../../../crypto/digest-memo.js';
import { encodeCommand } from '../../../protocol/command.js';
import { signRequest } from '../../../protocol/request.js';
import type { SnapshotProof } from '../../../network/codec.js';
import { MainThreadValidator } from '../../../validation/stateless.js';
import { FakeLedgerStore, FakeNetwork } from './fakes.js';

const CHAIN = 'vsmr-state-sync-test';
const client = ed25519KeypairFromSeed(new Uint8Array(32).fill(7));
const enc = new TextEncoder();
let sequence = 0;

function put(key: string, value: string, expiry = 1_000_000n): Uint8Array {
  const command = encodeCommand({ type: 'put', key: enc.encode(key), value: enc.encode(value) });
  return signRequest({ chainId: CHAIN, sequence: BigInt(++sequence), expiry, command }, client.secretKey);
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function counter(m: NodeMetrics, name: string): Promise<Map<string, number>> {
  return m.registry.getSingleMetric(name)!.get().then((v) => new Map(v.values.map((x) => [String(x.labels['reason'] ?? ''), x.value])));
}

function syncError(fn: () => unknown, reason: SnapshotSyncFailure): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SnapshotSyncError, `expected SnapshotSyncError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

/** Fake network and in-memory ledgers; real runtime, core, application and snapshot codec. */
function makeCluster(n: number, stores: LedgerStore[], policy: SnapshotPolicy, metrics: NodeMetrics[]) {
  const net = new FakeNetwork();
  const certs = new FakeCertificateOps(CHAIN, n);
  const make = (i: number) =>
    new ValidatorNode({
      chainId: CHAIN,
      index: i,
      n,
      signer: fakeSigner(i),
      certs,
      store: stores[i]!,
      transport: net.transport(i),
      validator: new MainThreadValidator(CHAIN),
      consensus: { baseTimeoutMs: 150, maxBatchCommands: 4, maxBatchBytes: 1 << 20 },
      metrics: metrics[i]!,
      snapshots: policy,
    });
  return { net, certs, make };
}

/** Submits `count` requests one block at a time, so the chain grows by at least `count` heights; returns them. */
async function grow(node: ValidatorNode, count: number, tag: string): Promise<Uint8Array[]> {
  const committed: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const request = put(`${tag}-${k}`, `v${k}`);
    const [a] = await node.submit([request]);
    await a!.committed;
    committed.push(request);
  }
  return committed;
}

describe('state sync by certified snapshot (in-process runtime, fake network)', function () {
  this.timeout(60_000);
  const N = 4;
  const policy: SnapshotPolicy = { interval: 4, retainBlocks: 2 };
  const stores = Array.from({ length: N }, () => new FakeLedgerStore());
  const metrics = Array.from({ length: N }, (_, i) => createNodeMetrics({ chainId: CHAIN, validator: i }, false));
  const { net, certs, make } = makeCluster(N, stores, policy, metrics);
  const appOptions = { chainId: CHAIN };
  let early: Uint8Array[] = [];

  before(async () => {
    // Validator 3 is cut off from the start: it will need what the others pruned.
    net.down.add(3);
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
    early = await grow(net.nodes[0]!, 14, 'a');
    await until(() => [0, 1, 2].every((i) => stores[i]!.lowestBlockHeight() > 2), 'the others to prune');
  });
  after(() => {
    for (const node of net.nodes) node?.stop();
  });

  /** An honest snapshot of validator 0, fetched through its serving path. */
  const honest = () => downloadSnapshot(async (h, off) => net.nodes[0]!.serveSnapshot(h, off), 0);

  it('takes snapshots every interval, saves each once a certified header covers it, and prunes below it minus the retained blocks', async () => {
    const s = stores[0]!;
    const snap = s.latestSnapshot()!;
    assert.equal(snap.height % policy.interval, 0);
    assert.equal(s.lowestBlockHeight(), snap.height - policy.retainBlocks);
    assert.equal(s.block(s.lowestBlockHeight() - 1), undefined);
    // The executed states of the window below outlive their blocks (restartKnowledge reads them).
    assert.ok(s.executed(s.lowestBlockHeight() - 1) !== undefined, 'the executed state below the lowest block was kept');
    // Saved only once provable: what it serves carries a proof (the node never serves one it cannot prove).
    const first = net.nodes[0]!.serveSnapshot(0, 0);
    assert.equal(first?.height, snap.height);
    assert.ok(first?.proof !== undefined && first.proof.blocks.at(-1)!.executed.height >= snap.height);
    assert.deepEqual(net.nodes[0]!.serveSync(1), { pruned: s.lowestBlockHeight() });
    assert.ok((await metrics[0]!.snapshotsTaken.get()).values[0]!.value >= 2);
  });

  it('accepts an honest snapshot whose roots match a certified header', async () => {
    const got = await honest();
    const v = verifySnapshot(CHAIN, got.height, got.bytes, got.proof, certs, appOptions);
    const mine = stores[0]!.executed(v.executed.height)!;
    assert.ok(v.executed.height >= got.height);
    assert.ok(bytesEqual(v.executed.blockId, mine.blockId) && bytesEqual(v.executed.stateRoot, mine.stateRoot) && bytesEqual(v.executed.logRoot, mine.logRoot));
    assert.ok(bytesEqual(v.app.stateRoot(), mine.stateRoot));
    assert.ok(bytesEqual(v.rootQc.vote.blockId, mine.blockId));
  });

  it('refuses each kind of lie with a typed reason', async () => {
    const { height, bytes, proof } = await honest();
    const verify = (b: Uint8Array, p: SnapshotProof, h = height) => () => verifySnapshot(CHAIN, h, b, p, certs, appOptions);
    // Bytes that are no snapshot at all.
    syncError(verify(bytes.subarray(0, bytes.length - 1), proof), 'bad-snapshot');
    // A well-formed snapshot of another state: one value changed.
    const decoded = decodeSnapshot(bytes, CHAIN);
    const [k0, v0] = decoded.entries[0]!;
    const forged = encodeSnapshot({ ...decoded, entries: [[k0, Uint8Array.from([...v0, 0x21])], ...decoded.entries.slice(1)] });
    syncError(verify(forged, proof), 'root-mismatch');
    // A log entry's result changed: the state root may match, the log root cannot.
    const badLog = encodeSnapshot({ ...decoded, log: decoded.log.map((e, i) => (i === 0 ? { ...e, result: e.result === 0 ? 1 : 0 } : e)) } as never);
    syncError(verify(badLog, proof), 'root-mismatch');
    // A QC whose aggregate does not verify.
    const cert = Uint8Array.from(proof.qc.certificate);
    cert[cert.length - 1]! ^= 1;
    syncError(verify(bytes, { ...proof, qc: { ...proof.qc, certificate: cert } }), 'bad-qc');
    // A proof block altered: its id no longer matches its contents.
    const [b0, ...rest] = proof.blocks;
    syncError(verify(bytes, { ...proof, blocks: [{ ...b0!, payload: [enc.encode('smuggled')] }, ...rest] }), 'bad-proof');
    // The right proof offered for another height.
    syncError(verify(bytes, proof, height - 1), 'bad-proof');
    syncError(verify(bytes, { ...proof, blocks: [] }), 'bad-proof');
  });

  it('refuses chunks that do not continue the transfer', async () => {
    const honestFetch = async (h: number, off: number) => net.nodes[0]!.serveSnapshot(h, off);
    const shrink = async (h: number, off: number): Promise<SnapshotChunkAnswer | undefined> => {
      const c = await honestFetch(h, off);
      return c && { ...c, data: c.data.subarray(0, c.data.length - 1) };
    };
    await assert.rejects(downloadSnapshot(shrink, 0), (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'bad-chunk');
    await assert.rejects(downloadSnapshot(async () => undefined, 0), (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'unavailable' && !e.peerFault);
    const noProof = async (h: number, off: number) => {
      const c = await honestFetch(h, off);
      return c && { height: c.height, total: c.total, offset: c.offset, data: c.data };
    };
    await assert.rejects(downloadSnapshot(noProof, 0), (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'bad-chunk');
  });

  it('checks the proof on the first chunk, before fetching the rest, and bounds the whole transfer in time', async () => {
    let fetched = 0;
    const counting = async (h: number, off: number) => {
      fetched++;
      return net.nodes[0]!.serveSnapshot(h, off);
    };
    // A proof whose QC does not verify: refused after one chunk, whatever the snapshot's size.
    const forgeQc = async (h: number, off: number): Promise<SnapshotChunkAnswer | undefined> => {
      const c = await counting(h, off);
      if (!c?.proof) return c;
      const cert = Uint8Array.from(c.proof.qc.certificate);
      cert[cert.length - 1]! ^= 1;
      return { ...c, proof: { ...c.proof, qc: { ...c.proof.qc, certificate: cert } } };
    };
    const checkProof = (h: number, p: SnapshotProof) => void verifySnapshotProof(CHAIN, h, p, certs);
    await assert.rejects(downloadSnapshot(forgeQc, 0, { checkProof }), (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'bad-qc');
    assert.equal(fetched, 1);
    // A fake peer serving 3 chunks of a 3 MiB snapshot (the bytes and proof are never checked
    // here): on a clock that passes the allowance, refused as too slow, not as a liar.
    const chunk = 1 << 20;
    // The first chunk starts with a snapshot header for height 9 (no state entries).
    const first = new Uint8Array(chunk);
    first.set(encodeSnapshot({ chainId: CHAIN, height: 9, entries: [], log: [] }));
    const fakePeer = async (_h: number, off: number): Promise<SnapshotChunkAnswer> => ({
      height: 9,
      total: 3 * chunk,
      offset: off,
      data: off === 0 ? first : new Uint8Array(chunk),
      ...(off === 0 ? { proof: {} as SnapshotProof } : {}),
    });
    let t = 0;
    const clock = (step: number) => () => (t += step);
    await assert.rejects(downloadSnapshot(fakePeer, 0, { now: clock(snapshotTransferAllowanceMs(3 * chunk)) }), (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'too-slow' && !e.peerFault);
    t = 0;
    assert.equal((await downloadSnapshot(fakePeer, 0, { now: clock(1_000) })).bytes.length, 3 * chunk);
  });

  it('refuses at its first chunk a snapshot that needs more than this node can give, fetching no more', async () => {
    const whole = await honest();
    const decoded = decodeSnapshot(whole.bytes, CHAIN);
    const entries = decoded.entries.length;
    const logSize = decoded.log.length;
    assert.ok(entries > 1 && logSize > 1);
    // Exactly what the snapshot needs: its state entries on and beside the heap, its log, and its bytes twice.
    const exact: SnapshotLimits = {
      heapBytes: entries * STATE_ENTRY_HEAP_BYTES,
      memoryBytes: entries * STATE_ENTRY_OFF_HEAP_BYTES + logSize * LOG_ENTRY_MEMORY_BYTES,
      downloadBytes: 2 * whole.bytes.length,
    };
    let fetched = 0;
    const counting = async (h: number, off: number) => {
      fetched++;
      return net.nodes[0]!.serveSnapshot(h, off);
    };
    const tooLarge = (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'too-large' && !e.peerFault;
    for (const less of [{ heapBytes: exact.heapBytes - 1 }, { memoryBytes: entries * STATE_ENTRY_OFF_HEAP_BYTES - 1 }, { downloadBytes: exact.downloadBytes - 1 }]) {
      fetched = 0;
      await assert.rejects(downloadSnapshot(counting, 0, { limits: { ...exact, ...less } }), tooLarge, JSON.stringify(less));
      assert.equal(fetched, 1, 'refused at the first chunk');
    }
    assert.equal((await downloadSnapshot(counting, 0, { limits: exact })).bytes.length, whole.bytes.length);
    // The same bounds where the bytes are built, the log's included (its size is known only there).
    const verify = (limits: SnapshotLimits) => () => verifySnapshot(CHAIN, whole.height, whole.bytes, whole.proof, certs, appOptions, limits);
    syncError(verify({ ...exact, heapBytes: exact.heapBytes - 1 }), 'too-large');
    syncError(verify({ ...exact, memoryBytes: exact.memoryBytes - 1 }), 'too-large');
    assert.ok(verify(exact)().app.height >= 0);
    // A header that names another height than the chunk offered it at.
    const otherHeight = async (h: number, off: number): Promise<SnapshotChunkAnswer | undefined> => {
      const c = await net.nodes[0]!.serveSnapshot(h, off);
      if (!c || off !== 0) return c;
      const data = Uint8Array.from(c.data);
      const header = encodeSnapshot({ chainId: CHAIN, height: c.height + 1, entries: [], log: [] });
      data.set(header.subarray(0, header.length - 16));
      return { ...c, data };
    };
    await assert.rejects(downloadSnapshot(otherHeight, 0), (e: unknown) => e instanceof SnapshotSyncError && e.reason === 'bad-chunk' && e.peerFault);
  });

  it('gives a snapshot three quarters of the heap still free, half the free memory to build and a quarter to download', () => {
    const mib = 1 << 20;
    assert.deepEqual(snapshotLimits({ heapFree: 4000 * mib, systemFree: 8000 * mib }), { heapBytes: 3000 * mib, memoryBytes: 4000 * mib, downloadBytes: 2000 * mib });
    assert.deepEqual(snapshotLimits({ heapFree: -100, systemFree: 0 }), { heapBytes: 0, memoryBytes: 0, downloadBytes: 0 });
    const here = snapshotLimits();
    assert.ok(here.heapBytes > 1_000_000 * STATE_ENTRY_HEAP_BYTES, 'this process can build a million state entries');
  });

  it('a validator far behind skips lying peers and catches up from a certified snapshot', async () => {
    // Each peer lies the first time it is asked, each in its own way; the second round is honest.
    const lied = new Set<number>();
    // A snapshot no newer than validator 3's height is refused as unavailable before anything
    // in it is checked, so a lie told in one would go uncounted: peers lie only in snapshots
    // it would use. (One failure seen, a lie by peer 2 with no bad-proof counted, fits a peer
    // asked again for a snapshot no newer than what 3 had just installed.)
    const lie = (i: number, how: (c: SnapshotChunkAnswer) => SnapshotChunkAnswer) => (c: SnapshotChunkAnswer) => {
      if (c.offset !== 0 || lied.has(i) || c.height <= stores[3]!.committedHeight()) return c;
      lied.add(i);
      return how(c);
    };
    net.tamper[0] = lie(0, (c) => ({ ...c, data: Uint8Array.from(c.data, (x, k) => (k === c.data.length - 1 ? x ^ 1 : x)) }));
    net.tamper[1] = lie(1, (c) => ({ ...c, proof: { ...c.proof!, qc: { ...c.proof!.qc, certificate: new Uint8Array(c.proof!.qc.certificate.length) } } }));
    net.tamper[2] = lie(2, (c) => ({ ...c, proof: { ...c.proof!, blocks: c.proof!.blocks.slice(1) } }));
    net.down.delete(3);
    const target = stores[0]!.committedHeight();
    // Traffic keeps proposals coming, so the lagging validator asks for blocks and learns they are pruned.
    const traffic = (async () => {
      for (let k = 0; k < 40 && stores[3]!.committedHeight() < target + 2; k++) await grow(net.nodes[1]!, 1, `b${k}`);
    })();
    await until(() => stores[3]!.committedHeight() >= target, 'validator 3 to catch up');
    await traffic;
    assert.equal(net.nodes[3]!.failure, undefined);
    assert.equal((await metrics[3]!.snapshotsInstalled.get()).values[0]!.value, 1);
    // A peer whose newest snapshot has no certified header yet answers nothing and tells no
    // lie; every lie that was told must have been caught, with its own reason.
    const failures = await counter(metrics[3]!, 'vsmr_snapshot_sync_failures_total');
    assert.ok(lied.size >= 1, 'at least one peer lied');
    if (lied.has(0)) assert.equal((failures.get('root-mismatch') ?? 0) + (failures.get('bad-snapshot') ?? 0), 1, `failures ${[...failures]}`);
    assert.equal(failures.get('bad-qc') ?? 0, lied.has(1) ? 1 : 0);
    assert.equal(failures.get('bad-proof') ?? 0, lied.has(2) ? 1 : 0);
    // It never replayed the pruned blocks: its ledger starts at the installed snapshot.
    assert.ok(stores[3]!.lowestBlockHeight() > 2);
    const h = Math.min(...stores.map((s) => s.committedHeight()));
    for (const s of stores) assert.equal(toHex(s.executed(h)!.stateRoot), toHex(stores[0]!.executed(h)!.stateRoot));
    assert.deepEqual(net.nodes[3]!.app.query(enc.encode('a-3')), enc.encode('v3'));
    // Its core never saw the jumped-over blocks commit; it took their request ids from the
    // installed log, so a committed request relayed to it now is not queued to be proposed again.
    const [relayed] = await net.nodes[3]!.admit([early[0]!]);
    assert.equal(relayed!.kind, 'accept', 'stateless checks pass it');
    assert.equal(net.nodes[3]!.pendingRequest(new DigestMemo().key(early[0]!)), undefined, 'its core refuses it as committed');
  });

  it('a restarted validator recovers from its snapshot and the blocks above it, not from genesis', async () => {
    const node = net.nodes[2]!;
    node.stop();
    net.down.add(2);
    const root = node.status().stateRoot;
    assert.ok(stores[2]!.lowestBlockHeight() > 1, 'its ledger is pruned');
    net.nodes[2] = make(2);
    assert.equal(net.nodes[2]!.status().stateRoot, root);
    net.down.delete(2);
    net.nodes[2]!.start();
    const before = stores[2]!.committedHeight();
    await grow(net.nodes[0]!, 3, 'c');
    await until(() => stores[2]!.committedHeight() > before + 1, 'the restarted validator to commit again');
    assert.equal(net.nodes[2]!.failure, undefined);
  });
});

describe('block sync when one peer falsely says the blocks are pruned', function () {
  this.timeout(60_000);
  const N = 4;
  // Snapshots are taken, so one could be installed, but nothing is pruned: every peer holds every block.
  const policy: SnapshotPolicy = { interval: 4, retainBlocks: 10_000 };
  const stores = Array.from({ length: N }, () => new FakeLedgerStore());
  const metrics = Array.from({ length: N }, (_, i) => createNodeMetrics({ chainId: CHAIN, validator: i }, false));
  const { net, make } = makeCluster(N, stores, policy, metrics);

  before(async () => {
    net.down.add(3);
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
    await grow(net.nodes[0]!, 12, 'p');
  });
  after(() => {
    for (const node of net.nodes) node?.stop();
  });

  it('catches up by blocks from the honest peers rather than by a snapshot on that one word', async () => {
    let lies = 0;
    // Peer 0 says every block is pruned; the others stay silent until it has said so once, so
    // that its word comes first whichever peer validator 3 asks first.
    net.tamperSync[0] = (_answer, fromHeight) => {
      lies++;
      return { pruned: fromHeight + 1 };
    };
    for (const p of [1, 2]) net.tamperSync[p] = (answer) => (lies > 0 ? answer : undefined);
    net.down.delete(3);
    const target = stores[0]!.committedHeight();
    const traffic = (async () => {
      for (let k = 0; k < 40 && stores[3]!.committedHeight() < target + 2; k++) await grow(net.nodes[1]!, 1, `q${k}`);
    })();
    await until(() => stores[3]!.committedHeight() >= target, 'validator 3 to catch up');
    await traffic;
    assert.ok(lies >= 1, 'peer 0 was asked and lied');
    assert.equal(net.nodes[3]!.failure, undefined);
    assert.equal(net.snapshotAsks[3] ?? 0, 0, 'no snapshot asked for');
    assert.equal((await metrics[3]!.snapshotsInstalled.get()).values[0]?.value ?? 0, 0, 'no snapshot installed');
    assert.equal(stores[3]!.lowestBlockHeight(), 1, 'every block replayed');
  });
});

describe('clients waiting on a validator that catches up by snapshot', function () {
  this.timeout(60_000);
  const N = 4;
  const stores = Array.from({ length: N }, () => new FakeLedgerStore());
  const metrics = Array.from({ length: N }, (_, i) => createNodeMetrics({ chainId: CHAIN, validator: i }, false));
  const { net, make } = makeCluster(N, stores, { interval: 4, retainBlocks: 2 }, metrics);
  after(() => {
    for (const node of net.nodes) node?.stop();
  });

  it('are answered: one whose sequence the skipped blocks used and one that expired at once, a live one once it commits', async () => {
    net.down.add(3);
    for (let i = 0; i < N; i++) net.nodes[i] = make(i);
    for (const node of net.nodes) node!.start();
    // Cut off, validator 3 admits two requests and waits for them. The first also reaches
    // validator 0 (a client that retried elsewhere) and commits in a block 3 will never execute.
    const elsewhere = put('retried', 'r');
    const onlyHere = put('only-here', 'h');
    // A third expires while it waits.
    const shortLived = put('short-lived', 's', 3n);
    const [waitElsewhere, waitOnlyHere, waitShortLived] = await net.nodes[3]!.submit([elsewhere, onlyHere, shortLived]);
    assert.ok(waitElsewhere!.committed && waitOnlyHere!.committed && waitShortLived!.committed, 'all three admitted');
    const [there] = await net.nodes[0]!.submit([elsewhere]);
    const committedThere = await there!.committed;
    assert.ok(committedThere && isReceipt(committedThere));
    await grow(net.nodes[0]!, 12, 'w');
    await until(() => [0, 1, 2].every((i) => stores[i]!.lowestBlockHeight() > 2), 'the others to prune');

    net.down.delete(3);
    let answered = false;
    const outcomes = Promise.all([waitElsewhere!.committed, waitOnlyHere!.committed, waitShortLived!.committed]);
    void outcomes.then(() => {
      answered = true;
    });
    // Traffic keeps rounds going, so validator 3 learns it is behind and leads rounds again.
    for (let k = 0; k < 40 && !answered; k++) await grow(net.nodes[1]!, 1, `t${k}`);
    await until(() => answered, 'the waiting requests to be answered');
    const [first, second, third] = await outcomes;
    assert.equal((await metrics[3]!.snapshotsInstalled.get()).values[0]!.value, 1, 'it caught up by snapshot');
    assert.ok(first && !isReceipt(first), `no receipt for a request committed in a skipped block, not ${JSON.stringify(first)}`);
    assert.equal(first.kind, 'sequence-used-below-snapshot');
    assert.deepEqual(third, { kind: 'expired', snapshotHeight: first.snapshotHeight });
    assert.ok(first.snapshotHeight >= committedThere.height && first.snapshotHeight <= stores[3]!.committedHeight(), `installed at ${first.snapshotHeight}`);
    // The core emptied its queue at the install; the runtime put the live request back.
    assert.ok(isReceipt(second!), `a receipt for the request only it had, not ${JSON.stringify(second)}`);
    assert.equal(second.result, Result.OK);
    assert.ok(second.height > first.snapshotHeight, 'committed above the snapshot');
    assert.deepEqual(net.nodes[3]!.app.query(enc.encode('only-here')), enc.encode('h'));
    assert.equal(net.nodes[3]!.waitingRequests, 0);
    assert.equal(net.nodes[3]!.failure, undefined);
  });
});

describe('restart over a pruned LMDB ledger', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsmr-snapshot-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a single validator snapshots, prunes, reopens from snapshot + blocks and keeps committing', async () => {
    const policy: SnapshotPolicy = { interval: 3, retainBlocks: 1 };
    let store = NodeStore.open(dir, { chainId: CHAIN });
    const metrics = [createNodeMetrics({ chainId: CHAIN, validator: 0 }, false)];
    let cluster = makeCluster(1, [store], policy, metrics);
    let node = cluster.make(0);
    cluster.net.nodes[0] = node;
    node.start();
    await grow(node, 10, 'solo');
    node.stop();
    const height = store.committedHeight();
    const snap = store.latestSnapshot()!;
    const root = node.status().stateRoot;
    assert.ok(snap.height >= 9 && snap.height % 3 === 0);
    assert.equal(store.lowestBlockHeight(), snap.height - 1);
    await store.close();

    store = NodeStore.open(dir, { chainId: CHAIN });
    cluster = makeCluster(1, [store], policy, [createNodeMetrics({ chainId: CHAIN, validator: 0 }, false)]);
    node = cluster.make(0);
    cluster.net.nodes[0] = node;
    assert.equal(node.status().stateRoot, root, 'rebuilt from the snapshot and the blocks above it');
    assert.equal(store.committedHeight(), height);
    node.start();
    await grow(node, 4, 'again');
    assert.ok(store.committedHeight() >= height + 4);
    assert.deepEqual(node.app.query(enc.encode('solo-0')), enc.encode('v0'));
    node.stop();
    await store.close();
  });
});
