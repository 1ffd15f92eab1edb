/**
 * Outcome of applying one committed command. The code is part of the committed log (each log
 * leaf binds position, request id and code), so codes are wire values: never renumber one,
 * only add new ones. A command whose code is not OK was committed as failed and changed no state.
 */
export const Result = Object.freeze({
  OK: 0,
  /** delete of a key that is absent. */
  NOT_FOUND: 1,
  /** cas whose expected value (or expected absence) did not match the current state. */
  CAS_MISMATCH: 2,
  /** transfer of more than the sender's balance. */
  INSUFFICIENT_BALANCE: 3,
  /** transfer or mint of amount 0. */
  INVALID_AMOUNT: 4,
  /** the credited balance would exceed 2^64-1. */
  OVERFLOW: 5,
  /** the command bytes do not decode; committed anyway so every replica logs the same entries. */
  MALFORMED: 6,
  /** mint on an application configured without minting. */
  UNAUTHORIZED: 7,
  /**
   * a request whose client and sequence already committed (or fell out of the client's replay
   * window): a replayed copy of a signed request, committed as failed so it cannot act twice.
   */
  REPLAYED: 8,
  /** a request committed in a block above its expiry (the last height at which it may commit). */
  EXPIRED: 9,
} as const);

export type Result = (typeof Result)[keyof typeof Result];

const NAMES: ReadonlyMap<number, keyof typeof Result> = new Map(
  (Object.keys(Result) as (keyof typeof Result)[]).map((name) => [Result[name], name]),
);

export function isResult(code: unknown): code is Result {
  return typeof code === 'number' && NAMES.has(code);
}

/** `OK`, `CAS_MISMATCH`, ... for logs and CLIs; `UNKNOWN(n)` for a code this build does not know. */
export function resultName(code: number): string {
  return NAMES.get(code) ?? `UNKNOWN(${code})`;
}
