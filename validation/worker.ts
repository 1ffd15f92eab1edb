/**
 * The piscina worker module (loaded from dist/validation/worker.js). Pure: every task carries
 * what it needs, so a replacement worker answers exactly like the one it replaces, which is
 * what makes retrying a dead worker's task safe.
 */
import { move } from 'piscina';
import { blsBackend } from '../crypto/bls/index.js';
import type { BlsBackendName } from '../crypto/bls/index.js';
import type { Ed25519BackendName } from '../crypto/ed25519/backends.js';
import { unpackBlsSets, verifyBlsSets } from './bls-job.js';
import { encodeVerdicts, unpackRequests, validateRequest } from './stateless.js';
import type { Verdict } from './verdict.js';

/**
 * Test-only fault injection: the first task to claim `flag` (0 -> 1) dies half way through,
 * by exiting its thread or by hanging. A shared flag, so exactly one attempt in the whole pool
 * fails, whichever worker runs it, and the retry completes.
 */
export interface FaultHook {
  readonly flag: Int32Array;
  readonly mode: 'exit' | 'hang';
}

export interface RequestTask {
  readonly kind: 'requests';
  readonly packed: Uint8Array;
  readonly chainId: string;
  readonly height: number;
  readonly ed25519: Ed25519BackendName;
  readonly fault?: FaultHook;
}

export interface BlsTask {
  readonly kind: 'bls';
  readonly packed: Uint8Array;
  readonly bls: BlsBackendName;
  readonly fault?: FaultHook;
}

export type WorkerTask = RequestTask | BlsTask;

function maybeFault(fault: FaultHook | undefined): void {
  if (fault === undefined || Atomics.compareExchange(fault.flag, 0, 0, 1) !== 0) return;
  if (fault.mode === 'exit') process.exit(1);
  // Blocks until terminated: nobody ever notifies index 1.
  Atomics.wait(fault.flag, 1, 0);
}

export default function run(task: WorkerTask): unknown {
  if (task.kind === 'bls') {
    const sets = unpackBlsSets(task.packed);
    maybeFault(task.fault);
    const { valid, fellBack } = verifyBlsSets(sets, blsBackend(task.bls));
    const out = new Uint8Array(valid.length + 1);
    out.set(valid, 0);
    out[valid.length] = fellBack ? 1 : 0;
    return move(out);
  }
  const requests = unpackRequests(task.packed);
  // Workers always check signatures: the unsafe ordering-only mode checks in place (pool.ts).
  const opts = { chainId: task.chainId, height: task.height, ed25519: task.ed25519 };
  const half = requests.length >> 1;
  const verdicts: Verdict[] = [];
  for (let i = 0; i < requests.length; i++) {
    if (i === half) maybeFault(task.fault);
    verdicts.push(validateRequest(requests[i]!, opts));
  }
  return move(encodeVerdicts(verdicts));
}
