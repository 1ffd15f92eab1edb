import { equivocateUnsafe } from '../byzantine-equivocate.js';
import { type BehaviorInfo, type ByzantineBehavior, type ByzantineContext, composeBehaviors } from '../byzantine.js';
import { byzzfuzz } from './byzzfuzz.js';
import { CATALOG } from './catalog.js';
import { twins } from './twins.js';

/** Every behaviour `vsmr sim --behavior` accepts, in the order `--list-behaviors` prints them. */
export const BEHAVIORS: ReadonlyMap<string, BehaviorInfo> = new Map([...CATALOG, twins, byzzfuzz, equivocateUnsafe].map((b) => [b.name, b]));

export function behaviorNames(): string[] {
  return [...BEHAVIORS.keys()];
}

/** Behaviours that need more than f colluders to do harm: excluded from the "at most f" sweeps. */
export const NEEDS_MORE_THAN_F: ReadonlySet<string> = new Set([equivocateUnsafe.name]);

export class UnknownBehaviorError extends Error {
  constructor(readonly behavior: string) {
    super(`unknown Byzantine behaviour ${JSON.stringify(behavior)} (known: ${behaviorNames().join(', ')})`);
    this.name = 'UnknownBehaviorError';
  }
}

/** "a,b" -> the registered behaviours, in order; throws UnknownBehaviorError naming the bad one. */
export function parseBehaviors(spec: string): BehaviorInfo[] {
  const names = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UnknownBehaviorError(spec);
  return names.map((name) => {
    const info = BEHAVIORS.get(name);
    if (!info) throw new UnknownBehaviorError(name);
    return info;
  });
}

/** One composed behaviour for a replica; a leader schedule comes from the first part that has one. */
export function composedInfo(spec: string): BehaviorInfo {
  const parts = parseBehaviors(spec);
  if (parts.length === 1) return parts[0]!;
  const schedule = parts.find((p) => p.leaderSchedule)?.leaderSchedule;
  const windows = parts.flatMap((p) => (p.faultWindowMs ? [p.faultWindowMs] : []));
  return {
    name: parts.map((p) => p.name).join(','),
    description: parts.map((p) => p.description).join('; then '),
    create: (ctx: ByzantineContext): ByzantineBehavior => composeBehaviors(parts.map((p) => p.create(ctx))),
    ...(schedule ? { leaderSchedule: schedule } : {}),
    ...(parts.some((p) => p.scenarioRounds) ? { scenarioRounds: Math.max(...parts.map((p) => p.scenarioRounds ?? 0)) } : {}),
    ...(windows.length > 0 ? { faultWindowMs: (base: number) => Math.max(...windows.map((w) => w(base))) } : {}),
  };
}
