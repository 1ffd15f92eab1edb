import type { CertificateOps } from '../node/consensus/certs.js';
import type { ConsensusAction, ConsensusEvent, ConsensusMessage } from '../node/consensus/messages.js';
import type { Replica } from '../node/consensus/replica.js';
import type { ConsensusSigner } from '../node/consensus/safety-rules.js';
import type { SnapshotProof } from '../network/codec.js';
import type { Block, QuorumCert } from '../protocol/types.js';
import type { Prng } from './prng.js';

/**
 * Plug-in point for Byzantine replicas: a behaviour wraps an ordinary core and rewrites what
 * goes in and out. Behaviours compose (`--behavior a,b`): outgoing actions and incoming events
 * pass through each in turn. The checker excludes Byzantine replicas from every invariant.
 */
export interface ByzantineContext {
  readonly index: number;
  readonly n: number;
  readonly chainId: string;
  /** The simulation's seed: scenario behaviours (twins) derive their schedule from it. */
  readonly seed: number;
  /** Seeded, per replica: a behaviour's choices replay with the seed. */
  readonly rng: Prng;
  /** Every Byzantine replica, ascending: they may collude. */
  readonly members: readonly number[];
  /** The colluders' keys (and only theirs): what a coalition can really sign with. */
  readonly memberSigner: (index: number) => ConsensusSigner;
  readonly certs: CertificateOps;
  /** The honest replicas' base round timeout (virtual ms): what "the edge of a timeout" means. */
  readonly baseTimeoutMs: number;
  /** One map per simulation, shared by the Byzantine replicas: the coalition's common memory. */
  readonly shared: Map<string, unknown>;
  /** Carries out actions as this replica, outside of any step (e.g. a held-back proposal). */
  readonly emit: (actions: readonly ConsensusAction[]) => void;
  /** Like emit, but the messages leave tagged as sent by instance `instance` (twins: 1). */
  readonly emitAs: (instance: number, actions: readonly ConsensusAction[]) => void;
  /** Runs `fn` after `delayMs` of virtual time (unless this replica has crashed by then). */
  readonly later: (delayMs: number, fn: () => void) => void;
  /** A fresh core with this replica's identity and key, and its own (in-memory) safety state. */
  readonly newCore: () => Replica;
}

/** A replica's latest snapshot as it serves it: the application's bytes at `height`, and the proof a certified header gives it. */
export interface ServedSnapshot {
  readonly height: number;
  readonly bytes: Uint8Array;
  readonly proof: SnapshotProof;
}

/** Where an event came from: the sender's instance (0 unless the sender has a twin). */
export interface EventMeta {
  readonly fromInstance: number;
}

export interface ByzantineBehavior {
  readonly name: string;
  /** What the replica's core asked for -> what the runtime actually does. */
  outgoing(actions: readonly ConsensusAction[], ctx: ByzantineContext): ConsensusAction[];
  /** What reaches the core; undefined swallows the event. */
  incoming(event: ConsensusEvent, ctx: ByzantineContext, meta: EventMeta): ConsensusEvent | undefined;
  /** Whether its runtime answers peers' sync requests. */
  readonly servesSync: boolean;
  /** Rewrites the answer to a sync request (lying sync). */
  syncResponse?(blocks: readonly Block[], highQc: QuorumCert, ctx: ByzantineContext): { blocks: readonly Block[]; highQc: QuorumCert };
  /** A claim that the blocks asked for from `fromHeight` are pruned: the lowest block it says it holds, or undefined to answer as usual. */
  prunedClaim?(fromHeight: number, ctx: ByzantineContext): number | undefined;
  /** Rewrites the snapshot it serves (undefined: serves none). */
  snapshotResponse?(served: ServedSnapshot, ctx: ByzantineContext): ServedSnapshot | undefined;
  /**
   * A network adversary's say over every link (not only its own): true drops the message.
   * `fromInstance` tells the two instances of a twin apart.
   */
  dropsLink?(from: number, fromInstance: number, to: number, message: ConsensusMessage): boolean;
}

