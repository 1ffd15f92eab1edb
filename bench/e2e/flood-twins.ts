/**
 * The matrix's forged-request flood points beside their twins: the same load on the same
 * cluster configuration without the flood (bench/REPORT.md, "Under a forged-request flood").
 * Matched by what the runs were given, not by label, so a twin is found however points are named.
 */
import type { E2eResult } from './run.js';

export type FloodPoint = Pick<E2eResult, 'replicas' | 'unsigned' | 'bls' | 'qc' | 'batch' | 'commandBytes' | 'clients' | 'outstanding' | 'profiled' | 'validationWorkers' | 'maxPendingRequests' | 'forgery'>;

/** Each flood point with the first point that ran the same configuration without a flood; flood points without one are left out. */
export function floodTwins<P extends FloodPoint>(pts: readonly P[]): { readonly flood: P; readonly quiet: P }[] {
  const same = (a: P, b: P) =>
    a.replicas === b.replicas &&
    a.unsigned === b.unsigned &&
    a.bls === b.bls &&
    a.qc === b.qc &&
    a.batch === b.batch &&
    a.commandBytes === b.commandBytes &&
    a.clients === b.clients &&
    a.outstanding === b.outstanding &&
    a.profiled === b.profiled &&
    a.validationWorkers === b.validationWorkers &&
    a.maxPendingRequests === b.maxPendingRequests;
  return pts.flatMap((flood) => {
    if (flood.forgery === undefined) return [];
    const quiet = pts.find((p) => p.forgery === undefined && same(p, flood));
    return quiet === undefined ? [] : [{ flood, quiet }];
  });
}
