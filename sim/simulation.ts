import { KvApplication } from '../node/app/kv-app.js';
import type { CertifiedTip, ConsensusAction, ConsensusEvent, ConsensusMessage } from '../node/consensus/messages.js';
import { MAX_SYNC_BLOCKS, Replica, restartKnowledge, tipToKeep } from '../node/consensus/replica.js';
import { applicationInputs } from '../node/app/block-inputs.js';
import { MAX_PENDING_SNAPSHOTS, newestProvenSnapshot, SnapshotSyncError, snapshotProof, type VerifiedSnapshot, verifySnapshot } from '../node/runtime/state-sync.js';
import { SyncPeerSearch } from '../node/runtime/sync-peers.js';
import type { SafetyState, SafetyStorage } from '../node/consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert } from '../protocol/types.js';
import { maxFaulty } from '../crypto/qc/quorum.js';
import { EquivocationDetector } from '../node/consensus/evidence.js';
import type { ByzantineBehavior, ByzantineContext, ServedSnapshot } from './byzantine.js';
import { composedInfo } from './behaviors/registry.js';
import { blsCrypto, fakeCrypto, type SimCrypto } from './crypto.js';
import { EventQueue } from './event-queue.js';
import { type CrashSpec, FaultSchedule, type FaultTransition, type PartitionSpec } from './faults.js';
import { commandKey, InvariantChecker, SAFETY_INVARIANTS, type Violation } from './invariants.js';
import { LivenessTracker } from './liveness.js';
import { messageSize, syncRequestSize, syncResponseSize } from './message-size.js';
import { perBlock, TraceRecorder, type TrafficCounters } from './metrics.js';
import { Network } from './network.js';
import { Prng } from './prng.js';

export const SIM_CHAIN_ID = 'vsmr-sim';
/** How long a replica's runtime waits for a peer's answer (blocks in a search, or a snapshot) before it asks the next, in base round timeouts. */
const ASK_TIMEOUT_ROUNDS = 4;

export interface SimConfig {
  readonly n: number;
  readonly seed: number;
  /** The run's main phase ends when the honest round reaches this. */
  readonly rounds: number;
  readonly delayMs?: number;
  readonly jitterMs?: number;
  readonly drop?: number;
  /** Duplication probability; defaults to 0.01 when drop > 0, else 0. */
  readonly dup?: number;
  readonly partitions?: readonly PartitionSpec[];
  readonly crashes?: readonly CrashSpec[];
  /** The last `byzantine` replicas run `behavior`. */
  readonly byzantine?: number;
  readonly behavior?: string;
  /** 'fake' (default), 'bls', or a scheme built by the caller (tests inject weakened ones). */
  readonly crypto?: 'fake' | 'bls' | SimCrypto;
  /** Scheme the checker verifies certificates with; defaults to the replicas' own. */
  readonly referenceCrypto?: SimCrypto;
  /** Commands the client submits each time the honest round advances (default 2). */
  readonly commandsPerRound?: number;
  /**
   * Submit only when the honest round is a multiple of this (default 1: every round). Above 3
   * the chain goes idle between commands, and rounds advance by timeouts until the next.
   */
  readonly submitEveryRounds?: number;
  readonly maxCommands?: number;
  readonly baseTimeoutMs?: number;
  readonly maxBatchCommands?: number;
  /** ReplicaConfig.emptyProposalHoldMs of every replica (default 0: no hold). */
  readonly emptyProposalHoldMs?: number;
  /** Rounds after max(submission, GST) within which every command must commit everywhere. */
  readonly livenessRounds?: number;
  readonly maxEvents?: number;
  readonly maxVirtualMs?: number;
  readonly traceTail?: number;
  /**
   * DELIBERATELY UNSAFE, for tests of the checker only: a restarted replica comes back with an
   * empty safety state and no certified tip, as if its disk had lost the last votes: a core from
   * genesis that re-commits its ledger (a real restart resumes from the ledger's top and tip).
   */
  readonly unsafeAmnesiaOnRestart?: boolean;
  /**
   * A restarted replica's ledger holds only its top block and this many below it, as a node's
   * does when it took a snapshot at its top (and pruned more than `retainBlocks` below it) just
   * before it went down: the worst case of pruning. Executed states stay for the newest
   * EXECUTED_WINDOW heights, as the node's store keeps them through a prune. This is what its
   * restarted core reads; what it serves follows `snapshots`. Default: all blocks.
   */
  readonly retainBlocksOnRestart?: number;
  /**
   * Every replica snapshots its application at each height that is a multiple of `interval` and,
   * once a certified header covers it (newestProvenSnapshot), keeps it and prunes the blocks more
   * than `retainBlocks` below it, as the node does (SnapshotPolicy). A
   * replica asked for blocks below its lowest answers "pruned"; the asker runs the runtime's
   * policy (SyncPeerSearch: the next peer, or after f + 1 such answers a snapshot), fetches a
   * peer's latest snapshot with its proof, checks it as the node does (verifySnapshot) and
   * installs it. Default: none (every block kept).
   */
  readonly snapshots?: { readonly interval: number; readonly retainBlocks: number };
  /**
   * A crash spec I@FROM-TO takes replica I in the commit window of the first block of round FROM
   * or later that it commits: between the flush of the step that commits it and the flush of
   * the commit, as the node's runtime can be killed. The step's messages left and its tip (with
   * the committed blocks, tipToKeep) is on disk, but the blocks never reached the ledger.
   * Replicas given the same FROM all go down on the same block (its leader at the QC that
   * commits it, the others at the proposal carrying that QC), so no ledger holds it. One that
   * commits no such block before round TO does not crash.
   */
  readonly crashInCommitWindow?: boolean;
  /**
   * DELIBERATELY UNSAFE, for tests of the checker only: honest replicas run the weakened voting
   * rule of SafetyRules (they sign a second, different vote in a round they already voted in).
   */
  readonly unsafeWeakVotingForTests?: boolean;
}

