/**
 * Which matrix points the targets are judged on (bench/REPORT.md, "Targets"). Only
 * points run on the cluster's defaults count (validation workers as sharedMachineValidationWorkers
 * gives them): a point that sets its own validation workers is a comparison beside them, not a
 * way to meet a target, and neither is a point under a forged-request flood.
 */
import type { E2eResult } from './run.js';

export type TargetPoint = Pick<
  E2eResult,
  'replicas' | 'unsigned' | 'bls' | 'batch' | 'commandBytes' | 'throughput' | 'p50Ms' | 'profiled' | 'clients' | 'outstanding' | 'maxGapMs' | 'validationWorkers' | 'forgery'
> & { readonly label: string; readonly maxChainGapMs?: number | null };

export interface TargetPoints<P extends TargetPoint> {
  /** The best signed n = 4 point with 128-byte commands and blocks above 1. */
  readonly best?: P;
  /** The load-curve point whose throughput is nearest half the best's. */
  readonly half?: P;
  /** The best ordering-only point with 128-byte commands and blocks of 400 or more. */
  readonly unsignedBig?: P;
  /** The block-1 point with the lowest p50. */
  readonly block1?: P;
  /** The reference systems' workloads (not targets): 8-byte unsigned at block 400+ and 1, 50 closed-loop signed clients. */
  readonly ref400?: P;
  readonly ref1?: P;
  readonly ref50?: P;
  /** Points where neither the clients nor the chain saw a commit for 2 s. */
  readonly stalls: P[];
  /** Points where clients waited over 2 s for a reply while the chain kept committing. */
  readonly clientOnly: P[];
}

export function targetPoints<P extends TargetPoint>(pts: readonly P[]): TargetPoints<P> {
  // A point under a forged-request flood is judged beside its twin (flood-twins.ts), not here;
  // it still counts for stalls.
  const defaults = pts.filter((p) => p.validationWorkers === undefined && p.forgery === undefined);
  const byThroughput = (a: P, b: P) => b.throughput - a.throughput;
  const best = defaults.filter((p) => p.replicas === 4 && !p.unsigned && p.bls === 'blst' && p.batch > 1 && p.commandBytes === 128).sort(byThroughput)[0];
  const unsignedBig = defaults.filter((p) => p.unsigned && p.batch >= 400 && p.commandBytes === 128).sort(byThroughput)[0];
  // Closed loop, so the offered load is set by the commands in flight: the load curve runs the
  // same cluster with fewer of them.
  const curve = defaults.filter((p) => p.label.includes('load curve'));
  const half = best ? curve.sort((a, b) => Math.abs(a.throughput - best.throughput / 2) - Math.abs(b.throughput - best.throughput / 2))[0] : undefined;
  const block1 = defaults.filter((p) => p.batch === 1).sort((a, b) => a.p50Ms - b.p50Ms)[0];
  const reference = (batch: (b: number) => boolean) => defaults.find((p) => p.unsigned && p.commandBytes === 8 && !p.profiled && batch(p.batch));
  // A stall is 2 s in which nothing committed. The clients' gap alone overstates one (clients
  // wait while blocks commit others' commands); the chain's, from the validators' own
  // commit-interval histograms, is a bucket bound. A point stalled only if neither saw a commit
  // for 2 s; old results without the chain's figure fall back on the clients'.
  const stalled = (p: P) => Math.min(p.maxGapMs, p.maxChainGapMs ?? p.maxGapMs) > 2000;
  return {
    ...(best ? { best } : {}),
    ...(half ? { half } : {}),
    ...(unsignedBig ? { unsignedBig } : {}),
    ...(block1 ? { block1 } : {}),
    ...optional('ref400', reference((b) => b >= 400)),
    ...optional('ref1', reference((b) => b === 1)),
    ...optional('ref50', defaults.find((p) => !p.unsigned && !p.profiled && p.clients === 50 && p.outstanding === 1 && p.commandBytes === 128)),
    // Stalls count on every point: no configuration may stall.
    stalls: pts.filter(stalled),
    clientOnly: pts.filter((p) => p.maxGapMs > 2000 && !stalled(p)),
  };
}

function optional<K extends string, P>(key: K, value: P | undefined): { [k in K]?: P } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: P };
}
