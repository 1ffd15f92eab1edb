import assert from 'node:assert/strict';
import { type FloodPoint, floodTwins } from '../../bench/e2e/flood-twins.js';
import { type TargetPoint, targetPoints } from '../../bench/e2e/targets.js';

/** A point with what the target rules read; everything not named is a signed n = 4 block-400 default. */
const point = (label: string, over: Partial<TargetPoint> = {}): TargetPoint => ({
  label,
  replicas: 4,
  unsigned: false,
  bls: 'blst',
  batch: 400,
  commandBytes: 128,
  throughput: 1000,
  p50Ms: 100,
  profiled: false,
  clients: 8,
  outstanding: 64,
  maxGapMs: 100,
  maxChainGapMs: 50,
  ...over,
});

describe('bench/e2e/targets', () => {
  it('judges the targets on default points only: a point with its own validation workers is a comparison', () => {
    const pts = [
      point('x64', { throughput: 2500 }),
      point('x64, no validation workers', { throughput: 2700, validationWorkers: 0 }),
      point('load curve x16', { throughput: 1300, outstanding: 16 }),
      point('load curve x16 no workers', { throughput: 1250, outstanding: 16, validationWorkers: 0 }),
      point('load curve x32', { throughput: 1900, outstanding: 32 }),
    ];
    const t = targetPoints(pts);
    assert.equal(t.best?.label, 'x64');
    assert.equal(t.half?.label, 'load curve x16', 'nearest half of 2,500 among default load-curve points');
  });

  it('picks ordering-only, block 1 and the reference workloads by their own rules', () => {
    const pts = [
      point('signed', { throughput: 2000 }),
      point('unsigned 128 B', { unsigned: true, throughput: 5000 }),
      point('unsigned 128 B, block 100', { unsigned: true, batch: 100, throughput: 9000 }),
      point('unsigned 8 B', { unsigned: true, commandBytes: 8, throughput: 6000 }),
      point('block 1 slow', { batch: 1, p50Ms: 40 }),
      point('block 1 fast', { batch: 1, p50Ms: 30, unsigned: true, commandBytes: 8 }),
      point('50 clients', { batch: 100, clients: 50, outstanding: 1 }),
    ];
    const t = targetPoints(pts);
    assert.equal(t.unsignedBig?.label, 'unsigned 128 B', 'blocks of 400 or more, 128-byte commands');
    assert.equal(t.block1?.label, 'block 1 fast');
    assert.equal(t.ref400?.label, 'unsigned 8 B');
    assert.equal(t.ref1?.label, 'block 1 fast');
    assert.equal(t.ref50?.label, '50 clients');
  });

  it('counts a stall on any point, and tells a chain that kept committing from one that stalled', () => {
    const pts = [
      point('fine'),
      point('stalled', { maxGapMs: 2500, maxChainGapMs: 2500, validationWorkers: 0 }),
      point('clients waited, chain committed', { maxGapMs: 2500, maxChainGapMs: 500 }),
      point('old result, no chain figure', { maxGapMs: 2100, maxChainGapMs: null }),
    ];
    const t = targetPoints(pts);
    assert.deepEqual(t.stalls.map((p) => p.label), ['stalled', 'old result, no chain figure']);
    assert.deepEqual(t.clientOnly.map((p) => p.label), ['clients waited, chain committed']);
  });

  it('judges no target on a point under a forged-request flood, and still counts its stall', () => {
    const forgery = { attackers: 2, sent: 1000, answers: {}, identities: 3, cut: 3 };
    const pts = [point('x64', { throughput: 2500 }), point('x64 flooded', { throughput: 2600, forgery, maxGapMs: 3000, maxChainGapMs: 3000 })];
    const t = targetPoints(pts);
    assert.equal(t.best?.label, 'x64');
    assert.deepEqual(t.stalls.map((p) => p.label), ['x64 flooded']);
  });
});

describe('bench/e2e/flood-twins', () => {
  const base: FloodPoint & { label: string } = { label: '', replicas: 4, unsigned: false, bls: 'blst', qc: 'multisig', batch: 400, commandBytes: 128, clients: 8, outstanding: 16, profiled: false };
  const forgery = { attackers: 2, sent: 1000, answers: { 'rejected: bad-signature': 40 }, identities: 3, cut: 3 };
  it('pairs each flood point with the first point run the same way without a flood, and leaves out one without a twin', () => {
    const pts = [
      { ...base, label: 'x16 profiled', profiled: true },
      { ...base, label: 'x16 own workers', validationWorkers: 2 },
      { ...base, label: 'x16' },
      { ...base, label: 'x16 again' },
      { ...base, label: 'x16 flooded', forgery },
      { ...base, label: 'x64 flooded', outstanding: 64, forgery },
      { ...base, label: 'x16 threshold flooded', qc: 'threshold' as const, forgery },
    ];
    assert.deepEqual(
      floodTwins(pts).map(({ flood, quiet }) => [flood.label, quiet.label]),
      [['x16 flooded', 'x16']],
    );
  });
});