export interface SeedResult {
  readonly seed: number;
  readonly violation: (Violation & { readonly trace: readonly string[]; readonly atMs: number }) | undefined;
  readonly safetyViolation: boolean;
  readonly livenessViolation: boolean;
  /** Canonical committed height. */
  readonly committedBlocks: number;
  /** Commands committed by every honest replica (the minimum over them). */
  readonly committedCommands: number;
  readonly submittedCommands: number;
  /** Canonical blocks committed while a partition or crash was active: progress despite faults. */
  readonly blocksWhileFaulty: number;
  /** Shortest honest ledger at the end: equal to committedBlocks once everyone caught up. */
  readonly minHonestHeight: number;
  readonly messages: number;
  /** Point-to-point messages by type. */
  readonly messagesByType: Readonly<Record<string, number>>;
  readonly bytes: number;
  readonly messagesPerBlock: number;
  readonly bytesPerBlock: number;
  readonly traceHash: string;
  readonly finalRound: number;
  readonly virtualMs: number;
  readonly events: number;
  readonly endReason: 'rounds' | 'virtual-time-cap' | 'event-cap' | 'violation';
  readonly byzantineExceedsF: boolean;
  /** Messages from Byzantine replicas that honest cores rejected: misbehaviour seen. */
  readonly rejectedFromByzantine: number;
  /** Empty roots-only proposals honest leaders held (SimConfig.emptyProposalHoldMs). */
  readonly proposalHolds: number;
  /** Crashes in the commit window (SimConfig.crashInCommitWindow) that kept committed blocks off a ledger. */
  readonly commitWindowCrashes: number;
  /** Certified snapshots honest replicas installed (SimConfig.snapshots, retainBlocksOnRestart). */
  readonly snapshotInstalls: number;
  /** Snapshots honest replicas refused (verifySnapshot threw): a lying peer's. */
  readonly snapshotsRefused: number;
  /** Equivocation evidence (two conflicting signed votes) honest replicas gathered. */
  readonly evidence: number;
  /** Most honest rounds any command took to commit everywhere, counted from max(submission, GST). */
  readonly roundsToCommitAfterGst: number | undefined;
}

/** The core's two timers: the pacemaker's, and the hold on an empty proposal. */
type TimerKind = 'timer' | 'proposal-timer';

type SimEvent =
  | { readonly kind: 'msg'; readonly from: number; readonly to: number; readonly message: ConsensusMessage; readonly inst: number }
  | { readonly kind: 'sync-req'; readonly from: number; readonly to: number; readonly fromHeight: number; readonly search: SyncSearch | undefined }
  | { readonly kind: 'sync-resp'; readonly from: number; readonly to: number; readonly blocks: readonly Block[]; readonly highQc: QuorumCert; readonly fromHeight: number; readonly search: SyncSearch | undefined }
  | { readonly kind: 'sync-pruned'; readonly from: number; readonly to: number; readonly lowest: number; readonly fromHeight: number; readonly search: SyncSearch | undefined }
  | { readonly kind: 'snapshot-req'; readonly from: number; readonly to: number; readonly attempt: SnapshotAttempt }
  | { readonly kind: 'snapshot-resp'; readonly from: number; readonly to: number; readonly snapshot: ServedSnapshot | undefined; readonly attempt: SnapshotAttempt }
  | { readonly kind: 'timer'; readonly timer: TimerKind; readonly replica: number; readonly round: number; readonly token: number }
  | { readonly kind: 'callback'; readonly replica: number; readonly fn: () => void };

/**
 * One search of a replica's runtime for blocks (SyncPeerSearch): the peers asked, those that
 * answered, and the runtime incarnation that runs it (a restart ends it, as a new process would).
 */
interface SyncSearch {
  readonly asked: Set<number>;
  readonly answered: Set<number>;
  readonly owner: SyncPeerSearch;
}

/** One snapshot sync of a replica: the peers to try in turn (SyncPeerSearch.snapshotPeers), and which is being tried. */
interface SnapshotAttempt {
  readonly peers: readonly number[];
  readonly at: number;
}

/** Fake disk: the safety state survives a crash; every write is shown to the vote checker. */
class ObservedSafetyStorage implements SafetyStorage {
  saved: SafetyState | null = null;
  constructor(private readonly observe: (prev: SafetyState | null, next: SafetyState) => void) {}
  load(): SafetyState | null {
    return this.saved;
  }
  store(state: SafetyState): void {
    this.observe(this.saved, state);
    this.saved = state;
  }
}

interface Node {
  readonly index: number;
  readonly honest: boolean;
  replica: Replica | undefined;
  readonly storage: ObservedSafetyStorage;
  /**
   * What survives a crash as the disk would: ledger, execution results, application state. A
   * snapshot install leaves holes below its height (blocks and states it never had).
   */
  readonly ledger: Block[];
  readonly executed: ExecutedState[];
  /** The lowest block the ledger still holds: blocks below were pruned at a snapshot, or skipped by an install. */
  lowestBlock: number;
  /** The latest application snapshot (height and bytes), as the node's store keeps it. */
  snapshot: { readonly height: number; readonly bytes: Uint8Array } | undefined;
  /** Snapshots taken that no certified header covers yet, oldest first (the runtime's pendingSnapshots; memory). */
  readonly pendingSnapshots: { readonly height: number; readonly bytes: Uint8Array }[];
  /** The QC on the ledger's top block, when the commit that appended it carried one (kept with it). */
  commitQc: QuorumCert | undefined;
  /** The certified tip the core held when it crashed (the runtime keeps it on disk after each step). */
  tip: CertifiedTip | undefined;
  /** A crash (SimConfig.crashInCommitWindow) waiting for a commit of a block of this round or later. */
  crashArmed: number | undefined;
  app: KvApplication;
  readonly committedCommands: Set<string>;
  /** The runtime's memory of which peers said they pruned the blocks it needs (renewed at a restart). */
  syncPeers: SyncPeerSearch;
  /** The snapshot ask awaiting its answer: one snapshot sync at a time, as in the runtime, and none across a restart. */
  snapshotAsk: SnapshotAttempt | undefined;
  /** Bumped on arming and on crash: only the latest armed timer of each kind of a live core fires. */
  readonly timerTokens: Record<TimerKind, number>;
  readonly timerSkew: number;
  byz: { behavior: ByzantineBehavior; ctx: ByzantineContext } | undefined;
  /** Honest replicas look for equivocation in the votes they receive. */
  readonly detector: EquivocationDetector | undefined;
}

const ROUND_OF: Record<ConsensusMessage['type'], (m: ConsensusMessage) => number> = {
  proposal: (m) => (m.type === 'proposal' ? m.block.round : 0),
  vote: (m) => (m.type === 'vote' ? m.vote.vote.round : 0),
  timeout: (m) => (m.type === 'timeout' ? m.timeout.round : 0),
};

/**
 * One seed of the deterministic discrete-event simulation: n cores from node/consensus driven
 * over virtual time, with the network, faults, clients and Byzantine behaviours all drawn from
 * the seed, and the invariants checked after every event.
 */
