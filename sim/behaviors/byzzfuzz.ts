import type { ConsensusAction } from '../../node/consensus/messages.js';
import { type BehaviorInfo, type ByzantineContext, behavior, isMessage, roundOf } from '../byzantine.js';
import { Prng } from '../prng.js';
import { SeenCerts, smallScopeMutation } from './catalog.js';

/**
 * ByzzFuzz (Winter et al., "Randomized Testing of Byzantine Fault Tolerant Algorithms"): a
 * seeded schedule of a few network faults (in round r, messages cross a random partition of
 * all replicas only inside each side) and a few process faults (in round r, a Byzantine
 * replica's messages reach a random subset of peers in a small-scope mutated form: round or
 * height +-1, swapped parent). Faults sit in the first FUZZ_ROUNDS rounds; the seed names the
 * whole schedule, so a failing seed replays exactly.
 */

export const FUZZ_ROUNDS = 15;
const NETWORK_FAULTS = 3;
const PROCESS_FAULTS = 4;

interface Schedule {
  readonly network: ReadonlyMap<number, readonly number[]>;
  /** round -> Byzantine replica -> receivers that get a mutated copy. */
  readonly process: ReadonlyMap<number, ReadonlyMap<number, ReadonlySet<number>>>;
}

function schedule(ctx: ByzantineContext): Schedule {
  const existing = ctx.shared.get('byzzfuzz');
  if (existing) return existing as Schedule;
  const rng = new Prng(ctx.seed, 0xb22f);
  const network = new Map<number, number[]>();
  for (let k = 0; k < NETWORK_FAULTS; k++) network.set(rng.int(1, FUZZ_ROUNDS), Array.from({ length: ctx.n }, () => rng.int(0, 1)));
  const process = new Map<number, Map<number, Set<number>>>();
  for (let k = 0; k < PROCESS_FAULTS; k++) {
    const round = rng.int(1, FUZZ_ROUNDS);
    const who = ctx.members[rng.int(0, ctx.members.length - 1)]!;
    const receivers = new Set(Array.from({ length: ctx.n }, (_, i) => i).filter((i) => i !== who && rng.chance(0.5)));
    const byRound = process.get(round) ?? new Map<number, Set<number>>();
    process.set(round, byRound);
    byRound.set(who, receivers);
  }
  const s: Schedule = { network, process };
  ctx.shared.set('byzzfuzz', s);
  return s;
}

export const byzzfuzz: BehaviorInfo = {
  name: 'byzzfuzz',
  description: 'seeded network partitions in a few rounds plus small-scope mutations of its messages to random peers (ByzzFuzz)',
  faultWindowMs: (base) => FUZZ_ROUNDS * 10 * base,
  scenarioRounds: FUZZ_ROUNDS + 15,
  create: (ctx) => {
    const s = schedule(ctx);
    const seen = new SeenCerts();
    const peers = Array.from({ length: ctx.n }, (_, i) => i).filter((i) => i !== ctx.index);
    return behavior('byzzfuzz', {
      incoming: (event) => {
        if (event.type === 'proposal' || event.type === 'timeout') seen.observe(event);
        return event;
      },
      outgoing: (actions) => {
        const out: ConsensusAction[] = [];
        for (const a of actions) {
          const targets = isMessage(a) ? s.process.get(roundOf(a.message))?.get(ctx.index) : undefined;
          if (!isMessage(a) || !targets) {
            out.push(a);
            continue;
          }
          const to = a.type === 'broadcast' ? peers : [a.to];
          for (const t of to) out.push({ type: 'send', to: t, message: targets.has(t) ? smallScopeMutation(ctx, a.message, seen) : a.message });
        }
        return out;
      },
      dropsLink: (from, _fi, to, message) => {
        const sides = s.network.get(roundOf(message));
        return sides !== undefined && sides[from] !== sides[to];
      },
    });
  },
};
