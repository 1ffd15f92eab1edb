import assert from 'node:assert/strict';
import { FakeCertificateOps } from '../../../node/consensus/fake-certs.js';
import { createNodeMetrics } from '../../../node/observability/metrics.js';
import { timedCertificateOps } from '../../../node/runtime/timed-certs.js';
import { genesisQc } from '../../../protocol/block.js';

describe('runtime/timed-certs', () => {
  it('times each verification by kind and returns the inner answer unchanged', async () => {
    const metrics = createNodeMetrics({ chainId: 'c', validator: 0 }, false);
    let t = 0;
    const certs = timedCertificateOps(new FakeCertificateOps('c', 4), metrics, () => (t += 2));
    const qc = genesisQc('c');
    assert.equal(certs.verifyQc(qc), true);
    assert.equal(certs.verifyQc({ ...qc, certificate: Uint8Array.of(1) }), false);
    assert.equal(certs.verifyVote({ vote: qc.vote, signer: 9, signature: new Uint8Array(32) }), false);
    const values = (await metrics.blsVerifySeconds.get()).values;
    const count = (kind: string) => values.find((v) => v.metricName === 'vsmr_bls_verify_seconds_count' && v.labels['kind'] === kind)?.value;
    const sum = values.find((v) => v.metricName === 'vsmr_bls_verify_seconds_sum' && v.labels['kind'] === 'qc')?.value;
    assert.equal(count('qc'), 2);
    assert.equal(count('vote'), 1);
    assert.equal(count('tc'), undefined);
    assert.equal(sum, 0.004, 'two calls of 2 ms each');
    assert.equal(certs.quorum, 3);
  });
});