export class Simulation {
  readonly n: number;
  readonly f: number;
  private readonly cfg: SimConfig;
  private readonly crypto: SimCrypto;
  private readonly nodes: Node[];
  private readonly queue = new EventQueue<SimEvent>();
  private readonly network: Network;
  private readonly faults: FaultSchedule;
  private readonly checker: InvariantChecker;
  private readonly liveness: LivenessTracker;
  private readonly trace: TraceRecorder;
  private readonly traffic: TrafficCounters = { messages: 0, bytes: 0, byType: {} };
  private readonly clientRng: Prng;
  /** The order in which links come back (a restart, a healed partition): whichever peer greets first is asked first. */
  private readonly connectRng: Prng;
  private readonly crashed = new Set<number>();
  private readonly baseTimeoutMs: number;
  private now = 0;
  private events = 0;
  private honestRound = 0;
  private lastRoundChangeMs = 0;
  private submitted = 0;
  private draining = false;
  private clientsDone = false;
  private committedInStep = false;
  private latestViolation: (Violation & { atMs: number }) | undefined;
  private lastCanonicalHeight = 0;
  private blocksWhileFaulty = 0;
  private readonly leaderOf: ((round: number) => number) | undefined;
  private readonly linkFilters: ByzantineBehavior[] = [];
  /** Network faults of Byzantine behaviours (twins, ByzzFuzz partitions) end here; GST no earlier. */
  private readonly byzFaultsUntilMs: number;
  /** --rounds, or a scenario behaviour's own length if shorter. */
  private readonly mainRounds: number;
  private rejectedFromByzantine = 0;
  private proposalHolds = 0;
  private commitWindowCrashes = 0;
  private snapshotInstalls = 0;
  private snapshotsRefused = 0;
  /** The first honest commit of each height (index height - 1), as the checker's canonical log: what an install jumped over. */
  private readonly canonicalBlocks: Block[] = [];
  private evidence = 0;

  constructor(cfg: SimConfig) {
    this.cfg = cfg;
    this.n = cfg.n;
    this.f = maxFaulty(cfg.n);
    const root = new Prng(cfg.seed);
    const netRng = root.fork(1);
    const skewRng = root.fork(2);
    this.clientRng = root.fork(3);
    const byzRng = root.fork(4);
    this.connectRng = root.fork(5);
    this.crypto = typeof cfg.crypto === 'object' ? cfg.crypto : cfg.crypto === 'bls' ? blsCrypto(SIM_CHAIN_ID, cfg.n) : fakeCrypto(SIM_CHAIN_ID, cfg.n);
    const reference = cfg.referenceCrypto ?? this.crypto;
    this.checker = new InvariantChecker({ certs: reference.certs, qcSigners: reference.qcSigners });
    this.liveness = new LivenessTracker(cfg.livenessRounds ?? 30);
    this.trace = new TraceRecorder(cfg.traceTail ?? 30);
    const delayMs = cfg.delayMs ?? 10;
    const jitterMs = cfg.jitterMs ?? 5;
    const drop = cfg.drop ?? 0;
    // Several round trips, so a fault-free round never times out.
    this.baseTimeoutMs = cfg.baseTimeoutMs ?? Math.max(100, 8 * (delayMs + jitterMs));
    this.faults = new FaultSchedule(
      cfg.partitions ?? [],
      cfg.crashes ?? [],
      Array.from({ length: this.f }, (_, i) => i),
    );
    this.network = new Network({ delayMs, jitterMs, drop, dup: cfg.dup ?? (drop > 0 ? 0.01 : 0) }, netRng, (a, b) => this.faults.isCut(a, b));
    const byzantine = cfg.byzantine ?? 0;
    const info = byzantine > 0 ? composedInfo(cfg.behavior ?? 'silent') : undefined;
    this.leaderOf = info?.leaderSchedule?.(cfg.seed, cfg.n, byzantine);
    this.byzFaultsUntilMs = info?.faultWindowMs?.(this.baseTimeoutMs) ?? 0;
    this.mainRounds = Math.min(cfg.rounds, info?.scenarioRounds ?? cfg.rounds);
    this.nodes = Array.from({ length: cfg.n }, (_, i) => {
      const honest = i < cfg.n - byzantine;
      const node: Node = {
        index: i,
        honest,
        replica: undefined,
        storage: new ObservedSafetyStorage((prev, next) => this.observeSafety(i, prev, next)),
        ledger: [],
        executed: [],
        lowestBlock: 1,
        snapshot: undefined,
        pendingSnapshots: [],
        commitQc: undefined,
        tip: undefined,
        crashArmed: undefined,
        app: new KvApplication({ chainId: SIM_CHAIN_ID }),
        committedCommands: new Set(),
        syncPeers: new SyncPeerSearch(cfg.n, i),
        snapshotAsk: undefined,
        timerTokens: { timer: 0, 'proposal-timer': 0 },
        timerSkew: 0.9 + 0.2 * skewRng.float(),
        byz: undefined,
        detector: honest ? new EquivocationDetector(this.crypto.certs) : undefined,
      };
      return node;
    });
    if (info) {
      const members = this.nodes.filter((nd) => !nd.honest).map((nd) => nd.index);
      const shared = new Map<string, unknown>();
      for (const i of members) {
        const node = this.nodes[i]!;
        const ctx: ByzantineContext = {
          index: i,
          n: cfg.n,
          chainId: SIM_CHAIN_ID,
          rng: byzRng.fork(i),
          members,
          memberSigner: (j) => {
            if (!members.includes(j)) throw new Error(`replica ${j} is honest: the coalition has no key for it`);
            return this.crypto.signer(j);
          },
          certs: this.crypto.certs,
          seed: cfg.seed,
          baseTimeoutMs: this.baseTimeoutMs,
          shared,
          emit: (actions) => {
            if (node.replica) this.apply(node, actions);
          },
          emitAs: (instance, actions) => {
            if (node.replica) this.apply(node, actions, instance);
          },
          later: (delayMs, fn) => this.queue.push(this.now + delayMs, { kind: 'callback', replica: i, fn }),
          newCore: () => this.newReplica(i, { load: () => null, store: () => {} }),
        };
        node.byz = { behavior: info.create(ctx), ctx };
        if (node.byz.behavior.dropsLink) this.linkFilters.push(node.byz.behavior);
      }
    }
  }

  /** The lowest block a restarted replica's ledger holds (SimConfig.retainBlocksOnRestart). */
  private lowestBlockOnRestart(top: number): number {
    const retain = this.cfg.retainBlocksOnRestart;
    return retain === undefined ? 1 : Math.max(1, top - retain);
  }

  private newReplica(i: number, storage?: SafetyStorage): Replica {
    const node = this.nodes[i]!;
    return new Replica({
      chainId: SIM_CHAIN_ID,
      index: i,
      n: this.n,
      signer: this.crypto.signer(i),
      safetyStorage: storage ?? node.storage,
      ...(this.leaderOf ? { leaderOf: this.leaderOf } : {}),
      ...(this.cfg.unsafeWeakVotingForTests && node.honest ? { unsafeWeakVotingForTests: true } : {}),
      certs: this.crypto.certs,
      baseTimeoutMs: this.baseTimeoutMs,
      maxBatchCommands: this.cfg.maxBatchCommands ?? 10,
      maxBatchBytes: 1 << 20,
      ...(this.cfg.emptyProposalHoldMs ? { emptyProposalHoldMs: this.cfg.emptyProposalHoldMs } : {}),
    });
  }

