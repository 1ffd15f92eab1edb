import { availableParallelism } from 'node:os';
import { MAX_VALIDATION_WORKERS } from './node-config.js';

/**
 * The validation worker threads each of `validators` validator processes gets by default when
 * they share one machine's `cores` (a devnet, a benchmark cluster). A validator on a machine of
 * its own defaults to one worker per core (validation/pool.ts); validators sharing one get that
 * rule applied to their share of it, floor(cores / validators), and none where the share is under
 * 2 cores. A worker pays only when it runs beside its main thread on a core that would otherwise
 * idle: where the main threads already want every core, each hand-off is two context switches
 * and a queue for the same cores. Measured on 2 cores with 4 validators, two machines apart
 * (docs/BENCHMARKS.md, "Validation workers on a shared machine"): without workers signed x64 ran 1.2-1.7x the
 * throughput at a lower p50.
 */
export function sharedMachineValidationWorkers(validators: number, cores: number = availableParallelism()): number {
  if (!Number.isSafeInteger(validators) || validators < 1) throw new RangeError(`validators must be a positive integer, got ${validators}`);
  if (!Number.isSafeInteger(cores) || cores < 1) throw new RangeError(`cores must be a positive integer, got ${cores}`);
  const share = Math.floor(cores / validators);
  return share >= 2 ? Math.min(share, MAX_VALIDATION_WORKERS) : 0;
}
