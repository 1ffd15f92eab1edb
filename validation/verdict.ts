/**
 * Reason-coded validation verdicts.
 *
 * REJECT means the sender is at fault (it sent something no honest client or relay would):
 * the network layer penalises the peer. IGNORE means the request is merely stale, duplicate or
 * not admissible right now: it is dropped quietly. The reason strings are stable (metrics,
 * tests, client error messages); the numeric codes are stable too, because they cross the
 * worker boundary and may be logged, so new reasons get new codes, never reused ones.
 */

export const REJECT_REASONS = [
  'malformed',
  'oversized',
  'wrong-chain',
  'bad-signature',
  'bad-command',
  'unauthorized-transfer',
] as const;

// 'duplicate', 'sequence-conflict' and 'sequence-too-far' came from a stateful mempool that the
// node no longer has; they keep their codes (a code is never reused).
export const IGNORE_REASONS = [
  'expired',
  'replayed',
  'duplicate',
  'sequence-conflict',
  'sequence-too-far',
  'busy',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

export type Verdict =
  | { readonly kind: 'accept'; readonly id: Uint8Array }
  | { readonly kind: 'reject'; readonly reason: RejectReason }
  | { readonly kind: 'ignore'; readonly reason: IgnoreReason };

export function accept(id: Uint8Array): Verdict {
  return { kind: 'accept', id };
}

export function reject(reason: RejectReason): Verdict {
  return { kind: 'reject', reason };
}

export function ignore(reason: IgnoreReason): Verdict {
  return { kind: 'ignore', reason };
}

/** "accept", or "reject:<reason>" / "ignore:<reason>": handy for logs and test tables. */
export function verdictLabel(v: Verdict): string {
  return v.kind === 'accept' ? 'accept' : `${v.kind}:${v.reason}`;
}

// Wire codes: 0 accept, 1..63 reject, 64..127 ignore.
const REJECT_BASE = 1;
const IGNORE_BASE = 64;

export function verdictCode(v: Verdict): number {
  if (v.kind === 'accept') return 0;
  if (v.kind === 'reject') return REJECT_BASE + REJECT_REASONS.indexOf(v.reason);
  return IGNORE_BASE + IGNORE_REASONS.indexOf(v.reason);
}

/** Inverse of verdictCode; `id` is used for accept only. Throws on an unknown code (a bug, not input). */
export function verdictFromCode(code: number, id: Uint8Array): Verdict {
  if (code === 0) return accept(id);
  if (code >= IGNORE_BASE) {
    const reason = IGNORE_REASONS[code - IGNORE_BASE];
    if (reason !== undefined) return ignore(reason);
  } else {
    const reason = REJECT_REASONS[code - REJECT_BASE];
    if (reason !== undefined) return reject(reason);
  }
  throw new RangeError(`unknown verdict code ${code}`);
}
