import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue, profileIntervalUs } from '../../bench/e2e/cluster.js';
import { processBreakdown, profileBusy, profileThreadId } from '../../bench/e2e/profile.js';
import { windowDelta, windowSum } from '../../bench/e2e/run.js';

/** A profile of one stack per sample: each entry is [leaf function, leaf url, caller url], 1 ms each. */
function profileOf(stacks: readonly (readonly [string, string, string])[]) {
  const nodes: { id: number; callFrame: { functionName: string; url: string }; children: number[] }[] = [{ id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] }];
  const samples: number[] = [];
  for (const [fn, url, callerUrl] of stacks) {
    const caller = nodes.length + 1;
    const leaf = caller + 1;
    nodes[0]!.children.push(caller);
    nodes.push({ id: caller, callFrame: { functionName: 'caller', url: callerUrl }, children: [leaf] });
    nodes.push({ id: leaf, callFrame: { functionName: fn, url }, children: [] });
    samples.push(leaf);
  }
  samples.push(1); // the last sample only closes the interval of the one before
  return { nodes, startTime: 0, endTime: samples.length * 1000, samples, timeDeltas: samples.map(() => 1000) };
}

describe('bench profile categories', () => {
  it('puts libsodium hashing under hashing and libsodium signature checks under ed25519', () => {
    const sodium = 'file:///x/node_modules/sodium-native/index.js';
    const p = profileOf([
      ['exports.crypto_hash_sha256', sodium, 'file:///x/dist/crypto/hash.js'],
      ['exports.crypto_hash_sha256', sodium, 'file:///x/dist/crypto/hash.js'],
      ['exports.crypto_sign_verify_detached', sodium, 'file:///x/dist/crypto/ed25519/backends.js'],
      ['encodeMessage', 'file:///x/dist/network/codec.js', 'file:///x/dist/node/runtime/p2p-transport.js'],
    ]);
    const { busy } = profileBusy(p, 0, p.endTime);
    assert.equal(busy['hashing-merkle'], 2000);
    assert.equal(busy['ed25519-validation'], 1000);
    assert.equal(busy['encode-decode'], 1000);
  });
});

describe('bench profile threads', () => {
  const codec = ['encodeMessage', 'file:///x/dist/network/codec.js', 'file:///x/dist/node/runtime/p2p-transport.js'] as const;
  const sodium = ['exports.crypto_sign_verify_detached', 'file:///x/node_modules/sodium-native/index.js', 'file:///x/dist/crypto/ed25519/backends.js'] as const;

  it('reads the thread id out of a profile file name', () => {
    assert.equal(profileThreadId('CPU.20261127.164157.30929.0.001.cpuprofile'), 0);
    assert.equal(profileThreadId('CPU.20261127.164159.30929.2.002.cpuprofile'), 2);
    assert.equal(profileThreadId('notes.cpuprofile'), undefined);
  });

  it('holds each thread to its own CPU: the main profile to the main thread, the workers’ to theirs, the rest to helper threads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vsmr-prof-'));
    try {
      // Main thread: encoding only; a worker: signature checks only (the sample counts do not matter, the shares do).
      await writeFile(join(dir, 'CPU.1.2.77.0.001.cpuprofile'), JSON.stringify(profileOf([codec, codec, codec])));
      await writeFile(join(dir, 'CPU.1.2.77.1.002.cpuprofile'), JSON.stringify(profileOf([sodium, sodium])));
      // The process used 10 s: its main thread 6 s, its worker thread 3 s, V8's background threads
      // 0.5 s, the profiler 0.3 s, blst's pool 0.15 s, and 0.05 s no live thread accounts for.
      const helpers = { V8Worker: 0.4, DelayedTaskSche: 0.1, 'v8:ProfEvntProc': 0.3, 'MainThread (native)': 0.15 };
      const b = await processBreakdown(dir, 0, 1e9, 10, { mainSeconds: 6, workersSeconds: 3, helpers });
      assert.equal(b.threads, 2);
      const near = (got: number, want: number) => assert.ok(Math.abs(got - want) < 1e-9, `${got} against ${want}`);
      near(b.cpu['encode-decode'], 6);
      near(b.cpu['ed25519-validation'], 3);
      near(b.cpu['v8-background'], 0.5);
      near(b.cpu.profiler, 0.3);
      near(b.cpu.bls, 0.15);
      near(b.cpu['other-threads'], 0.05);
      // Without the threads' own figures, the old rule: every sample's share of the whole.
      const whole = await processBreakdown(dir, 0, 1e9, 10);
      near(whole.cpu['encode-decode'], 6);
      near(whole.cpu['ed25519-validation'], 4);
      assert.equal(whole.cpu['other-threads'], 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bench cluster', () => {
  it('samples every 1 ms up to 4 validators and proportionally less often above', () => {
    assert.deepEqual([1, 4, 5, 7, 10, 16].map(profileIntervalUs), [1000, 1000, 2000, 2000, 3000, 4000]);
  });
});

describe('bench cluster metrics', () => {
  const text = [
    '# HELP vsmr_view_changes_total Rounds left through a timeout certificate',
    '# TYPE vsmr_view_changes_total counter',
    'vsmr_view_changes_total{chain_id="c",validator="0"} 3',
    'vsmr_view_changes_totally_different 100',
    'vsmr_bytes_out_total{topic="vote"} 10',
    'vsmr_bytes_out_total{topic="consensus"} 32',
  ].join('\n');

  it('reads one metric, summed over its label sets, and nothing with a longer name', () => {
    assert.equal(metricValue(text, 'vsmr_view_changes_total'), 3);
    assert.equal(metricValue(text, 'vsmr_bytes_out_total'), 42);
    assert.equal(metricValue(text, 'vsmr_absent'), undefined);
    assert.equal(metricValue(text, 'vsmr_bytes_out_total', 'topic="vote"'), 10, 'one label set');
    assert.equal(metricValue(text, 'vsmr_bytes_out_total', 'topic="sync"'), undefined);
    assert.equal(metricValue('m{subtype="vote"} 5\nm{a="b",type="vote"} 2', 'm', 'type="vote"'), 2, 'not the tail of another label');
  });

  it('counts a window by the validators read at both of its edges, and says unknown when none was', () => {
    assert.equal(windowDelta([3, 5, undefined], [4, 9, 100]), 4, 'the third validator was not read at the open');
    assert.equal(windowDelta([2, undefined], [2, 7]), 0);
    assert.equal(windowDelta([undefined, 1], [5, undefined]), null);
    // Summed rather than the most: how many requests all validators fetched in the window.
    assert.equal(windowSum([3, 5, undefined], [4, 9, 100]), 5);
    assert.equal(windowSum([undefined, 1], [5, undefined]), null);
  });
});
