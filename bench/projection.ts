/**
 * `npm run bench:projection [-- --quick]`: projections past one machine. The simulator gives
 * what the protocol does per committed block at each n (messages, bytes, virtual rounds) and
 * this machine gives what each operation costs (BLS and ed25519 measured here, messaging CPU per
 * byte from the messaging floor in bench/results/e2e.json when present). The projection is the
 * product: the busiest replica's (the leader's) CPU per block with one machine per replica, so
 * an upper bound on commands/s where CPU, not bandwidth or latency, is the limit.
 *
 * This is an analytic model fed by the simulator's counts, not a simulation with CPU costs in
 * its event loop: the simulator has no cost hook (it runs replicas at zero CPU time).
 */
import { readFile } from 'node:fs/promises';
import { blsBackend, generateBlsKeyPair } from '../crypto/bls/index.js';
import { MultisigQcScheme, ValidatorSet } from '../crypto/qc/index.js';
import { runSeed } from '../sim/simulation.js';
import { COMPACT_REF_BYTES, measureValidationCeiling } from './e2e/floors.js';
import { benchPath, measure, significant, writeJson } from './harness.js';

const quick = process.argv.includes('--quick');
const SIZES = quick ? [4, 16] : [4, 10, 16, 32, 64, 100, 128];
const BATCHES = [100, 1000];
const REQUEST_BYTES = 128 + 136;
const o = { minMs: quick ? 20 : 100, minIterations: 3 };
const r3 = (v: number) => significant(v);

/**
 * Messaging CPU per byte sent, as the runtime itself paid it: the messaging category of the
 * last e2e matrix's profiled n = 4, batch 100 point (CPU of both ends, noise, yamux and streams)
 * over the bytes the validators sent each other there. Per-message costs at that block size are
 * in it. A floor would not do: with one frame per host a round it leaves them out (0.012 us a
 * byte), and gossiping each request put a message's cost on every ~250 bytes (0.38).
 */
async function messagingUsPerByte(): Promise<{ usPerByte: number; source: string }> {
  try {
    const e2e = JSON.parse(await readFile(benchPath('results', 'e2e.json'), 'utf8')) as {
      points: { replicas: number; batch: number; profiled: boolean; committed: number; breakdown: { messaging: number }; wireBytesPerCommand?: { total: number } | null }[];
    };
    const p = e2e.points.find((x) => x.replicas === 4 && x.batch === 100 && x.profiled && (x.wireBytesPerCommand?.total ?? 0) > 0 && x.committed > 0);
    if (p?.wireBytesPerCommand) {
      const bytes = p.wireBytesPerCommand.total * p.committed;
      return { usPerByte: (p.breakdown.messaging * 1e6) / bytes, source: `messaging CPU over wire bytes at the profiled n=${p.replicas}, batch ${p.batch} point of bench/results/e2e.json` };
    }
  } catch {
    // No e2e results yet: fall back to the design brief's gossipsub measurement (12 MB/s).
  }
  return { usPerByte: 1e6 / 12e6, source: 'DESIGN.md gossipsub figure (12 MB/s), no e2e results found' };
}

const bls = blsBackend('blst');
const msg = new Uint8Array(32).fill(7);
const sk = generateBlsKeyPair(bls).secretKey;
const signUs = measure(() => bls.sign(sk, msg), o).msPerOp * 1000;
const { ed25519VerifiesPerSecSingleCore } = measureValidationCeiling(4, quick);
const edUs = 1e6 / ed25519VerifiesPerSecSingleCore;
const net = await messagingUsPerByte();

const records = [];
for (const n of SIZES) {
  const sim = runSeed({ n, seed: 1, rounds: quick ? 30 : 60, crypto: 'fake' });
  const pairs = Array.from({ length: n }, () => generateBlsKeyPair(bls));
  const set = ValidatorSet.loadWithoutProofsOfPossession(
    bls,
    pairs.map((p) => p.publicKey.bytes),
  );
  const q = set.quorum;
  const sigs = pairs.map((p) => bls.sign(p.secretKey, msg));
  const votes = Array.from({ length: q }, (_, i) => ({ publicKey: pairs[i]!.publicKey, message: msg, signature: sigs[i]! }));
  const verifyVotesUs = measure(() => bls.verifyBatch(votes), o).msPerOp * 1000;
  const scheme = new MultisigQcScheme(set);
  const agg = scheme.newAggregator(msg);
  for (let i = 0; i < q; i++) agg.add(i, sigs[i]!.bytes);
  const qc = agg.certificate!;
  const buildUs = measure(() => {
    const a = scheme.newAggregator(msg);
    for (let i = 0; i < q; i++) a.add(i, sigs[i]!.bytes);
  }, o).msPerOp * 1000;
  const qcVerifyUs = measure(() => scheme.verify(qc), o).msPerOp * 1000;
  const perBatch = BATCHES.map((batch) => {
    // The leader: n-1 copies of the block out, q votes in and checked, a QC built, its own
    // vote, the parent QC checked, and every request of the block checked once. Its clients'
    // share of the block (1/n, clients spread evenly) it also relays to the n-1 others. The
    // block goes out compact (node/runtime/compact-proposals.ts): a 33-byte reference per
    // request the others hold, which at saturation is nearly all of them.
    const relayBytes = (n - 1) * (batch / n) * REQUEST_BYTES;
    const fixedUs = verifyVotesUs + buildUs + signUs + qcVerifyUs + batch * edUs;
    const leaderUs = ((n - 1) * batch * COMPACT_REF_BYTES + relayBytes + sim.bytesPerBlock) * net.usPerByte + fixedUs;
    const fullUs = ((n - 1) * batch * REQUEST_BYTES + relayBytes + sim.bytesPerBlock) * net.usPerByte + fixedUs;
    return {
      batch,
      leaderCpuMsPerBlock: r3(leaderUs / 1000),
      projectedCommandsPerSec: r3((batch * 1e6) / leaderUs),
      projectedCommandsPerSecFullProposals: r3((batch * 1e6) / fullUs),
    };
  });
  records.push({
    n,
    quorum: q,
    messagesPerBlock: sim.messagesPerBlock,
    consensusBytesPerBlock: sim.bytesPerBlock,
    virtualMsPerBlock: r3(sim.committedBlocks > 0 ? sim.virtualMs / sim.committedBlocks : 0),
    blsVerifyVotesUs: r3(verifyVotesUs),
    qcBuildUs: r3(buildUs),
    qcVerifyUs: r3(qcVerifyUs),
    perBatch,
  });
  process.stderr.write(`projection n=${n}: ${perBatch.map((b) => `batch ${b.batch}: ${b.projectedCommandsPerSec}/s`).join(', ')}\n`);
}
await writeJson(benchPath('results', 'projection.json'), {
  benchmark: 'projection',
  date: new Date().toISOString(),
  quick,
  model:
    'analytic: simulator counts (fake crypto, default link delay) x measured per-operation costs; leader CPU per block with one machine per replica (compact proposals, and its 1/n share of the request relay); bandwidth and link latency not limiting',
  costs: { blsSignUs: r3(signUs), ed25519VerifyUs: r3(edUs), messagingUsPerByte: significant(net.usPerByte), messagingSource: net.source },
  records,
});
process.stderr.write('wrote bench/results/projection.json\n');