  run(): SeedResult {
    const maxEvents = this.cfg.maxEvents ?? 3_000_000;
    // Virtual time is cheap: allow each round a quarter of the maximal backoff on average.
    const mainCapMs = this.cfg.maxVirtualMs ?? (this.mainRounds * 64 * this.baseTimeoutMs) / 4 + 60_000;
    // Long enough for maximal backoff to expire a few times after the last fault.
    const stallMs = 3 * 64 * this.baseTimeoutMs;
    let endReason: SeedResult['endReason'] = 'rounds';
    for (const node of this.nodes) node.replica = this.newReplica(node.index);
    this.applyTransitions(this.faults.update(0));
    this.updateGst();
    for (const node of this.nodes) this.step(node.index, { type: 'start' });
    // Round 1 has begun: the first commands go in now, or round 1 would time out idle.
    this.afterEvent(stallMs);
    let drainUntilMs = Number.POSITIVE_INFINITY;
    for (;;) {
      if (this.latestViolation) {
        endReason = 'violation';
        break;
      }
      if (!this.draining && (this.honestRound >= this.mainRounds || this.now >= mainCapMs)) {
        if (this.now >= mainCapMs) endReason = 'virtual-time-cap';
        drainUntilMs = this.now + this.startDrain();
      }
      if (this.draining && (this.liveness.pending === 0 || this.now >= drainUntilMs)) break;
      if (this.events >= maxEvents) {
        endReason = 'event-cap';
        break;
      }
      const next = this.queue.pop();
      if (!next) {
        // Nothing left to happen: every replica is down (crashes wait for honest rounds, which
        // no one is left to advance). End the faults once the stall rule would have, as
        // afterEvent does while events still come; only a run with no fault left ends here.
        if (!this.faults.anyActive) break;
        this.now = Math.max(this.now, this.lastRoundChangeMs + stallMs);
        this.trace.note(`${this.now.toFixed(3)} stall: no replica up, ending faults`);
        this.applyTransitions(this.faults.endAll());
        this.updateGst();
        continue;
      }
      this.now = next.time;
      this.events++;
      this.committedInStep = false;
      this.handle(next.item);
      this.afterEvent(stallMs);
    }
    if (!this.latestViolation && endReason !== 'event-cap') {
      this.pruneLiveness();
      const v = this.liveness.final(this.honestRound);
      if (v) this.latestViolation = { ...v, atMs: this.now };
    }
    return this.result(endReason);
  }

  /** Ends all faults, stops clients and makes links reliable: GST at the latest. Returns the drain budget in ms. */
  private startDrain(): number {
    this.draining = true;
    this.clientsDone = true;
    this.trace.note(`${this.now.toFixed(3)} drain: faults end, links reliable`);
    this.applyTransitions(this.faults.endAll());
    this.network.stabilise();
    this.updateGst();
    const rounds = (this.cfg.livenessRounds ?? 30) + 10;
    return rounds * 64 * this.baseTimeoutMs;
  }

  /** GST is the first moment with no fault left and reliable links; it never moves later. */
  private updateGst(): void {
    if (this.liveness.gstRound === undefined && this.faults.allDone && !this.network.isLossy && this.now >= this.byzFaultsUntilMs) {
      this.liveness.setGst(this.honestRound);
      if (this.byzFaultsUntilMs > 0) this.trace.note(`${this.now.toFixed(3)} GST: Byzantine network faults over`);
    }
  }

  private afterEvent(stallMs: number): void {
    if (this.latestViolation) return;
    if (this.liveness.gstRound === undefined && this.now >= this.byzFaultsUntilMs) this.updateGst();
    const height = this.checker.canonicalHeight;
    if (height > this.lastCanonicalHeight) {
      if (this.faults.anyActive) this.blocksWhileFaulty += height - this.lastCanonicalHeight;
      this.lastCanonicalHeight = height;
    }
    if (this.checker.violation) {
      this.latestViolation = { ...this.checker.violation, atMs: this.now };
      return;
    }
    let round = this.honestRound;
    for (const node of this.nodes) if (node.honest && node.replica && node.replica.currentRound > round) round = node.replica.currentRound;
    if (round > this.honestRound) {
      this.honestRound = round;
      this.lastRoundChangeMs = this.now;
      const transitions = this.faults.update(round);
      if (transitions.length > 0) {
        this.applyTransitions(transitions);
        this.updateGst();
      }
      this.clientTick();
      this.pruneLiveness();
      const v = this.liveness.check(round);
      if (v) this.latestViolation = { ...v, atMs: this.now };
    } else if (this.faults.anyActive && this.now - this.lastRoundChangeMs > stallMs) {
      // Too many faults at once to make progress: end them rather than idle until the cap.
      this.trace.note(`${this.now.toFixed(3)} stall: ending faults`);
      this.applyTransitions(this.faults.endAll());
      this.updateGst();
    } else if (this.draining && this.committedInStep) {
      this.pruneLiveness();
    }
  }

  /**
   * Takes the replica down. `unflushed`: blocks its last step committed that never reached the
   * ledger (a crash in the commit window); they survive in the tip, as the runtime keeps it.
   */
  private crashNow(node: Node, unflushed: readonly Block[]): void {
    this.trace.note(`${this.now.toFixed(3)} crash: ${node.index}${unflushed.length > 0 ? ` before ${unflushed.length} committed blocks reached its ledger` : ''}`);
    node.crashArmed = undefined;
    if (unflushed.some((b) => b.height > node.ledger.length)) this.commitWindowCrashes++;
    this.crashed.add(node.index);
    // A replica already down (overlapping crash specs) keeps the tip it went down with.
    if (node.replica) node.tip = tipToKeep(node.replica.certifiedTip(), unflushed, node.ledger.length);
    node.replica = undefined;
    node.timerTokens.timer++;
    node.timerTokens['proposal-timer']++;
    if (this.nodes.every((nd) => !nd.honest || this.crashed.has(nd.index))) {
      // A total outage of the honest replicas: what was only in their memory (queues, proposals
      // not certified) is gone, and a Byzantine one need not propose what it holds. What an
      // honest ledger or kept tip holds must still commit everywhere; the rest is forgotten.
      const durable = (cmd: string): boolean => this.nodes.some((nd) => nd.honest && (nd.committedCommands.has(cmd) || (nd.tip?.blocks ?? []).some((b) => b.payload.some((c) => commandKey(c) === cmd))));
      const lost = this.liveness.forgetLost((cmd) => !durable(cmd));
      if (lost > 0) this.trace.note(`${this.now.toFixed(3)} every replica down: ${lost} commands held only in memory are lost`);
    }
  }

