/** fast-check generators shared by the application tests. */
import fc from 'fast-check';
import type { Command } from '../../../protocol/command.js';
import { MAX_ACCOUNT_BYTES, MAX_AMOUNT, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../../protocol/command.js';

export const CHAIN = 'vsmr-test';

// Plain objects, so deepEqual against decoded commands compares contents, not prototypes.
const plain = { noNullPrototype: true } as const;
const bytes = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength });
const amount = fc.bigInt({ min: 0n, max: MAX_AMOUNT });

/** Any valid command, lengths over the whole allowed range (for the codec). */
export const anyCommand: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: bytes(1, MAX_KEY_BYTES), value: bytes(0, MAX_VALUE_BYTES) }, plain),
  fc.record({ type: fc.constant('delete' as const), key: bytes(1, MAX_KEY_BYTES) }, plain),
  fc.record({
    type: fc.constant('cas' as const),
    key: bytes(1, MAX_KEY_BYTES),
    expected: fc.option(bytes(0, 3000), { nil: null }),
    value: bytes(0, 3000),
  }, plain),
  fc.record({
    type: fc.constant('transfer' as const),
    from: bytes(1, MAX_ACCOUNT_BYTES),
    to: bytes(1, MAX_ACCOUNT_BYTES),
    amount,
  }, plain),
  fc.record({ type: fc.constant('mint' as const), account: bytes(1, MAX_ACCOUNT_BYTES), amount }, plain),
);

// Tiny alphabets so that random sequences hit the same keys and accounts again and again:
// that is where cas, delete, overdraft and overflow behaviour shows.
const smallKey = fc.uint8Array({ minLength: 1, maxLength: 2, max: 2 });
const smallValue = fc.uint8Array({ minLength: 0, maxLength: 2, max: 2 });
const smallAccount = fc.uint8Array({ minLength: 1, maxLength: 1, max: 3 });
const smallAmount = fc.oneof(
  fc.bigInt({ min: 0n, max: 20n }),
  fc.constantFrom(MAX_AMOUNT, MAX_AMOUNT - 1n, 1n << 63n),
);

/** Commands over a handful of keys and accounts, so they interact. */
export const interactingCommand: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: smallKey, value: smallValue }, plain),
  fc.record({ type: fc.constant('delete' as const), key: smallKey }, plain),
  fc.record({ type: fc.constant('cas' as const), key: smallKey, expected: fc.option(smallValue, { nil: null }), value: smallValue }, plain),
  fc.record({ type: fc.constant('transfer' as const), from: smallAccount, to: smallAccount, amount: smallAmount }, plain),
  fc.record({ type: fc.constant('mint' as const), account: smallAccount, amount: smallAmount }, plain),
);

/** Byte strings over 0..255 keyed state, for the generic tree. */
export const stateMap = (maxKeys: number) =>
  fc.uniqueArray(fc.tuple(bytes(0, 6), bytes(0, 8)), {
    maxLength: maxKeys,
    selector: ([k]) => Buffer.from(k).toString('hex'),
  });
