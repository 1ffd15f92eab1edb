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
/** Worker threads per core past which a pool only costs memory (see maxValidationWorkers). */
export const MAX_VALIDATION_WORKERS_PER_CORE = 4;

/**
 * The most validation workers a validator may start on a machine of `cores` cores: 4 per core,
 * and never above MAX_VALIDATION_WORKERS. Each worker is a V8 isolate of its own (some 15 MB
 * before any work) and checks one request at a time, so workers beyond the cores add only
 * memory and context switches: a config asking for 1,000 on 2 cores took 15 GB and then ran
 * the heap out before the validator served anything.
 */
export function maxValidationWorkers(cores: number = availableParallelism()): number {
  if (!Number.isSafeInteger(cores) || cores < 1) throw new RangeError(`cores must be a positive integer, got ${cores}`);
  return Math.min(MAX_VALIDATION_WORKERS_PER_CORE * cores, MAX_VALIDATION_WORKERS);
}

export function sharedMachineValidationWorkers(validators: number, cores: number = availableParallelism()): number {
  if (!Number.isSafeInteger(validators) || validators < 1) throw new RangeError(`validators must be a positive integer, got ${validators}`);
  if (!Number.isSafeInteger(cores) || cores < 1) throw new RangeError(`cores must be a positive integer, got ${cores}`);
  const share = Math.floor(cores / validators);
  return share >= 2 ? Math.min(share, MAX_VALIDATION_WORKERS) : 0;
}
