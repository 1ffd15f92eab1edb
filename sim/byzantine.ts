import type { CertificateOps } from '../node/consensus/certs.js';
import type { ConsensusAction, ConsensusEvent } from '../node/consensus/messages.js';
import type { ConsensusSigner } from '../node/consensus/safety-rules.js';
import { equivocateUnsafe } from './byzantine-equivocate.js';
import type { Prng } from './prng.js';

/**
 * Plug-in point for Byzantine replicas: a behaviour wraps an ordinary core and rewrites what
 * goes in and out. The adversarial-testing work adds behaviours to the registry; the checker
 * excludes Byzantine replicas from every invariant.
 */
export interface ByzantineContext {
  readonly index: number;
  readonly n: number;
  readonly chainId: string;
  /** Seeded, per replica: a behaviour's choices replay with the seed. */
  readonly rng: Prng;
  /** Every Byzantine replica, ascending: they may collude. */
  readonly members: readonly number[];
  /** The colluders' keys (and only theirs): what a coalition can really sign with. */
  readonly memberSigner: (index: number) => ConsensusSigner;
  readonly certs: CertificateOps;
  /** One map per simulation, shared by the Byzantine replicas: the coalition's common memory. */
  readonly shared: Map<string, unknown>;
  /** Carries out actions as this replica, outside of any step (e.g. a held-back proposal). */
  readonly emit: (actions: readonly ConsensusAction[]) => void;
}

export interface ByzantineBehavior {
  readonly name: string;
  /** What the replica's core asked for -> what the runtime actually does. */
  outgoing(actions: readonly ConsensusAction[], ctx: ByzantineContext): ConsensusAction[];
  /** What reaches the core; undefined swallows the event. */
  incoming(event: ConsensusEvent, ctx: ByzantineContext): ConsensusEvent | undefined;
  /** Whether its runtime answers peers' sync requests. */
  readonly servesSync: boolean;
}

export interface BehaviorInfo {
  readonly name: string;
  readonly description: string;
  /** One instance per Byzantine replica, so behaviours may keep state. */
  readonly create: (ctx: ByzantineContext) => ByzantineBehavior;
}

const silent: BehaviorInfo = {
  name: 'silent',
  description: 'sends nothing (no proposals, votes, timeouts or sync answers); keeps its local state',
  create: () => ({
    name: 'silent',
    servesSync: false,
    outgoing: (actions) => actions.filter((a) => a.type !== 'broadcast' && a.type !== 'send' && a.type !== 'sync-request'),
    incoming: (event) => event,
  }),
};

export const BEHAVIORS: ReadonlyMap<string, BehaviorInfo> = new Map([
  [silent.name, silent],
  [equivocateUnsafe.name, equivocateUnsafe],
]);

export function behaviorNames(): string[] {
  return [...BEHAVIORS.keys()];
}
