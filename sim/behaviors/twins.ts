import { KvApplication } from '../../node/app/kv-app.js';
import type { ConsensusAction, ConsensusEvent } from '../../node/consensus/messages.js';
import type { Replica } from '../../node/consensus/replica.js';
import type { Block } from '../../protocol/types.js';
import { type BehaviorInfo, type ByzantineContext, behavior, roundOf } from '../byzantine.js';

/**
 * Twins (Bano et al., "Twins: BFT Systems Made Robust"): a Byzantine replica is modelled as two
 * honest instances that share one identity and one key, each with its own memory. Equivocation,
 * double votes and amnesia then arise from ordinary code, driven by a schedule that, round by
 * round, names the leader and splits the instances into two sides of a partition (or joins
 * them all). Messages of round r travel only between instances on the same side in round r.
 *
 * Schedules are enumerated, not sampled: for n replicas, B Byzantine (each with a twin) and
 * h = n - B honest ones, a round has n leaders x (2^h splits of the honest replicas + one
 * "all connected") options; the first R rounds span (n (2^h + 1))^R schedules. Seed s runs
 * schedule (s * K) mod that count, K a prime larger than it, so seeds 0..count-1 visit every
 * schedule exactly once (in a scattered order), and a failing seed names its schedule exactly.
 * After R rounds everyone is connected and leaders rotate: the network has stabilised.
 */

/** Rounds whose leader and partition the schedule fixes. */
export const TWINS_ROUNDS = 8;
/** 2^61 - 1, a prime larger than any schedule count used here: multiplication by it permutes Z_count. */
const SCATTER = (1n << 61n) - 1n;

export interface TwinsScenario {
  readonly rounds: number;
  readonly index: bigint;
  readonly count: bigint;
  readonly leaders: readonly number[];
  /** Per round: the side (0 or 1) of each honest replica, or null when all are connected. */
  readonly sides: readonly (readonly number[] | null)[];
}

export function twinsScenario(seed: number, n: number, byzantine: number, rounds = TWINS_ROUNDS): TwinsScenario {
  const honest = n - byzantine;
  const splits = 1n << BigInt(honest);
  const perRound = BigInt(n) * (splits + 1n);
  const count = perRound ** BigInt(rounds);
  const index = (BigInt(seed) * SCATTER) % count;
  const leaders: number[] = [];
  const sides: (number[] | null)[] = [];
  let rest = index;
  for (let r = 0; r < rounds; r++) {
    const digit = rest % perRound;
    rest /= perRound;
    leaders.push(Number(digit % BigInt(n)));
    const split = digit / BigInt(n);
    sides.push(split === splits ? null : Array.from({ length: honest }, (_, i) => Number((split >> BigInt(i)) & 1n)));
  }
  return { rounds, index, count, leaders, sides };
}

/** Whether instance `ai` of replica a and instance `bi` of b can talk in `round`. */
export function twinsConnected(s: TwinsScenario, honest: number, round: number, a: number, ai: number, b: number, bi: number): boolean {
  if (round < 1 || round > s.rounds) return true;
  const p = s.sides[round - 1];
  if (!p) return true;
  const side = (x: number, xi: number): number => (x < honest ? p[x]! : xi);
  return side(a, ai) === side(b, bi);
}

function scenarioOf(ctx: ByzantineContext): TwinsScenario {
  const existing = ctx.shared.get('twins');
  if (existing) return existing as TwinsScenario;
  const s = twinsScenario(ctx.seed, ctx.n, ctx.members.length);
  ctx.shared.set('twins', s);
  return s;
}

/** The second instance: its own core, timers, ledger and execution, driven through the context. */
class TwinInstance {
  private readonly core: Replica;
  private readonly app: KvApplication;
  private height = 0;
  /** Only the latest armed timer of each kind fires. */
  private readonly timerTokens = { timer: 0, 'proposal-timer': 0 };

  constructor(private readonly ctx: ByzantineContext) {
    this.core = ctx.newCore();
    this.app = new KvApplication({ chainId: ctx.chainId });
  }

  step(event: ConsensusEvent): void {
    this.carryOut(this.core.step(event));
  }

  private carryOut(actions: readonly ConsensusAction[]): void {
    const executed: Block[] = [];
    for (const a of actions) {
      switch (a.type) {
        case 'broadcast':
        case 'send':
        case 'sync-request':
          this.ctx.emitAs(1, [a]);
          break;
        case 'set-timer':
        case 'set-proposal-timer': {
          const timer = a.type === 'set-timer' ? 'timer' : 'proposal-timer';
          const token = ++this.timerTokens[timer];
          this.ctx.later(a.delayMs, () => {
            if (token === this.timerTokens[timer]) this.step({ type: timer, round: a.round });
          });
          break;
        }
        case 'commit':
          executed.push(...a.blocks);
          break;
        default:
          break;
      }
    }
    for (const b of executed) {
      if (b.height !== this.height + 1) continue;
      this.height = b.height;
      const r = this.app.applyBlock([...b.payload]);
      this.step({ type: 'executed', state: { height: b.height, blockId: b.id, stateRoot: r.stateRoot, logRoot: r.logRoot } });
    }
  }
}

export const twins: BehaviorInfo = {
  name: 'twins',
  description: 'each Byzantine replica runs as two honest instances with one key; leaders and partitions enumerated round by round (Twins)',
  faultWindowMs: (base) => TWINS_ROUNDS * 10 * base,
  scenarioRounds: TWINS_ROUNDS + 12,
  leaderSchedule: (seed, n, byzantine) => {
    const s = twinsScenario(seed, n, byzantine);
    return (round) => (round >= 1 && round <= s.rounds ? s.leaders[round - 1]! : round % n);
  },
  create: (ctx) => {
    const s = scenarioOf(ctx);
    const honest = ctx.n - ctx.members.length;
    let twin: TwinInstance | undefined;
    const twinStep = (ev: ConsensusEvent): void => {
      twin ??= new TwinInstance(ctx);
      twin.step(ev);
    };
    return behavior('twins', {
      incoming: (event, _ctx, meta) => {
        switch (event.type) {
          case 'start':
            twinStep(event);
            return event;
          case 'commands':
          case 'sync-response':
            twinStep(event);
            return event;
          case 'proposal':
          case 'vote':
          case 'timeout': {
            const r = roundOf(event);
            if (twinsConnected(s, honest, r, event.from, meta.fromInstance, ctx.index, 1)) twinStep(event);
            return twinsConnected(s, honest, r, event.from, meta.fromInstance, ctx.index, 0) ? event : undefined;
          }
          default:
            return event;
        }
      },
      // Coalition members route what reaches them themselves (above); the network serves the rest.
      dropsLink: (from, fromInstance, to, message) => to < honest && !twinsConnected(s, honest, roundOf(message), from, fromInstance, to, 0),
    });
  },
};

/** The replay command for a failing twins seed. */
export function twinsDescription(seed: number, n: number, byzantine: number): string {
  const s = twinsScenario(seed, n, byzantine);
  const rounds = s.leaders.map((l, r) => {
    const p = s.sides[r];
    if (!p) return `r${r + 1}:L${l} all`;
    const side = (k: number): string => [...p.flatMap((x, i) => (x === k ? [String(i)] : [])), ...Array.from({ length: byzantine }, (_, j) => `${honest(n, byzantine) + j}${k === 1 ? "'" : ''}`)].join(',');
    return `r${r + 1}:L${l} {${side(0)}}|{${side(1)}}`;
  });
  return `schedule ${s.index} of ${s.count}: ${rounds.join(' ')}`;
}

const honest = (n: number, b: number): number => n - b;
