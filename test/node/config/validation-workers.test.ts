import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_VALIDATION_WORKERS } from '../../../node/config/node-config.js';
import { MAX_VALIDATION_WORKERS_PER_CORE, maxValidationWorkers, sharedMachineValidationWorkers } from '../../../node/config/validation-workers.js';

describe('sharedMachineValidationWorkers', () => {
  it('gives validators sharing a machine their share of its cores, and no pool below 2 cores each', () => {
    assert.equal(sharedMachineValidationWorkers(4, 2), 0, 'the devnet on a 2-core machine');
    assert.equal(sharedMachineValidationWorkers(4, 7), 0, '1.75 cores each');
    assert.equal(sharedMachineValidationWorkers(4, 8), 2);
    assert.equal(sharedMachineValidationWorkers(3, 16), 5);
    assert.equal(sharedMachineValidationWorkers(1, 2), 2, 'alone on the machine: one per core, as a validator defaults to');
    assert.equal(sharedMachineValidationWorkers(1, 1), 0);
    assert.equal(sharedMachineValidationWorkers(1, 1_000_000), MAX_VALIDATION_WORKERS);
  });

  it('never gives more workers than a validator has cores, nor a pool of one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 512 }), (validators, cores) => {
        const w = sharedMachineValidationWorkers(validators, cores);
        assert.ok(Number.isSafeInteger(w) && w >= 0);
        assert.ok(w * validators <= cores, `${w} workers x ${validators} validators on ${cores} cores`);
        assert.ok(w === 0 || w >= 2);
        // Only under 2 cores each is there no pool.
        assert.equal(w === 0, cores < 2 * validators);
      }),
    );
  });

  it('refuses counts that are not positive integers', () => {
    for (const [validators, cores] of [[0, 2], [-1, 2], [1.5, 2], [4, 0], [4, Number.NaN], [4, 2.5]] as const) {
      assert.throws(() => sharedMachineValidationWorkers(validators, cores), RangeError, `${validators}, ${cores}`);
    }
  });
});

describe('maxValidationWorkers', () => {
  it('allows 4 workers per core, never more than the config bound, and the shared default always fits', () => {
    assert.equal(maxValidationWorkers(2), 8);
    assert.equal(maxValidationWorkers(1_000), MAX_VALIDATION_WORKERS);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 64 }), (cores, validators) => {
        const max = maxValidationWorkers(cores);
        assert.equal(max, Math.min(MAX_VALIDATION_WORKERS_PER_CORE * cores, MAX_VALIDATION_WORKERS));
        assert.ok(sharedMachineValidationWorkers(validators, cores) <= max);
        assert.ok(cores <= max || max === MAX_VALIDATION_WORKERS, 'one per core, a validator\'s own default, is allowed');
      }),
    );
    assert.throws(() => maxValidationWorkers(0), RangeError);
  });
});