  private pruneLiveness(): void {
    const live = this.nodes.filter((nd) => nd.honest && !this.crashed.has(nd.index)).map((nd) => nd.index);
    this.liveness.prune(live, (i, cmd) => this.nodes[i]!.committedCommands.has(cmd), this.honestRound);
  }

  private applyTransitions(transitions: readonly FaultTransition[]): void {
    for (const t of transitions) {
      switch (t.kind) {
        case 'partition':
          this.trace.note(`${this.now.toFixed(3)} partition: {${t.minority.join(',')}} cut off`);
          break;
        case 'heal':
          this.trace.note(`${this.now.toFixed(3)} heal: {${t.minority.join(',')}}`);
          // As the runtime's hosts: each side is connected to the other anew.
          for (const a of t.minority) this.reconnect(a, (b) => !t.minority.includes(b));
          break;
        case 'crash': {
          const node = this.nodes[t.replica]!;
          if (this.cfg.crashInCommitWindow && node.replica) {
            // A block of this round commits two rounds later at the earliest, so none is missed.
            this.trace.note(`${this.now.toFixed(3)} crash armed: ${t.replica} at a commit of round ${this.honestRound} or later`);
            node.crashArmed = this.honestRound;
          } else {
            this.crashNow(node, []);
          }
          break;
        }
        case 'restart': {
          this.trace.note(`${this.now.toFixed(3)} restart: ${t.replica}`);
          const node = this.nodes[t.replica]!;
          node.crashArmed = undefined;
          if (!this.crashed.delete(t.replica)) break;
          // A new runtime: what it had learnt of its peers, a snapshot sync it ran, and the
          // snapshots it held unproven are gone.
          node.syncPeers = new SyncPeerSearch(this.n, t.replica);
          node.snapshotAsk = undefined;
          node.pendingSnapshots.length = 0;
          if (this.cfg.unsafeAmnesiaOnRestart) {
            // The consensus state is lost: a core from genesis, which re-commits from the ledger.
            node.storage.saved = null;
            node.replica = this.newReplica(t.replica);
            this.step(t.replica, { type: 'start' });
            break;
          }
          node.replica = this.newReplica(t.replica);
          // As the runtime restarts: a new core over the surviving safety state, moved to the
          // ledger's top (its state, its header's claim, the QC kept with it) and given the
          // certified tip it held; sync brings the rest. After a snapshot install the top block
          // is not held: its round comes from the QC kept with it.
          const height = node.ledger.length;
          if (height > 0) {
            const qc = node.commitQc !== undefined && node.commitQc.vote.height === height ? node.commitQc : undefined;
            const round = node.ledger[height - 1]?.round ?? qc?.vote.round;
            if (round === undefined) throw new Error(`replica ${t.replica}: no block or certificate for its top height ${height}`);
            this.step(t.replica, {
              type: 'state-installed',
              executed: node.executed[height - 1]!,
              round,
              ...restartKnowledge({ top: height, lowestBlock: Math.max(node.lowestBlock, this.lowestBlockOnRestart(height)), executed: (h) => node.executed[h - 1], blocks: (a, b) => node.ledger.slice(a - 1, b) }),
              // As the node's runtime: from the application's log, which a prune leaves whole.
              committedIds: node.app.recentRequestIds(node.replica.recentlyCommittedLimit),
              ...(qc ? { highQc: qc } : {}),
            });
          }
          if (node.tip !== undefined) this.step(t.replica, { type: 'tip-recovered', tip: node.tip });
          this.step(t.replica, { type: 'start' });
          this.reconnect(t.replica, (b) => b !== t.replica && !this.crashed.has(b));
          break;
        }
      }
    }
  }

