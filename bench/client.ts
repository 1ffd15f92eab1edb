/**
 * Client-side cost of verification (issue 6): verifying one proof bundle (certificate + log
 * inclusion proof + state proof) with each BLS backend, and certificate size against n for the
 * multi-signature and threshold QC forms. Writes bench/results/client.json.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { blsBackend } from '../crypto/bls/index.js';
import { encodedQcSize } from '../crypto/qc/codec.js';
import { ValidatorSet } from '../crypto/qc/validator-set.js';
import { verifyBundle } from '../client/verify.js';
import { bundleToJson, parseBundle } from '../protocol/bundle.js';
import { buildCertificateExample } from '../node/cli/cert-example.js';
import { measure, record, table, writeJson, type BenchRecord, benchPath } from './harness.js';

const quick = process.argv.includes('--quick');
const opts = quick ? { minMs: 200, minIterations: 3 } : { minMs: 2000, minIterations: 20 };

const ex = buildCertificateExample();
const { state: _state, log: _log, ...certOnly } = ex.bundle;
const json = bundleToJson(ex.bundle);
const records: BenchRecord[] = [];
for (const name of ['blst', 'noble'] as const) {
  const backend = blsBackend(name);
  const set = ValidatorSet.load(backend, ex.publicKeys.map((publicKey, i) => ({ publicKey, proofOfPossession: ex.proofsOfPossession[i]! })));
  const anchor = { chainId: ex.chainId, validatorSet: set };
  records.push(record('verify-bundle (parse + certificate + log proof + state proof)', name, 4, measure(() => verifyBundle(parseBundle(json), anchor), opts)));
  records.push(record('verify-certificate-only', name, 4, measure(() => verifyBundle(certOnly, anchor), opts)));
}
console.log(table(records));

// Header as a client holds it: round, height, author, parent vote data, two hashes, executed state.
const HEADER_BYTES = 8 + 8 + 4 + 88 + 32 + 32 + 104;
const sizes = [4, 16, 64, 100, 256, 1024].map((n) => {
  const multisig = encodedQcSize('multisig', n);
  const threshold = encodedQcSize('threshold', n);
  const jsonWith = (qcBytes: number) => bundleToJson({ ...certOnly, qc: new Uint8Array(qcBytes) }).length;
  return {
    n,
    multisigQcBytes: multisig,
    thresholdQcBytes: threshold,
    multisigCertificateBytes: HEADER_BYTES + multisig,
    thresholdCertificateBytes: HEADER_BYTES + threshold,
    multisigBundleJsonBytes: jsonWith(multisig),
    thresholdBundleJsonBytes: jsonWith(threshold),
  };
});
console.table(sizes);
const proofBytes = { logProofHashes: ex.bundle.log?.path.length ?? 0, stateProofBytes: ex.bundle.state?.proof.length ?? 0, fullBundleJsonBytes: json.length };
console.log(proofBytes);

const out = benchPath('results', 'client.json');
await writeJson(out, {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  quick,
  verify: records,
  certificateSizes: sizes,
  exampleBundle: proofBytes,
});
console.log(`wrote ${join('bench', 'results', 'client.json')}`);