export interface BehaviorInfo {
  readonly name: string;
  readonly description: string;
  /** One instance per Byzantine replica, so behaviours may keep state. */
  readonly create: (ctx: ByzantineContext) => ByzantineBehavior;
  /** A leader schedule every replica uses in this run (twins enumerate it); round-robin otherwise. */
  readonly leaderSchedule?: (seed: number, n: number, byzantine: number) => (round: number) => number;
  /**
   * How long (virtual ms) its network faults (dropsLink) last. They must end: a partition keyed
   * on a message's round can otherwise strand a replica in that round forever. GST comes after.
   */
  readonly faultWindowMs?: (baseTimeoutMs: number) => number;
  /** A scenario's length: its scheduled rounds plus room to stabilise; caps the run's --rounds. */
  readonly scenarioRounds?: number;
}

/** Pass-through defaults, so a behaviour states only what it changes. */
export function behavior(name: string, parts: Partial<Omit<ByzantineBehavior, 'name'>>): ByzantineBehavior {
  return {
    name,
    servesSync: parts.servesSync ?? true,
    outgoing: parts.outgoing ?? ((actions) => [...actions]),
    incoming: parts.incoming ?? ((event) => event),
    ...(parts.syncResponse ? { syncResponse: parts.syncResponse } : {}),
    ...(parts.prunedClaim ? { prunedClaim: parts.prunedClaim } : {}),
    ...(parts.snapshotResponse ? { snapshotResponse: parts.snapshotResponse } : {}),
    ...(parts.dropsLink ? { dropsLink: parts.dropsLink } : {}),
  };
}

/** Applies `parts` in order: a's outgoing first, then b's, and the same for incoming events. */
export function composeBehaviors(parts: readonly ByzantineBehavior[]): ByzantineBehavior {
  if (parts.length === 1) return parts[0]!;
  const drops = parts.filter((p) => p.dropsLink);
  const lies = parts.filter((p) => p.syncResponse);
  const claims = parts.filter((p) => p.prunedClaim);
  const snapshotLies = parts.filter((p) => p.snapshotResponse);
  return {
    name: parts.map((p) => p.name).join(','),
    servesSync: parts.every((p) => p.servesSync),
    outgoing: (actions, ctx) => parts.reduce<ConsensusAction[]>((acc, p) => p.outgoing(acc, ctx), [...actions]),
    incoming: (event, ctx, meta) => {
      let ev: ConsensusEvent | undefined = event;
      for (const p of parts) {
        if (!ev) return undefined;
        ev = p.incoming(ev, ctx, meta);
      }
      return ev;
    },
    ...(lies.length > 0
      ? {
          syncResponse: (blocks: readonly Block[], highQc: QuorumCert, ctx: ByzantineContext) =>
            lies.reduce((acc, p) => p.syncResponse!(acc.blocks, acc.highQc, ctx), { blocks, highQc }),
        }
      : {}),
    // The first part that claims the blocks pruned speaks for the whole.
    ...(claims.length > 0
      ? {
          prunedClaim: (fromHeight: number, ctx: ByzantineContext) => {
            for (const p of claims) {
              const lowest = p.prunedClaim!(fromHeight, ctx);
              if (lowest !== undefined) return lowest;
            }
            return undefined;
          },
        }
      : {}),
    ...(snapshotLies.length > 0
      ? {
          snapshotResponse: (served: ServedSnapshot, ctx: ByzantineContext) =>
            snapshotLies.reduce<ServedSnapshot | undefined>((acc, p) => (acc === undefined ? undefined : p.snapshotResponse!(acc, ctx)), served),
        }
      : {}),
    ...(drops.length > 0 ? { dropsLink: (from: number, fi: number, to: number, m: ConsensusMessage) => drops.some((p) => p.dropsLink!(from, fi, to, m)) } : {}),
  };
}

/** Message kinds a behaviour may target. */
export function isMessage(a: ConsensusAction): a is Extract<ConsensusAction, { type: 'broadcast' | 'send' }> {
  return a.type === 'broadcast' || a.type === 'send';
}

/** The round a message belongs to (the schedule of twins and ByzzFuzz is per round). */
export function roundOf(m: ConsensusMessage): number {
  switch (m.type) {
    case 'proposal':
      return m.block.round;
    case 'vote':
      return m.vote.vote.round;
    case 'timeout':
      return m.timeout.round;
  }
}
