/**
 * `npm run bench:crypto [-- --quick] [-- --out FILE]`: cost of every cryptographic operation
 * the protocol uses, per backend, written to bench/results/crypto.json.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { BLS_BACKEND_NAMES, type BlsBackend, blsBackend, generateBlsKeyPair, popProve } from '../crypto/bls/index.js';
import { type Ed25519BackendName, ed25519Backend, ed25519KeypairFromSeed } from '../crypto/ed25519/backends.js';
import { sha256, sha256Noble } from '../crypto/hash.js';
import { combineCheckedPartials, dealThresholdKeys, encodedQcSize, MultisigQcScheme, type QcScheme, ThresholdQcScheme, ValidatorSet } from '../crypto/qc/index.js';
import { type BenchRecord, type MeasureOptions, measure, record, table, writeJson, benchPath } from './harness.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIndex = args.indexOf('--out');
const out = resolve(outIndex >= 0 && args[outIndex + 1] ? args[outIndex + 1]! : benchPath('results', 'crypto.json'));

const SIZES = quick ? [4, 16] : [4, 16, 64, 100];
const fast: MeasureOptions = quick ? { minMs: 50, minIterations: 3 } : { minMs: 400, minIterations: 20 };
const slow: MeasureOptions = quick ? { minMs: 20, minIterations: 1 } : { minMs: 300, minIterations: 3 };
const opts = (backend: string) => (backend === 'noble' ? slow : fast);

const records: BenchRecord[] = [];
const push = (r: BenchRecord) => {
  records.push(r);
  process.stderr.write(`  ${r.op} ${r.backend} n=${r.n}: ${r.msPerOp} ms\n`);
};
const digest = randomBytes(32);

function setup(bls: BlsBackend, n: number) {
  const pairs = Array.from({ length: n }, () => generateBlsKeyPair(bls));
  // In-process keys: the PoP check is measured separately ("pop-verify"), not n times here.
  const set = ValidatorSet.loadWithoutProofsOfPossession(
    bls,
    pairs.map((p) => p.publicKey.bytes),
  );
  return { pairs, set };
}

function qcBuildAndVerify(scheme: QcScheme, shares: Uint8Array[], backend: string, n: number) {
  const q = scheme.quorum;
  push(
    record(`${scheme.kind}-qc-build`, backend, n, measure(() => {
      const agg = scheme.newAggregator(digest);
      for (let i = 0; i < q; i++) agg.add(i, shares[i]!);
      if (!agg.certificate) throw new Error('no QC formed');
    }, opts(backend)), `q = ${q}, shares not pre-verified`),
  );
  const agg = scheme.newAggregator(digest);
  for (let i = 0; i < q; i++) agg.add(i, shares[i]!);
  const qc = agg.certificate!;
  push(record(`${scheme.kind}-qc-verify`, backend, n, measure(() => scheme.verify(qc), opts(backend)), `q = ${q}`));
}

for (const name of BLS_BACKEND_NAMES) {
  process.stderr.write(`BLS ${name}\n`);
  const bls = blsBackend(name);
  const o = opts(name);
  const kp = generateBlsKeyPair(bls);
  const sig = bls.sign(kp.secretKey, digest);
  // A fresh backend per call: the message is hashed to the curve every time (noble memoises it
  // per backend instance, which a replica's repeated digests benefit from; measured apart below).
  push(record('bls-sign', name, 1, measure(() => blsBackend(name).sign(kp.secretKey, digest), o), 'message not hashed before'));
  push(record('bls-verify', name, 1, measure(() => blsBackend(name).verify(kp.publicKey, digest, sig), o), 'message not hashed before'));
  push(record('bls-verify-hashed-message', name, 1, measure(() => bls.verify(kp.publicKey, digest, sig), o), 'message hashed before by this backend (noble memoises hash-to-curve; blst does not)'));
  const pop = popProve(bls, kp.secretKey);
  // Cold, as at genesis load: each proof is checked once, on its own message.
  push(record('pop-verify', name, 1, measure(() => ValidatorSet.load(blsBackend(name), [{ publicKey: kp.publicKey.bytes, proofOfPossession: pop.bytes }]), o)));
  push(record('bls-decode-signature', name, 1, measure(() => bls.signatureFromBytes(sig.bytes), o), 'includes the subgroup check'));

  const batchN = quick ? 8 : 64;
  const batch = Array.from({ length: batchN }, () => {
    const k = generateBlsKeyPair(bls);
    const message = randomBytes(32);
    return { publicKey: k.publicKey, message, signature: bls.sign(k.secretKey, message) };
  });
  // Independent messages, hashed afresh (a fresh backend per call), in quick and full runs alike.
  push(record('bls-batch-verify', name, batchN, measure(() => blsBackend(name).verifyBatch(batch), o), 'random 64-bit scalars, one multi-pairing'));
  push(
    record('bls-verify-one-by-one', name, batchN, measure(() => {
      const fresh = blsBackend(name);
      return batch.every((s) => fresh.verify(s.publicKey, s.message, s.signature));
    }, o)),
  );

  for (const n of SIZES) {
    const { pairs, set } = setup(bls, n);
    const sigs = pairs.map((p) => bls.sign(p.secretKey, digest));
    push(record('bls-aggregate-signatures', name, n, measure(() => bls.aggregateSignatures(sigs), o)));
    // From here on the digest is hashed already (noble's memo), as for a replica checking the QC
    // on the digest it voted on: results before 2026-11-26 had noble hash it on every check.
    const agg = bls.aggregateSignatures(sigs);
    push(record('bls-fast-aggregate-verify', name, n, measure(() => bls.fastAggregateVerify(set.publicKeys, digest, agg), o), 'message hashed before (as for a replica checking the QC on the digest it voted on)'));
    const multisig = new MultisigQcScheme(set);
    qcBuildAndVerify(multisig, sigs.map((s) => s.bytes), name, n);

    const deal = dealThresholdKeys(n);
    const threshold = new ThresholdQcScheme(bls, deal.setup);
    const partials = deal.shares.map((s) => threshold.signShare(bls.secretKeyFromBytes(s), digest));
    qcBuildAndVerify(threshold, partials, name, n);
    const ids = Array.from({ length: threshold.quorum }, (_, i) => i);
    const decoded = ids.map((i) => bls.signatureFromBytes(partials[i]!));
    push(
      record('threshold-combine', name, n, measure(() => combineCheckedPartials(bls, ids, decoded), o), `Lagrange combination (noble, short integer weights) over q = ${threshold.quorum} decoded partials`),
    );
  }
}

process.stderr.write('ed25519\n');
for (const name of ['sodium', 'node'] satisfies Ed25519BackendName[]) {
  const ed = ed25519Backend(name);
  const key = ed25519KeypairFromSeed(randomBytes(32));
  const message = randomBytes(128);
  const s = ed.sign(key.secretKey, message);
  push(record('ed25519-sign', name, 1, measure(() => ed.sign(key.secretKey, message), fast)));
  push(record('ed25519-verify', name, 1, measure(() => ed.verify(key.publicKey, message, s), fast), '128-byte message'));
}

process.stderr.write('hashing\n');
const mib = randomBytes(1 << 20);
push(record('sha256-1MiB', 'node:crypto', 1, measure(() => sha256(mib), fast)));
push(record('sha256-1MiB', 'noble', 1, measure(() => sha256Noble(mib), slow)));

const sizes = [4, 16, 64, 100].flatMap((n) => [
  { n, kind: 'multisig', bytes: encodedQcSize('multisig', n) },
  { n, kind: 'threshold', bytes: encodedQcSize('threshold', n) },
]);

const find = (op: string, backend: string, n: number) => records.find((r) => r.op === op && r.backend === backend && r.n === n)?.msPerOp;
const blstVerify = find('bls-verify', 'blst', 1)!;
const nobleVerify = find('bls-verify', 'noble', 1)!;
const nMax = SIZES.at(-1)!;
const qcVerifyMax = find('multisig-qc-verify', 'blst', nMax)!;
const targets = {
  blstVerifySpeedupOverNoble: { value: Number((nobleVerify / blstVerify).toFixed(1)), target: '>= 15', met: nobleVerify / blstVerify >= 15 },
  qcVerifyAtMaxNOverSingleVerify: { n: nMax, value: Number((qcVerifyMax / blstVerify).toFixed(2)), target: '<= 2', met: qcVerifyMax / blstVerify <= 2 },
};

const result = {
  benchmark: 'crypto',
  date: new Date().toISOString(),
  quick,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  records,
  qcBytes: sizes,
  targets,
};
await writeJson(out, result);
process.stdout.write(`${table(records)}\n\nQC bytes:\n`);
for (const s of sizes) process.stdout.write(`  n=${String(s.n).padEnd(4)} ${s.kind.padEnd(10)} ${s.bytes} B\n`);
process.stdout.write(
  `\nblst verify is ${targets.blstVerifySpeedupOverNoble.value}x faster than noble (target >= 15x)\n` +
    `multisig QC verify at n=${nMax} costs ${targets.qcVerifyAtMaxNOverSingleVerify.value}x one blst verify (target <= 2x)\n` +
    `wrote ${out}\n`,
);