  /**
   * Validator `a` is connected anew to each validator `which` takes (a restart, a partition
   * healed), in a seeded order, as connections come back in no order of their own: each core
   * hears of the other.
   */
  private reconnect(a: number, which: (b: number) => boolean): void {
    const peers = Array.from({ length: this.n }, (_, b) => b).filter(which);
    for (let k = peers.length - 1; k > 0; k--) {
      const j = this.connectRng.int(0, k);
      [peers[k], peers[j]] = [peers[j]!, peers[k]!];
    }
    for (const b of peers) {
      this.step(a, { type: 'peer-connected', peer: b });
      this.step(b, { type: 'peer-connected', peer: a });
    }
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'msg':
        this.trace.delivered(this.now, ev.from, ev.to, ev.message.type, ROUND_OF[ev.message.type](ev.message));
        this.step(ev.to, { ...ev.message, from: ev.from } as ConsensusEvent, ev.inst);
        break;
      case 'sync-req':
        this.trace.delivered(this.now, ev.from, ev.to, 'sync-request', ev.fromHeight);
        this.serveSync(ev.to, ev.from, ev.fromHeight, ev.search);
        break;
      case 'sync-resp':
        this.trace.delivered(this.now, ev.from, ev.to, 'sync-response', ev.highQc.vote.round);
        if (!this.searchAnswered(ev.to, ev.from, ev.search)) break;
        this.step(ev.to, { type: 'sync-response', from: ev.from, blocks: ev.blocks, highQc: ev.highQc });
        // As the runtime: no blocks is no help in a search (a peer as far behind): go on.
        if (ev.blocks.length === 0 && ev.search !== undefined) this.askNextPeer(ev.to, ev.fromHeight, ev.search, ev.from);
        break;
      case 'sync-pruned':
        this.trace.delivered(this.now, ev.from, ev.to, 'sync-pruned', ev.lowest);
        if (!this.searchAnswered(ev.to, ev.from, ev.search)) break;
        this.onPrunedClaim(ev.to, ev.from, ev.lowest, ev.fromHeight, ev.search);
        break;
      case 'snapshot-req':
        this.trace.delivered(this.now, ev.from, ev.to, 'snapshot-request', ev.attempt.at);
        this.serveSnapshot(ev.to, ev.from, ev.attempt);
        break;
      case 'snapshot-resp':
        this.trace.delivered(this.now, ev.from, ev.to, 'snapshot-response', ev.snapshot?.height ?? -1);
        this.onSnapshot(ev.to, ev.from, ev.snapshot, ev.attempt);
        break;
      case 'timer': {
        const node = this.nodes[ev.replica]!;
        if (node.timerTokens[ev.timer] !== ev.token || !node.replica) return;
        this.trace.delivered(this.now, ev.replica, ev.replica, ev.timer, ev.round);
        this.step(ev.replica, { type: ev.timer, round: ev.round });
        break;
      }
      case 'callback':
        if (this.nodes[ev.replica]!.replica) ev.fn();
        break;
    }
  }

  /** Steady load: a few new commands each time the honest round advances, up to the bound. */
  private clientTick(): void {
    if (this.clientsDone || this.honestRound % (this.cfg.submitEveryRounds ?? 1) !== 0) return;
    const max = this.cfg.maxCommands ?? this.mainRounds * (this.cfg.commandsPerRound ?? 2);
    const perRound = this.cfg.commandsPerRound ?? 2;
    const commands: Uint8Array[] = [];
    for (let k = 0; k < perRound && this.submitted < max; k++, this.submitted++) {
      const text = `c${this.cfg.seed}-${this.submitted}-`;
      const len = Math.max(text.length, this.clientRng.int(16, 128));
      const cmd = text.padEnd(len, '.');
      this.checker.recordSubmitted(cmd);
      this.liveness.submitted(cmd, this.honestRound);
      commands.push(new TextEncoder().encode(cmd));
    }
    if (commands.length > 0) {
      this.trace.delivered(this.now, -1, -1, 'commands', this.honestRound);
      for (const node of this.nodes) if (node.replica) this.step(node.index, { type: 'commands', commands });
    }
    if (this.submitted >= max) this.clientsDone = true;
  }

  private serveSync(peer: number, requester: number, fromHeight: number, search: SyncSearch | undefined): void {
    const node = this.nodes[peer]!;
    if (!node.replica || (node.byz && !node.byz.behavior.servesSync)) return;
    // As the node's sync service: below the lowest block held (and not above the top), "pruned".
    const claim = node.byz?.behavior.prunedClaim?.(fromHeight, node.byz.ctx);
    if (claim !== undefined || (fromHeight < node.lowestBlock && Math.max(1, fromHeight) <= node.ledger.length)) {
      const lowest = claim ?? node.lowestBlock;
      this.transmit(peer, requester, syncRequestSize(), (from, to) => ({ kind: 'sync-pruned', from, to, lowest, fromHeight, search }));
      return;
    }
    let chain: { blocks: readonly Block[]; highQc: QuorumCert } = node.replica.syncChain();
    const start = Math.max(0, fromHeight - 1);
    let blocks: readonly Block[] = [...node.ledger.slice(start, start + MAX_SYNC_BLOCKS - chain.blocks.length), ...chain.blocks];
    if (node.byz?.behavior.syncResponse) {
      chain = node.byz.behavior.syncResponse(blocks, chain.highQc, node.byz.ctx);
      blocks = chain.blocks;
    }
    if (node.honest) {
      this.checker.onQc(peer, chain.highQc, 'sync response');
      for (const b of blocks) this.checker.onQc(peer, b.parentQc, 'sync response block');
    }
    this.transmit(peer, requester, syncResponseSize(blocks, chain.highQc), (from, to) => ({ kind: 'sync-resp', from, to, blocks, highQc: chain.highQc, fromHeight, search }));
  }

  /** What snapshotProof reads of a replica's ledger: its committed height and the blocks it still holds. */
  private ledgerView(node: Node): { committedHeight(): number; block(h: number): Block | undefined } {
    return { committedHeight: () => node.ledger.length, block: (h) => (h >= node.lowestBlock ? node.ledger[h - 1] : undefined) };
  }

  /**
   * A sync ask from replica i, by the runtime's search (SyncPeerSearch) when `search` is set: a
   * peer that does not answer it in time is passed over, as the runtime's request times out.
   */
  private askSync(i: number, peer: number, fromHeight: number, search: SyncSearch | undefined): void {
    this.transmit(i, peer, syncRequestSize(), (from, to) => ({ kind: 'sync-req', from, to, fromHeight, search }));
    if (search === undefined) return;
    this.queue.push(this.now + ASK_TIMEOUT_ROUNDS * this.baseTimeoutMs, {
      kind: 'callback',
      replica: i,
      fn: () => {
        if (search.answered.has(peer) || search.owner !== this.nodes[i]!.syncPeers) return;
        this.trace.note(`${this.now.toFixed(3)} sync ask of ${i} to ${peer} timed out`);
        this.askNextPeer(i, fromHeight, search, peer);
      },
    });
  }

  private askNextPeer(i: number, fromHeight: number, search: SyncSearch, after: number): void {
    const node = this.nodes[i]!;
    if (!node.replica) return;
    const p = node.syncPeers.nextPeer(fromHeight, node.ledger.length + 1, search.asked, after);
    if (p !== undefined) this.askSync(i, p, fromHeight, search);
  }

  /** A search's answer from `peer`, if the search is still the replica's runtime's (not one from before a restart). */
  private searchAnswered(i: number, peer: number, search: SyncSearch | undefined): boolean {
    if (search === undefined) return true;
    if (search.owner !== this.nodes[i]!.syncPeers) return false;
    search.answered.add(peer);
    return true;
  }

  /** Peer `peer` told replica i it holds no blocks below `lowest`: the runtime's policy decides what next. */
  private onPrunedClaim(i: number, peer: number, lowest: number, fromHeight: number, given: SyncSearch | undefined): void {
    const node = this.nodes[i]!;
    if (!node.replica) return;
    const search = given ?? { asked: new Set([peer]), answered: new Set([peer]), owner: node.syncPeers };
    const next = node.syncPeers.onPrunedClaim(peer, lowest, fromHeight, node.ledger.length + 1, search.asked);
    if (next.snapshot) {
      if (node.snapshotAsk === undefined) this.askSnapshot(i, { peers: node.syncPeers.snapshotPeers(peer), at: 0 });
    } else if (next.ask !== undefined) {
      this.askSync(i, next.ask, fromHeight, search);
    }
  }

  /**
   * Asks the attempt's current peer for its snapshot; one that does not answer in time (down, or
   * the message lost) is passed over, as the runtime's request times out.
   */
  private askSnapshot(i: number, attempt: SnapshotAttempt): void {
    const node = this.nodes[i]!;
    const peer = attempt.peers[attempt.at];
    node.snapshotAsk = peer === undefined ? undefined : attempt;
    if (peer === undefined) return;
    this.transmit(i, peer, syncRequestSize(), (from, to) => ({ kind: 'snapshot-req', from, to, attempt }));
    this.queue.push(this.now + ASK_TIMEOUT_ROUNDS * this.baseTimeoutMs, {
      kind: 'callback',
      replica: i,
      fn: () => {
        if (node.snapshotAsk !== attempt) return;
        this.trace.note(`${this.now.toFixed(3)} snapshot ask of ${i} to ${peer} timed out`);
        this.askSnapshot(i, { ...attempt, at: attempt.at + 1 });
      },
    });
  }

  /**
   * A replica's latest snapshot with the proof its certified chain gives (snapshotProof, as the
   * node serves it), or nothing: none taken, no certified header covers it yet, or a Byzantine
   * replica that serves no sync.
   */
  private serveSnapshot(peer: number, requester: number, attempt: SnapshotAttempt): void {
    const node = this.nodes[peer]!;
    if (!node.replica || (node.byz && !node.byz.behavior.servesSync)) return;
    const snap = node.snapshot;
    const proof = snap === undefined ? undefined : snapshotProof(this.ledgerView(node), snap.height, node.replica.syncChain());
    let snapshot: ServedSnapshot | undefined = snap === undefined || proof === undefined ? undefined : { height: snap.height, bytes: snap.bytes, proof };
    if (snapshot !== undefined && node.byz?.behavior.snapshotResponse) snapshot = node.byz.behavior.snapshotResponse(snapshot, node.byz.ctx);
    this.transmit(peer, requester, syncResponseSize(proof?.blocks ?? [], node.replica.highestQc) + (snap?.bytes.length ?? 0), (from, to) => ({ kind: 'snapshot-resp', from, to, snapshot, attempt }));
  }

  /**
   * Replica i's answer from a peer: checked as the node checks it (verifySnapshot, the node's
   * own function) and installed as the runtime installs it; a refused or missing one moves to
   * the next peer of the attempt (after the last peer, the attempt ends: the core's next sync
   * ask starts another search).
   */
  private onSnapshot(i: number, peer: number, served: ServedSnapshot | undefined, attempt: SnapshotAttempt): void {
    const node = this.nodes[i]!;
    // An answer after its ask timed out, or to an ask from before a restart, is no longer awaited.
    if (!node.replica || node.snapshotAsk !== attempt) return;
    const next = (): void => this.askSnapshot(i, { ...attempt, at: attempt.at + 1 });
    if (served === undefined || served.height <= node.ledger.length) {
      next();
      return;
    }
    let v: VerifiedSnapshot;
    try {
      v = verifySnapshot(SIM_CHAIN_ID, served.height, served.bytes, served.proof, this.crypto.certs, { chainId: SIM_CHAIN_ID });
    } catch (err) {
      if (!(err instanceof SnapshotSyncError)) throw err;
      this.trace.note(`${this.now.toFixed(3)} snapshot from ${peer} refused at ${i}: ${err.reason}`);
      if (node.honest) this.snapshotsRefused++;
      next();
      return;
    }
    node.snapshotAsk = undefined;
    const t = v.executed.height;
    if (t <= node.ledger.length) return;
    this.trace.note(`${this.now.toFixed(3)} snapshot install: ${i} at height ${t} from ${peer}`);
    if (node.honest) {
      this.snapshotInstalls++;
      this.checker.onInstall(i, v.executed);
      this.checker.onExecuted(i, v.executed);
      // What the blocks it jumped over committed, for the liveness check.
      for (let h = node.ledger.length + 1; h <= t; h++) for (const c of this.canonicalBlocks[h - 1]?.payload ?? []) node.committedCommands.add(commandKey(c));
    }
    // As the store's installSnapshot: no block or state below, the installed state and its QC.
    node.ledger.length = 0;
    node.ledger.length = t;
    node.executed.length = 0;
    node.executed[t - 1] = v.executed;
    node.lowestBlock = t + 1;
    node.pendingSnapshots.length = 0;
    node.commitQc = v.rootQc;
    node.snapshot = { height: t, bytes: v.bytes };
    node.app = v.app;
    this.step(i, { type: 'state-installed', executed: v.executed, round: v.round, highQc: v.rootQc, syncFrom: peer, committedIds: v.app.recentRequestIds(node.replica.recentlyCommittedLimit) });
  }

  private step(i: number, event: ConsensusEvent, fromInstance = 0): void {
    const node = this.nodes[i]!;
    const replica = node.replica;
    if (!replica) return;
    let ev: ConsensusEvent | undefined = event;
    if (node.byz) ev = node.byz.behavior.incoming(event, node.byz.ctx, { fromInstance });
    if (!ev) return;
    if (node.detector && ev.type === 'vote') {
      const evidence = node.detector.observe(ev);
      if (evidence) {
        this.evidence++;
        this.trace.note(`${this.now.toFixed(3)} evidence at ${i}: ${evidence.offender} double-voted in round ${evidence.round}`);
        if (this.nodes[evidence.offender]?.honest) this.checker.violation ??= { invariant: 'vote-safety', detail: `evidence of a double vote by honest replica ${evidence.offender} in round ${evidence.round}` };
      }
    }
    let actions = replica.step(ev);
    if (node.byz) actions = node.byz.behavior.outgoing(actions, node.byz.ctx);
    if (node.honest) for (const a of actions) if (a.type === 'reject' && !this.nodes[a.from]?.honest) this.rejectedFromByzantine++;
    this.apply(node, actions);
  }

  private apply(node: Node, actions: readonly ConsensusAction[], instance = 0): void {
    const i = node.index;
    const armed = node.crashArmed;
    if (armed !== undefined && actions.some((a) => a.type === 'commit' && a.blocks.some((b) => b.round >= armed))) {
      // Killed after the step's flush, before its commits': its messages leave, nothing executes.
      const committed = actions.flatMap((a) => (a.type === 'commit' ? a.blocks : []));
      this.apply(
        node,
        actions.filter((a) => a.type !== 'commit'),
        instance,
      );
      this.crashNow(node, committed);
      return;
    }
    const executed: ExecutedState[] = [];
    for (const a of actions) {
      switch (a.type) {
        case 'broadcast': {
          if (node.honest) this.observeMessage(i, a.message);
          const size = messageSize(a.message);
          for (let j = 0; j < this.n; j++) if (j !== i) this.sendMessage(i, j, a.message, size, instance);
          break;
        }
        case 'send':
          if (node.honest) this.observeMessage(i, a.message);
          this.sendMessage(i, a.to, a.message, messageSize(a.message), instance);
          break;
        case 'set-timer':
        case 'set-proposal-timer': {
          const timer: TimerKind = a.type === 'set-timer' ? 'timer' : 'proposal-timer';
          if (timer === 'proposal-timer' && node.honest) this.proposalHolds++;
          const token = ++node.timerTokens[timer];
          this.queue.push(this.now + a.delayMs * node.timerSkew, { kind: 'timer', timer, replica: i, round: a.round, token });
          break;
        }
        case 'commit':
          for (const b of a.blocks) executed.push(this.commit(node, b));
          if (a.qc !== undefined) node.commitQc = a.qc;
          break;
        case 'sync-request':
          this.askSync(i, a.to, a.fromHeight, undefined);
          break;
        case 'reject':
          break;
      }
    }
    // Execution follows the step that committed, as the node's runtime does it.
    for (const state of executed) this.step(i, { type: 'executed', state });
  }

  /** Appends a new block to the ledger and executes it; a re-commit after restart replays the stored result. */
  private commit(node: Node, b: Block): ExecutedState {
    this.committedInStep = true;
    const isNew = node.honest ? this.checker.onCommit(node.index, b) : b.height === node.ledger.length + 1;
    if (!isNew) {
      const stored = node.executed[b.height - 1];
      if (stored) return stored;
    }
    if (b.height !== node.ledger.length + 1) {
      // Only reachable after a prefix violation (already recorded) or on a Byzantine node.
      return node.executed[node.executed.length - 1] ?? { height: 0, blockId: b.id, stateRoot: new Uint8Array(32), logRoot: new Uint8Array(32) };
    }
    node.ledger.push(b);
    if (node.honest) this.canonicalBlocks[b.height - 1] ??= b;
    for (const c of b.payload) node.committedCommands.add(commandKey(c));
    // As the node executes a block (and as verifySnapshot replays one): the simulator's commands
    // are not signed requests, so they commit as MALFORMED and change the log alone.
    const { commands, origins } = applicationInputs(b.payload);
    const r = node.app.applyBlock(commands, origins);
    const state: ExecutedState = { height: b.height, blockId: b.id, stateRoot: r.stateRoot, logRoot: r.logRoot };
    node.executed[b.height - 1] = state;
    if (node.honest) this.checker.onExecuted(node.index, state);
    // As the runtime: a snapshot at each interval height, saved (and the blocks below it pruned)
    // only once a certified header covers it.
    const policy = this.cfg.snapshots;
    if (policy !== undefined && policy.interval > 0 && b.height % policy.interval === 0 && node.pendingSnapshots.length < MAX_PENDING_SNAPSHOTS) {
      node.pendingSnapshots.push({ height: b.height, bytes: node.app.snapshot() });
    }
    if (policy === undefined || node.pendingSnapshots.length === 0 || node.replica === undefined) return state;
    const proven = newestProvenSnapshot(node.pendingSnapshots, this.ledgerView(node), node.replica.syncChain());
    if (proven !== undefined) {
      node.pendingSnapshots.splice(0, proven.index + 1);
      node.snapshot = proven.snapshot;
      node.lowestBlock = Math.max(node.lowestBlock, proven.snapshot.height - policy.retainBlocks);
    }
    return state;
  }

  private sendMessage(from: number, to: number, message: ConsensusMessage, size: number, instance = 0): void {
    // A network adversary (twins, ByzzFuzz) may cut this link for this message's round.
    if (this.now < this.byzFaultsUntilMs) for (const b of this.linkFilters) if (b.dropsLink!(from, instance, to, message)) return;
    this.transmit(from, to, size, (f, t) => ({ kind: 'msg', from: f, to: t, message, inst: instance }));
  }

  private transmit(from: number, to: number, size: number, make: (from: number, to: number) => SimEvent): void {
    const ev = make(from, to);
    const type = ev.kind === 'msg' ? ev.message.type : ev.kind;
    this.traffic.byType[type] = (this.traffic.byType[type] ?? 0) + 1;
    this.traffic.messages++;
    this.traffic.bytes += size;
    for (const d of this.network.delays(from, to)) this.queue.push(this.now + d, ev);
  }

  private observeMessage(i: number, m: ConsensusMessage): void {
    switch (m.type) {
      case 'proposal':
        this.checker.onQc(i, m.block.parentQc, 'proposal');
        if (m.tc) this.checker.onTc(i, m.tc, 'proposal');
        break;
      case 'vote':
        this.checker.onVote(i, m.vote.vote, 'sent');
        break;
      case 'timeout':
        this.checker.onTimeout(i, m.timeout.round, 'sent');
        this.checker.onQc(i, m.highQc, 'timeout');
        if (m.tc) this.checker.onTc(i, m.tc, 'timeout');
        break;
    }
  }

  /** Votes to itself never leave the replica: the safety state's writes show them. */
  private observeSafety(i: number, prev: SafetyState | null, next: SafetyState): void {
    if (!this.nodes[i]?.honest) return;
    if (next.lastVote && next.lastVote !== prev?.lastVote) this.checker.onVote(i, next.lastVote.vote);
    if (next.highestTimeoutRound > (prev?.highestTimeoutRound ?? 0)) this.checker.onTimeout(i, next.highestTimeoutRound);
  }

  private result(endReason: SeedResult['endReason']): SeedResult {
    const v = this.latestViolation;
    const honest = this.nodes.filter((nd) => nd.honest);
    const committedCommands = honest.length === 0 ? 0 : Math.min(...honest.map((nd) => nd.committedCommands.size));
    const blocks = this.checker.canonicalHeight;
    return {
      seed: this.cfg.seed,
      violation: v ? { invariant: v.invariant, detail: v.detail, atMs: v.atMs, trace: this.trace.lastEvents() } : undefined,
      safetyViolation: v !== undefined && SAFETY_INVARIANTS.has(v.invariant),
      livenessViolation: v?.invariant === 'liveness',
      committedBlocks: blocks,
      committedCommands,
      submittedCommands: this.submitted,
      blocksWhileFaulty: this.blocksWhileFaulty,
      minHonestHeight: honest.length === 0 ? 0 : Math.min(...honest.map((nd) => nd.ledger.length)),
      messages: this.traffic.messages,
      messagesByType: { ...this.traffic.byType },
      bytes: this.traffic.bytes,
      messagesPerBlock: perBlock(this.traffic.messages, blocks),
      bytesPerBlock: perBlock(this.traffic.bytes, blocks),
      traceHash: this.trace.digest(),
      finalRound: this.honestRound,
      virtualMs: Math.round(this.now),
      events: this.events,
      endReason: v ? 'violation' : endReason,
      byzantineExceedsF: (this.cfg.byzantine ?? 0) > this.f,
      rejectedFromByzantine: this.rejectedFromByzantine,
      proposalHolds: this.proposalHolds,
      commitWindowCrashes: this.commitWindowCrashes,
      snapshotInstalls: this.snapshotInstalls,
      snapshotsRefused: this.snapshotsRefused,
      evidence: this.evidence,
      roundsToCommitAfterGst: this.liveness.maxRoundsAfterGst,
    };
  }
}

export function runSeed(cfg: SimConfig): SeedResult {
  return new Simulation(cfg).run();
}
