import type { CertificateOps } from '../consensus/certs.js';
import type { NodeMetrics } from '../observability/metrics.js';

/**
 * CertificateOps that time every verification into `vsmr_bls_verify_seconds{kind}`. Wrapped at
 * the runtime boundary, so the consensus core keeps no clock: it sees the same interface and
 * the same answers. Aggregation (combining signatures) is not verification and is not timed.
 */
export function timedCertificateOps(inner: CertificateOps, metrics: Pick<NodeMetrics, 'blsVerifySeconds'>, now: () => number = () => performance.now()): CertificateOps {
  const timed =
    <A extends unknown[]>(kind: string, fn: (...args: A) => boolean) =>
    (...args: A): boolean => {
      const started = now();
      try {
        return fn(...args);
      } finally {
        metrics.blsVerifySeconds.observe({ kind }, (now() - started) / 1000);
      }
    };
  return {
    n: inner.n,
    quorum: inner.quorum,
    verifyVote: timed('vote', (v) => inner.verifyVote(v)),
    verifyQc: timed('qc', (qc) => inner.verifyQc(qc)),
    verifyTimeout: timed('timeout', (t) => inner.verifyTimeout(t)),
    verifyTc: timed('tc', (tc) => inner.verifyTc(tc)),
    newVoteAggregator: (vote) => inner.newVoteAggregator(vote),
    newTimeoutAggregator: (round) => inner.newTimeoutAggregator(round),
  };
}
