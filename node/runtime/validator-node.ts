import { bytesEqual, toHex } from '../../crypto/bytes.js';
import { resultName } from '../../protocol/result.js';
import { sameExecutedState } from '../../protocol/block.js';
import type { CommitReceipt } from '../../protocol/submit-reply.js';
import { applicationInputs } from '../app/block-inputs.js';
import { isReplay } from '../app/replay-window.js';
import { KvApplication, type KvApplicationOptions } from '../app/kv-app.js';
import { DEFAULT_EMPTY_PROPOSAL_HOLD_MS } from '../config/node-config.js';
import type { CertificateOps } from '../consensus/certs.js';
import type { CertifiedTip, ConsensusAction, ConsensusEvent, ConsensusMessage } from '../consensus/messages.js';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_COMMANDS, EXECUTED_WINDOW, MAX_SYNC_BLOCKS, Replica, restartKnowledge, tipToKeep } from '../consensus/replica.js';
import type { ConsensusSigner } from '../consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert, TimeoutCert } from '../../protocol/types.js';
import type { NodeStatus } from '../observability/http.js';
import type { Logger } from '../observability/log.js';
import { type NodeMetrics, reasonLabel } from '../observability/metrics.js';
import type { StatelessValidator } from '../../validation/stateless.js';
import { ignore, type Verdict } from '../../validation/verdict.js';
import { clientKeyTag, MIN_REQUEST_BYTES, requestHeader } from '../../protocol/request.js';
import type { SnapshotProof } from '../../network/codec.js';
import { MAX_SNAPSHOT_CHUNK_BYTES, MAX_SYNC_RESPONSE_BYTES } from '../../network/codec.js';
import { type Clock, type ConsensusTransport, type LedgerStore, type SnapshotChunkAnswer, type SyncAnswer, systemClock } from './ports.js';
import { downloadSnapshot, MAX_PENDING_SNAPSHOTS, newestProvenSnapshot, SnapshotSyncError, snapshotProof, verifySnapshot, verifySnapshotProof } from './state-sync.js';
import { SyncPeerSearch } from './sync-peers.js';
import { snapshotLimits } from '../app/snapshot.js';
import { mempoolShare, ShareCheck, type ShareAmount } from './mempool-shares.js';

type CommitAction = Extract<ConsensusAction, { type: 'commit' }>;

export interface ValidatorNodeOptions {
  readonly chainId: string;
  readonly index: number;
  readonly n: number;
  readonly signer: ConsensusSigner;
  readonly certs: CertificateOps;
  readonly store: LedgerStore;
  readonly transport: ConsensusTransport;
  readonly validator: StatelessValidator;
  /** `recentlyCommittedLimit`: how many committed request ids the core remembers (ReplicaConfig; 100k by default). */
  readonly consensus: { baseTimeoutMs: number; maxBatchCommands: number; maxBatchBytes: number; recentlyCommittedLimit?: number };
  readonly app?: { allowMint?: boolean; initialBalances?: readonly { readonly account: Uint8Array; readonly amount: bigint }[] };
  readonly clock?: Clock;
  readonly metrics?: NodeMetrics;
  readonly logger?: Logger;
  /** Called once when the node stops itself on a fatal error (see `failure`). */
  readonly onHalt?: (err: Error) => void;
  /** Periodic snapshots and pruning; see DEFAULT_SNAPSHOTS. */
  readonly snapshots?: SnapshotPolicy;
  /** ReplicaConfig.emptyProposalHoldMs; the operators' default (node config) when absent. */
  readonly emptyProposalHoldMs?: number;
  /** Bounds on the requests waiting to be proposed (ReplicaConfig.maxPendingCommands/Bytes); the core's defaults when absent. */
  readonly mempool?: {
    readonly maxRequests?: number;
    readonly maxBytes?: number;
    /** Requests one client key may hold in the queue (mempool-shares.ts; default a sixteenth of it). */
    readonly perClient?: number;
  };
  /** Bytes of blocks one sync answer carries at most (default SYNC_ANSWER_BYTES; tests use less). */
  readonly syncAnswerBytes?: number;
}

export interface SnapshotPolicy {
  /** Take an application snapshot every this many committed heights; 0 never (and never prune). */
  readonly interval: number;
  /** Blocks kept below the latest snapshot, so peers a little behind can still replay blocks. */
  readonly retainBlocks: number;
}

/**
 * Requests of a proposal not yet validated here that the step checks itself (~0.1 ms each with
 * libsodium) rather than waiting for the pool: a proposal racing its requests' relayed copies
 * usually misses a few, and the pool's answer, behind client and relay work, came tens of
 * milliseconds later. More than this go to the pool (a leader flooding unseen requests must not
 * stall the event loop).
 */
const UNCACHED_CHECKED_IN_STEP = 32;

/**
 * Commits within these bounds run in their step's own durable group (see step()): executing a
 * command costs tens of microseconds, a flush about a millisecond here.
 */
const SMALL_COMMIT = Object.freeze({ blocks: 3, commands: 16, bytes: 16 * 1024 });

export const DEFAULT_SNAPSHOTS: SnapshotPolicy = Object.freeze({ interval: 1000, retainBlocks: 1000 });

/**
 * How a waited-on request ends without a receipt, when this validator caught up by installing a
 * certified snapshot at `snapshotHeight` and never executed the blocks below it:
 *   sequence-used-below-snapshot  the installed state shows the client's sequence used (by this
 *                                 request, most likely; or by another with the same sequence, or
 *                                 it fell below the replay window): it cannot commit any more,
 *                                 and what did commit has no receipt here
 *   expired                       its expiry is below the block above the installed state: it
 *                                 cannot commit any more (one that may still commit in a certified
 *                                 block this node has yet to execute keeps waiting)
 *   busy                          the queue, emptied by the install, had no room to take it back
 *                                 (retryable, like any busy answer)
 * The kinds are the `ignored` reasons the submit protocol answers with.
 */
export interface NoReceipt {
  readonly kind: 'sequence-used-below-snapshot' | 'expired' | 'busy';
  readonly snapshotHeight: number;
}

/** How a waited-on request ends here: its receipt, or why there is none. */
export type CommitOutcome = CommitReceipt | NoReceipt;

/** submit()'s answer for one request. */
export interface SubmitAnswer {
  readonly verdict: Verdict;
  /** Accepted requests: the commit, or why there will be none. */
  readonly committed?: Promise<CommitOutcome>;
  /** Accepted requests: stop waiting (the caller's deadline passed). */
  readonly cancel?: () => void;
  /**
   * Accepted, and the same request was queued or waited on here already: a copy, which adds
   * nothing to consensus (client-conduct.ts gives a peer no credit for it).
   */
  readonly copy?: true;
}

/** Narrows a CommitOutcome to a receipt. */
export function isReceipt(outcome: CommitOutcome): outcome is CommitReceipt {
  return !('kind' in outcome);
}

/** The ledger's own data disagrees with itself (snapshot vs executed state): stop, never serve it. */
export class LedgerRecoveryError extends Error {
  constructor(detail: string) {
    super(`cannot recover the application from the ledger: ${detail}`);
    this.name = 'LedgerRecoveryError';
  }
}

/** A committed block that disagrees with the ledger: the node must stop, never carry on. */
export class LedgerDivergenceError extends Error {
  constructor(readonly height: number) {
    super(`committed block at height ${height} differs from the one in the ledger: refusing to continue`);
    this.name = 'LedgerDivergenceError';
  }
}

/** A request of this validator's own clients, waiting for its commit here. */
interface WaitingRequest {
  readonly request: Uint8Array;
  readonly callbacks: Set<(r: CommitOutcome) => void>;
  /** Clock ms: when submit() got it, and when its verdict came back (the request-stage metric). */
  readonly receivedAt: number;
  readonly queuedAt: number;
}

/** What a request over its client's share of the queue hears: busy, which it retries later. */
const SHARE_FULL: Verdict = ignore('busy');

/** Proposal times kept for the request-stage metric, at most (rounds in flight are a handful). */
const PROPOSALS_TIMED = 64;

/** Bytes of blocks one sync answer carries at most: half the wire's limit, room for the rest. */
const SYNC_ANSWER_BYTES = MAX_SYNC_RESPONSE_BYTES / 2;

/** A block's size on the wire, near enough to bound an answer: its payload and a fixed overhead. */
function syncBlockBytes(b: Block): number {
  let bytes = 1024;
  for (const p of b.payload) bytes += p.length + 4;
  return bytes;
}

/**
 * One validator's runtime: drives the pure consensus core with real time, executes what it
 * commits on the application in order, makes the ledger durable, answers peers' sync
 * requests, and admits client requests after stateless validation. All I/O goes through the
 * ports (transport, store, clock), so the same code runs over libp2p + LMDB or in-process.
 */
export class ValidatorNode {
  #app: KvApplication;
  private replica: Replica;
  private readonly snapshots: SnapshotPolicy;
  /** Where the core's root starts after recovery from a non-empty ledger (see start()). */
  private recovered: { executed: ExecutedState; round: number; qc: QuorumCert | undefined; known: ReturnType<typeof restartKnowledge> } | undefined;
  /** The certified tip kept before the restart, handed to the core by start(). */
  private recoveredTip: CertifiedTip | undefined;
  /** The highest QC and TC and the voted block of the certified tip last kept on disk (compared by identity). */
  private keptTip: { qc: QuorumCert; tc: TimeoutCert | undefined; complete: boolean; voted: Block | undefined };
  /** The snapshot served to peers, with its proof once one exists: read from disk once. */
  private served: { height: number; bytes: Uint8Array; proof: SnapshotProof | undefined } | undefined;
  /** Snapshots taken at interval heights that no certified header covers yet, oldest first (saveSnapshotOnceProven). */
  private readonly pendingSnapshots: { height: number; bytes: Uint8Array }[] = [];
  private snapshotSyncing = false;
  /** Whom to ask for blocks next, and when to turn to a snapshot: each peer's word that what lies below its lowest block is gone. */
  private readonly syncPeers: SyncPeerSearch;
  private timer: unknown;
  /** The round whose empty proposal the core holds, since when, and its timer (undefined once it fired). */
  private hold: { round: number; since: number; timer: unknown } | undefined;
  private stopped = false;
  private readonly clock: Clock;
  /**
   * Per request id: the request, and its clients' callbacks; a client that stops waiting takes
   * its own out (cancel). The bytes are kept for a snapshot install, which must tell which of
   * them committed in the blocks it jumped over.
   */
  private readonly waiting = new Map<string, WaitingRequest>();
  /**
   * For the request-stage metric: when a proposal with commands first reached this validator
   * from its round's leader (or left it, as leader), by block id (hex), so that only the block
   * that commits is ever read. Kept only while clients wait here; an entry goes when its block
   * commits, and the oldest go past PROPOSALS_TIMED (blocks that never commit).
   */
  private readonly proposalSeenAt = new Map<string, number>();
  private fatal: Error | undefined;
  /** For metrics: when the current round began, and the last certificate rounds seen. */
  private roundStartedAt = 0;
  /** For metrics: when the last block committed here (clock ms). */
  private lastCommitAt: number | undefined;
  private lastRound = 0;
  private lastQcRound = 0;
  private lastTcRound = 0;
  private readonly progressListeners = new Set<() => void>();
  /** Nesting depth of step(); effects wait in the outbox until the outermost one is durable. */
  private depth = 0;
  private outbox: (() => void)[] = [];
  /**
   * Commits of the current step: executed in a durable group of their own once its messages left,
   * or inside the step's own group when they are small (step()).
   */
  private commits: CommitAction[] = [];
  /** Each client key's share of the core's queue (mempool-shares.ts): one key cannot fill it for everyone else. */
  readonly #share: ShareAmount;

  constructor(private readonly opts: ValidatorNodeOptions) {
    this.clock = opts.clock ?? systemClock;
    this.snapshots = opts.snapshots ?? DEFAULT_SNAPSHOTS;
    if (!Number.isSafeInteger(this.snapshots.interval) || this.snapshots.interval < 0 || !Number.isSafeInteger(this.snapshots.retainBlocks) || this.snapshots.retainBlocks < 0) {
      throw new RangeError('snapshot interval and retained blocks must be non-negative integers');
    }
    // Recovery: the application from the latest local snapshot (if any) plus the blocks above
    // it; the core then starts at the ledger's top (start()), over the persisted safety state.
    const store = opts.store;
    const height = store.committedHeight();
    const snap = store.latestSnapshot();
    let from = 1;
    if (snap !== undefined && snap.height <= height) {
      this.#app = KvApplication.fromSnapshot(snap.bytes, this.appOptions());
      const e = store.executed(snap.height);
      if (this.#app.height !== snap.height || !e || !bytesEqual(e.stateRoot, this.#app.stateRoot()) || !bytesEqual(e.logRoot, this.#app.logRoot())) {
        throw new LedgerRecoveryError(`the snapshot at height ${snap.height} does not match the executed state stored for it`);
      }
      from = snap.height + 1;
    } else {
      this.#app = new KvApplication(this.appOptions());
      if (store.lowestBlockHeight() > 1 && height > 0) throw new LedgerRecoveryError(`blocks below ${store.lowestBlockHeight()} are pruned and there is no snapshot`);
    }
    for (let h = from; h <= height; h++) {
      const block = store.block(h);
      if (!block) throw new LedgerRecoveryError(`the ledger is missing block ${h} of ${height}`);
      this.execute(block);
    }
    if (height > 0) {
      const executed = store.executed(height);
      const top = store.block(height);
      const qc = store.commitQc();
      const round = top?.round ?? (qc && qc.vote.height === height ? qc.vote.round : undefined);
      if (!executed || round === undefined) throw new LedgerRecoveryError(`no block or certificate for the top height ${height}`);
      if (!bytesEqual(executed.stateRoot, this.#app.stateRoot()) || !bytesEqual(executed.logRoot, this.#app.logRoot())) {
        throw new LedgerRecoveryError(`replayed state at height ${height} differs from the stored executed state`);
      }
      // What the core knew below the top: the top header's claim (so it bounds what a child of
      // the top claims by what the others can check: the top may have been committed by a QC
      // only some replicas saw), the states it may be asked to check headers against again,
      // and the highest commit the ledger proves.
      const known = restartKnowledge({ top: height, lowestBlock: store.lowestBlockHeight(), executed: (h) => store.executed(h), blocks: (a, b) => store.blocks(a, b) });
      // A certified header of our own chain: our execution at its height must agree with it.
      const claim = known.rootClaim;
      const ours = claim === undefined || claim.height === 0 ? undefined : store.executed(claim.height);
      if (claim !== undefined && ours !== undefined && !sameExecutedState(ours, claim)) {
        throw new LedgerRecoveryError(`the executed state stored at height ${claim.height} differs from the one block ${height}'s header carries`);
      }
      this.recovered = { executed, round, qc: qc && qc.vote.height === height ? qc : undefined, known };
    }
    this.#share = mempoolShare(
      {
        maxRequests: opts.mempool?.maxRequests ?? DEFAULT_MAX_PENDING_COMMANDS,
        maxBytes: opts.mempool?.maxBytes ?? DEFAULT_MAX_PENDING_BYTES,
        maxRequestBytes: opts.consensus.maxBatchBytes,
      },
      opts.mempool?.perClient,
    );
    this.replica = this.newReplica();
    this.syncPeers = new SyncPeerSearch(opts.n, opts.index);
    this.keptTip = { qc: this.replica.highestQc, tc: this.replica.highestTc, complete: true, voted: undefined };
    // Read before any step: the first group of start() keeps a new tip in its place.
    this.recoveredTip = store.certifiedTip();
    if (opts.metrics) opts.metrics.lastCommitAge.source = () => (this.lastCommitAt === undefined ? undefined : (this.clock.now() - this.lastCommitAt) / 1000);
  }

  /** The replicated application (replaced wholesale when a snapshot is installed). */
  get app(): KvApplication {
    return this.#app;
  }

  private appOptions(): KvApplicationOptions {
    const o = this.opts;
    return { chainId: o.chainId, allowMint: o.app?.allowMint ?? true, initialBalances: o.app?.initialBalances ?? [] };
  }

  private newReplica(): Replica {
    const o = this.opts;
    return new Replica({
      chainId: o.chainId,
      index: o.index,
      n: o.n,
      signer: o.signer,
      safetyStorage: o.store.safetyStorage(),
      certs: o.certs,
      baseTimeoutMs: o.consensus.baseTimeoutMs,
      maxBatchCommands: o.consensus.maxBatchCommands,
      maxBatchBytes: o.consensus.maxBatchBytes,
      ...(o.consensus.recentlyCommittedLimit === undefined ? {} : { recentlyCommittedLimit: o.consensus.recentlyCommittedLimit }),
      emptyProposalHoldMs: o.emptyProposalHoldMs ?? DEFAULT_EMPTY_PROPOSAL_HOLD_MS,
      // A request past its expiry at the height voters check it against (see validate-payload),
      // or whose sequence already committed here. Voters refuse a command their core saw commit
      // recently, but that memory does not survive a restart or a snapshot install: a committed
      // request relayed back to a restarted leader would otherwise make it propose blocks the
      // others refuse, round after round, until the request expired. Checked once per command a
      // leader proposes, not per relay.
      isStale: (cmd, blockHeight) => {
        const header = requestHeader(cmd);
        // The voters' rule (validate-payload): expired below the block's own height.
        if (header === undefined || header.expiry < BigInt(blockHeight)) return true;
        return this.isCommittedRequest(cmd, header);
      },
      // Blocks spread among client keys first (each a sixteenth at most), then filled in order.
      senderOf: clientKeyTag,
      senderShare: this.#share,
      ...(o.mempool?.maxRequests === undefined ? {} : { maxPendingCommands: o.mempool.maxRequests }),
      ...(o.mempool?.maxBytes === undefined ? {} : { maxPendingBytes: o.mempool.maxBytes }),
      validatePayloads: true,
      ...(o.validator.requestIds === undefined ? {} : { commandDigests: o.validator.requestIds }),
    });
  }

  start(): void {
    // A restarted core begins at the ledger's top rather than re-syncing from genesis: blocks
    // below a snapshot are pruned here and at peers, so replaying them may be impossible.
    const r = this.recovered;
    this.recovered = undefined;
    if (r) {
      // The application's log holds every committed request, pruned blocks' too, so the core's
      // memory of commits comes back whole however little of the ledger's blocks is kept.
      const committedIds = this.#app.recentRequestIds(this.replica.recentlyCommittedLimit);
      this.step({ type: 'state-installed', executed: r.executed, round: r.round, ...r.known, committedIds, ...(r.qc ? { highQc: r.qc } : {}) });
    }
    // Its safety state may have promised more than the ledger shows (see saveCertifiedTip).
    const tip = this.recoveredTip;
    this.recoveredTip = undefined;
    if (tip) this.step({ type: 'tip-recovered', tip });
    this.step({ type: 'start' });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.hold?.timer !== undefined) this.clock.clearTimeout(this.hold.timer);
    this.hold = undefined;
  }

  /** The error that stopped the node, if any (ledger divergence, storage failure). */
  get failure(): Error | undefined {
    return this.fatal;
  }

  /** Validator `peer` is connected anew (the host's first connection to it after none). */
  peerConnected(peer: number): void {
    if (this.stopped) return;
    // From libp2p's event dispatch: a failure halts the node rather than escaping into libp2p.
    this.stepFromCallback({ type: 'peer-connected', peer });
  }

  /** A consensus message from validator `from`, already decoded by the transport. */
  deliver(from: number, message: ConsensusMessage): void {
    const started = this.clock.now();
    // Only the round's own leader's: a proposal from anyone else never commits, and would only
    // push real entries out of the bounded map.
    if (message.type === 'proposal' && this.replica.leaderOfRound(message.block.round) === from) this.proposalSeen(message.block, started);
    this.step({ ...message, from } as ConsensusEvent);
    this.opts.metrics?.messageLatencySeconds.observe({ type: message.type }, (this.clock.now() - started) / 1000);
  }

  /**
   * Answers a peer's sync request from the ledger and the certified, uncommitted tip; a request
   * reaching below the blocks still held is told so, and the peer turns to a snapshot.
   */
  serveSync(fromHeight: number): SyncAnswer {
    const chain = this.replica.syncChain();
    const store = this.opts.store;
    const top = store.committedHeight();
    const room = Math.max(0, MAX_SYNC_BLOCKS - chain.blocks.length);
    const from = Math.max(1, fromHeight);
    const lowest = store.lowestBlockHeight();
    if (from < lowest && from <= top) return { pruned: lowest };
    // Bounded in bytes as well as in blocks: a long run of full blocks would not encode (the wire
    // refuses answers over MAX_SYNC_RESPONSE_BYTES), and a replica far behind would get nothing.
    // Cut short, the answer must still commit something at the asker, or it would ask again for
    // the same blocks for ever: past the budget it goes on to a block whose round follows its
    // parent's, so that the QC above it (the next block's parent QC) commits everything before
    // it by the two-chain rule, never past the wire's limit.
    const budget = this.opts.syncAnswerBytes ?? SYNC_ANSWER_BYTES;
    const hardLimit = MAX_SYNC_RESPONSE_BYTES - SYNC_ANSWER_BYTES / 4;
    let bytes = chain.blocks.reduce((sum, b) => sum + syncBlockBytes(b), 0);
    const committed: Block[] = [];
    const endsOnTwoChain = () => committed.length >= 2 && committed[committed.length - 1]!.round === committed[committed.length - 2]!.round + 1;
    let next = from;
    for (const last = Math.min(top, from + room - 1); next <= last; next++) {
      const b = store.block(next);
      if (!b) break;
      const size = syncBlockBytes(b);
      if (committed.length > 0 && bytes + size > budget && (endsOnTwoChain() || bytes + size > hardLimit)) break;
      committed.push(b);
      bytes += size;
    }
    if (next > top) return { blocks: [...committed, ...chain.blocks], highQc: chain.highQc };
    // The uncommitted tip would not chain from where the answer ends: it is certified by the
    // parent QC of the block above, and the asker comes back for the rest.
    const above = store.block(next);
    return { blocks: committed, highQc: above ? above.parentQc : chain.highQc };
  }

  /**
   * A chunk of this node's latest snapshot for a peer: `height` 0 asks for the latest, whose
   * first chunk carries the proof that certifies it. Undefined when there is no snapshot, not
   * the one asked for (replaced since), or none that a certified header covers yet.
   */
  serveSnapshot(height: number, offset: number): SnapshotChunkAnswer | undefined {
    if (!this.served) {
      const snap = this.opts.store.latestSnapshot();
      if (!snap) return undefined;
      this.served = { height: snap.height, bytes: snap.bytes, proof: undefined };
    }
    const s = this.served;
    if ((height !== 0 && height !== s.height) || !Number.isSafeInteger(offset) || offset < 0 || offset >= s.bytes.length) return undefined;
    // Served chunks start at multiples of the chunk size: the fetcher asks for nothing else.
    if (offset % MAX_SNAPSHOT_CHUNK_BYTES !== 0) return undefined;
    const data = s.bytes.subarray(offset, offset + MAX_SNAPSHOT_CHUNK_BYTES);
    if (offset > 0) return { height: s.height, total: s.bytes.length, offset, data };
    s.proof ??= snapshotProof(this.opts.store, s.height, this.replica.syncChain());
    if (!s.proof) return undefined;
    return { height: s.height, total: s.bytes.length, offset, data, proof: s.proof };
  }

  /**
   * Admits signed client requests: stateless validation first, then into consensus. Resolves
   * per request with its verdict and, for accepted ones, a promise of the commit receipt and
   * `cancel`, which a caller that gives up waiting (its deadline passed) must call: a request
   * that never commits (expired, or never proposed) would otherwise hold its callback forever.
   * The request arrays are taken as immutable from here on: their ids and verdicts are remembered
   * by the array (see DigestMemo).
   */
  async submit(requests: readonly Uint8Array[]): Promise<SubmitAnswer[]> {
    const receivedAt = this.clock.now();
    // A request whose client's share is full is answered busy before it costs a check. The key
    // is read unverified, which is harmless: naming another client's full share only gets the
    // request refused, and one with room is checked as any other.
    const clients = requests.map(clientKeyTag);
    const shareFull = this.shareFull(requests, clients);
    const checked = shareFull === undefined ? requests : requests.filter((_, i) => !shareFull[i]);
    const checkedVerdicts = checked.length === 0 ? [] : await this.opts.validator.validate(checked, this.nextBlockHeight());
    let at = 0;
    const verdicts = shareFull === undefined ? checkedVerdicts : requests.map((_, i) => (shareFull[i] ? SHARE_FULL : checkedVerdicts[at++]!));
    const queuedAt = this.clock.now();
    const admitted: Uint8Array[] = [];
    let { commands: roomCommands, bytes: roomBytes } = this.replica.pendingRoom;
    let busy = 0;
    let shareBusy = shareFull?.filter(Boolean).length ?? 0;
    const shares = this.shareCheck();
    /** Ids this call queues: a second copy of one in the same call takes no room again. */
    const queuing = new Set<string>();
    const out = verdicts.map((verdict, i) => {
      if (verdict.kind !== 'accept') return { verdict };
      const bytes = requests[i]!;
      // Its sequence already committed here: it would only commit as REPLAYED (or, while the
      // core remembers it, never be proposed and leave the client waiting): say so now.
      const header = requestHeader(bytes);
      if (this.isCommittedRequest(bytes, header)) return { verdict: ignore('replayed') };
      // The id the core will commit it under; the pool shares its memo, so no second sha256.
      const key = this.replica.commandKey(bytes);
      // The queue is full: the core would drop it, and the client would wait for nothing. A
      // copy already queued (a client retrying after a timeout) takes no room and is waited on;
      // one only waited on (the core dropped it: stale, or a snapshot jump) is queued again, so
      // it takes room and its share like a new one.
      const queued = this.replica.isPending(key) || queuing.has(key);
      const copy = queued || this.waiting.has(key);
      if (!queued) {
        if (roomCommands < 1 || roomBytes < bytes.length) {
          busy++;
          return { verdict: ignore('busy') };
        }
        const client = clients[i];
        if (client === undefined || !shares.fits(client, bytes.length)) {
          shareBusy++;
          return { verdict: SHARE_FULL };
        }
        roomCommands--;
        roomBytes -= bytes.length;
        queuing.add(key);
      }
      let callback: ((r: CommitOutcome) => void) | undefined;
      const committed = new Promise<CommitOutcome>((resolve) => {
        callback = resolve;
      });
      let entry = this.waiting.get(key);
      if (!entry) {
        entry = { request: bytes, callbacks: new Set(), receivedAt, queuedAt };
        this.waiting.set(key, entry);
      }
      entry.callbacks.add(callback!);
      const cancel = () => {
        const mine = this.waiting.get(key);
        if (!mine?.callbacks.delete(callback!)) return;
        if (mine.callbacks.size === 0) this.waiting.delete(key);
      };
      admitted.push(bytes);
      return copy ? { verdict, committed, cancel, copy } : { verdict, committed, cancel };
    });
    if (busy > 0) this.opts.metrics?.busyRequests.inc({ queue: 'mempool' }, busy);
    if (shareBusy > 0) this.opts.metrics?.busyRequests.inc({ queue: 'client-share' }, shareBusy);
    if (admitted.length > 0) this.step({ type: 'commands', commands: admitted });
    return out;
  }

  /**
   * Per request, whether its client's share of the queue is full (and it is no copy of a request
   * already queued, which takes no room); undefined when none is, the usual case.
   */
  private shareFull(requests: readonly Uint8Array[], clients: readonly (number | undefined)[]): boolean[] | undefined {
    // What this call's earlier requests of each client will take, if they pass (one client, one
    // frame: a frame of thousands must not all be checked only to hear busy).
    const shares = this.shareCheck();
    let full: boolean[] | undefined;
    // Those the queue itself has no room for are its to refuse (after their check, as before).
    let queueRoom = this.replica.pendingRoom.commands;
    /** Ids already counted in this call: a second copy in one frame takes nothing more. */
    const counted = new Set<string>();
    let batchBytes = 0;
    for (const r of requests) batchBytes += r.length;
    for (let i = 0; i < requests.length && queueRoom > 0; i++) {
      const bytes = requests[i]!;
      const client = clients[i];
      if (client === undefined) continue;
      // The usual case: the whole call could not fill the client's share, so nothing to ask.
      const held = this.replica.pendingOfSender(client);
      if (held.commands + requests.length < this.#share.commands && held.bytes + batchBytes <= this.#share.bytes) continue;
      // Asked first, so that copies spend no room a new request needs (an id the pool's memo
      // then keeps, by the array).
      const key = this.replica.commandKey(bytes);
      if (this.replica.isPending(key) || counted.has(key)) continue;
      if (shares.fits(client, bytes.length)) {
        counted.add(key);
        queueRoom--;
        continue;
      }
      full ??= new Array<boolean>(requests.length).fill(false);
      full[i] = true;
    }
    return full;
  }

  /** A check of one batch's requests against their clients' shares of the core's queue. */
  private shareCheck(): ShareCheck {
    return new ShareCheck(this.#share, (client) => this.replica.pendingOfSender(client));
  }

  /** Requests and bytes the client key holds in this validator's queue (tests, by its tag). */
  clientShare(clientKey: Uint8Array): ShareAmount {
    let tag = 0;
    for (let i = 0; i < 6; i++) tag = tag * 256 + clientKey[i]!;
    return this.replica.pendingOfSender(tag);
  }

  /**
   * The lowest height a request admitted now could commit at: the next block extends the highest
   * QC (at least one above the committed height), so a request expiring below it would only be
   * dropped by the leader that reached it, its client left waiting: refused at once instead.
   */
  private nextBlockHeight(): number {
    return Math.max(this.opts.store.committedHeight(), this.replica.highestQc.vote.height) + 1;
  }

  /**
   * Whether the client's sequence of this (valid) request has committed: the application's replay
   * record. The pool decoded it already; its header is read in place.
   */
  private isCommittedRequest(bytes: Uint8Array, header = requestHeader(bytes)): boolean {
    return header !== undefined && isReplay(this.#app.replayRecord(header.clientKey), header.sequence);
  }

  /**
   * Admits requests that reached this node by gossip: validated (one pool call) and queued like
   * local ones, but nobody here waits for their receipt. Returns the verdicts for peer scoring.
   * All or nothing: if any request is rejected, the batch came from a peer that forwarded a
   * forgery, and none of it is queued (honest copies arrive again from honest peers).
   */
  async admit(requests: readonly Uint8Array[]): Promise<Verdict[]> {
    const verdicts = await this.opts.validator.validate(requests, this.nextBlockHeight());
    if (verdicts.some((v) => v.kind === 'reject')) return verdicts;
    // What does not fit in a full queue the core drops: the leader that has it proposes it, and
    // this node validates it then.
    // Relayed copies count against their client's share here too (the core keeps the count), so
    // a key cannot fill this queue through the other validators either; the core drops what is
    // past it unanswered, as above.
    const admitted = requests.filter((_, i) => verdicts[i]!.kind === 'accept');
    if (admitted.length > 0) this.step({ type: 'commands', commands: admitted });
    return verdicts;
  }

  /** The core's current round. */
  get round(): number {
    return this.replica.currentRound;
  }

  /** The validator that leads `round`. */
  leaderOf(round: number): number {
    return this.replica.leaderOfRound(round);
  }

  /** A validated request waiting in the core's queue, by id key (DigestMemo), if one does. */
  pendingRequest(key: string): Uint8Array | undefined {
    return this.replica.pendingCommand(key);
  }

  /**
   * Whether the pending queue has room for one more request beyond `inValidation` requests
   * already on their way to it (back-pressure for ingress). Counting those keeps a full queue
   * from being refilled, behind it, by a validation queue of seconds' worth of requests that
   * would each be checked only to be answered busy.
   */
  acceptsRequests(inValidation = 0): boolean {
    const room = this.replica.pendingRoom;
    return room.commands > inValidation && room.bytes >= MIN_REQUEST_BYTES;
  }

  /** The core's highest QC (replaced, never mutated, when a higher one arrives). */
  get highestQc(): QuorumCert {
    return this.replica.highestQc;
  }

  /** The core's certified tip: the blocks above the committed root, the highest QC and TC (light-client queries, restarts). */
  certifiedTip(): CertifiedTip {
    return this.replica.certifiedTip();
  }

  /** Calls `listener` after every consensus step (commits, new QCs); returns the unsubscribe. */
  onProgress(listener: () => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /** The round whose empty roots-only proposal this leader is holding now, if any (tests). */
  get heldProposalRound(): number | undefined {
    return this.hold?.round;
  }

  /** Requests in the core's queue, waiting to be proposed (tests; the metric is vsmr_mempool_size). */
  get pendingRequests(): number {
    return this.replica.pendingCommands;
  }

  /** Clients' requests waiting for their commit here (tests and metrics). */
  get waitingRequests(): number {
    return this.waiting.size;
  }

  status(peers = 0): NodeStatus {
    const round = this.replica.currentRound;
    return {
      chainId: this.opts.chainId,
      index: this.opts.index,
      height: this.opts.store.committedHeight(),
      round,
      leader: round % this.opts.n,
      logRoot: toHex(this.#app.logRoot()),
      stateRoot: toHex(this.#app.stateRoot()),
      peers,
    };
  }

  /**
   * One consensus step, in one or two durable groups (LedgerStore.durably), each released only
   * after its flush:
   *  1. the core's step: the safety state behind a vote or timeout is written, flushed, and only
   *     then do the step's messages leave (a vote must never leave before the state that forbids
   *     contradicting it is on disk);
   *  2. the blocks the step committed: executed, appended and flushed, and only then are the
   *     clients' receipts handed out.
   * Executing a block of a few hundred requests takes milliseconds, and none of it is needed to
   * vote or to propose (a header carries an earlier executed state), so the messages no longer
   * wait for it: that wait sat on every round's critical path. The price is a second flush on
   * steps that commit. Steps nested in one (an execution report, a synchronous payload check)
   * join the group that is open and its outbox. No other event runs between the two groups.
   * Small commits (isSmallCommit: the empty blocks that carry the two-chain rule forward,
   * block-1 traffic) are executed inside group 1 instead: their execution costs less than the
   * flush it saves, on every round of a lightly loaded chain.
   */
  private step(event: ConsensusEvent): void {
    if (this.stopped) return;
    this.group(() => {
      this.carryOut(this.replica.step(event));
      if (this.depth === 1 && this.commits.length > 0 && this.isSmallCommit(this.commits)) {
        const commits = this.commits;
        this.commits = [];
        this.executeCommits(commits);
      }
    });
    // The outermost step executes what it (and the steps nested in it) committed.
    while (this.depth === 0 && this.commits.length > 0 && !this.stopped) {
      const commits = this.commits;
      this.commits = [];
      this.group(() => this.executeCommits(commits));
    }
  }

  /**
   * Whether committed blocks are cheap enough to execute before the step's messages leave: a few
   * blocks (not a catch-up of hundreds of empty ones), few commands, few bytes, and no snapshot
   * height among them (a snapshot serialises the whole state).
   */
  private isSmallCommit(commits: readonly CommitAction[]): boolean {
    let blocks = 0;
    let commands = 0;
    let bytes = 0;
    const every = this.snapshots.interval;
    // Gives up at the first bound passed: a large commit costs no full walk of its payload here.
    for (const c of commits) {
      for (const b of c.blocks) {
        commands += b.payload.length;
        if (++blocks > SMALL_COMMIT.blocks || commands > SMALL_COMMIT.commands || (every > 0 && b.height % every === 0)) return false;
        for (const p of b.payload) bytes += p.length;
        if (bytes > SMALL_COMMIT.bytes) return false;
      }
    }
    return true;
  }

  /** Runs `body` in one durable group and releases its outbox once the group is flushed. */
  private group(body: () => void): void {
    this.depth++;
    // The flush alone (transaction commit and fsync): the group's time minus its body's.
    const metrics = this.depth === 1 ? this.opts.metrics : undefined;
    let bodyMs = 0;
    const started = metrics ? this.clock.now() : 0;
    try {
      this.opts.store.durably(
        metrics
          ? () => {
              const t = this.clock.now();
              try {
                body();
                this.keepTip();
              } finally {
                bodyMs = this.clock.now() - t;
              }
            }
          : () => {
              body();
              this.keepTip();
            },
      );
    } catch (err) {
      // Nothing of this group is durable, so none of it may be sent; and a core that ran ahead
      // of its own disk cannot be trusted to continue.
      this.outbox = [];
      this.commits = [];
      this.halt(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      this.depth--;
    }
    // Outside the try: the group is durable by now, and nothing here may count as its failure.
    metrics?.durableFlushSeconds.observe(Math.max(0, this.clock.now() - started - bodyMs) / 1000);
    if (this.depth > 0) return;
    const outbox = this.outbox;
    this.outbox = [];
    // A node that halted in this group says nothing more.
    if (this.stopped) return;
    for (const send of outbox) send();
    for (const listener of this.progressListeners) listener();
  }

  /**
   * Writes the core's certified tip into the open group when its highest QC or TC moved (about
   * once a round), so it is durable before any vote or timeout of the group leaves: those may
   * rest on it (LedgerStore.saveCertifiedTip). Only the outermost group writes it.
   */
  private keepTip(): void {
    // Until start() has handed the kept tip to the core, a lower one must not replace it.
    if (this.depth !== 1 || this.recoveredTip !== undefined) return;
    const qc = this.replica.highestQc;
    const tc = this.replica.highestTc;
    const voted = this.replica.lastVotedBlock;
    const kept = this.keptTip;
    const same = qc === kept.qc && tc === kept.tc && voted === kept.voted;
    if (same && kept.complete) return;
    const tip = this.replica.certifiedTip();
    // The blocks up to the QC can arrive after it (a sync answer): kept again once they have.
    const complete = tip.blocks.length > 0 || tip.highQc.vote.height <= this.replica.committedHeight;
    if (same && !complete) return;
    // The blocks this step committed in the core execute only in the next group (every replica
    // handles the same proposal at about the same moment, so all may crash in between).
    const committed = this.commits.flatMap((c) => c.blocks);
    this.opts.store.saveCertifiedTip(tipToKeep(tip, committed, this.opts.store.committedHeight()));
    this.keptTip = { qc, tc, complete, voted };
  }

  /** Executes and appends committed blocks in order, then reports each executed state to the core. */
  private executeCommits(commits: readonly CommitAction[]): void {
    const executed: ExecutedState[] = [];
    for (const a of commits) {
      for (const b of a.blocks) {
        const state = this.commit(b, b === a.blocks[a.blocks.length - 1] ? a.qc : undefined);
        // Undefined: the node halted (storage or divergence); nothing more is executed.
        if (!state) return;
        executed.push(state);
      }
    }
    for (const state of executed) this.step({ type: 'executed', state });
  }

  /** Runs `effect` once the current step's writes are durable (at once outside a step). */
  private afterFlush(effect: () => void): void {
    if (this.depth > 0) this.outbox.push(effect);
    else effect();
  }

  private carryOut(actions: readonly ConsensusAction[]): void {
    const validated: { blockId: Uint8Array; valid: boolean }[] = [];
    for (const a of actions) {
      switch (a.type) {
        case 'broadcast': {
          const { message } = a;
          if (message.type === 'proposal' && this.hold?.round === message.block.round) {
            // A proposal that went out during its hold carries the commands that ended it.
            this.endHold(message.block.payload.length > 0 ? 'command' : this.hold.timer === undefined ? 'timer' : 'other');
          }
          if (message.type === 'proposal') this.proposalSeen(message.block, this.clock.now());
          this.afterFlush(() => this.opts.transport.broadcast(message));
          break;
        }
        case 'send': {
          const { to, message } = a;
          this.afterFlush(() => this.opts.transport.send(to, message));
          break;
        }
        case 'set-timer':
          this.arm(a.round, a.delayMs);
          break;
        case 'set-proposal-timer': {
          const { round } = a;
          if (this.hold?.timer !== undefined) this.clock.clearTimeout(this.hold.timer);
          const hold = { round, since: this.clock.now(), timer: undefined as unknown };
          hold.timer = this.clock.setTimeout(() => {
            hold.timer = undefined;
            this.stepFromCallback({ type: 'proposal-timer', round });
          }, a.delayMs);
          this.hold = hold;
          break;
        }
        case 'commit':
          // Executed at the end of this step: after its messages left, or before its one flush
          // when the commit is small (see step()).
          this.commits.push(a);
          break;
        case 'sync-request':
          this.askSync(a.to, a.fromHeight);
          break;
        case 'validate-payload': {
          // Requests seen at ingress or by relay are in the pool's verified cache, and a few
          // unseen ones are checked here: answered in this step, so the vote joins its flush.
          // Only a proposal with many unseen requests costs a pool round trip.
          const { blockId } = a;
          // At the block's own height: execution refuses a request whose expiry is below it, so
          // voters apply exactly that rule, the same on every replica whatever its own height.
          const known = this.opts.validator.validateKnown?.(a.payload, a.height, { checkUncachedUpTo: UNCACHED_CHECKED_IN_STEP });
          if (known) {
            validated.push({ blockId, valid: known.every((v) => v.kind === 'accept') });
            break;
          }
          // The vote waits on this: ahead of the client and relay traffic in the pool's queue.
          this.opts.validator.validate(a.payload, a.height, { priority: true }).then(
            (verdicts) => this.stepFromCallback({ type: 'payload-validated', blockId, valid: verdicts.every((v) => v.kind === 'accept') }),
            (err: unknown) => {
              this.opts.logger?.warn({ err: String(err) }, 'payload validation failed; the block is checked again or gets no vote');
              this.stepFromCallback({ type: 'payload-unchecked', blockId });
            },
          );
          break;
        }
        case 'reject':
          this.opts.metrics?.rejectedMessages.inc({ reason: reasonLabel(a.reason) });
          this.opts.logger?.debug({ from: a.from, reason: a.reason }, 'rejected');
          break;
      }
    }
    this.observe();
    for (const v of validated) this.step({ type: 'payload-validated', blockId: v.blockId, valid: v.valid });
  }

  /** Derives the consensus metrics from the core's state after each step. */
  private observe(): void {
    // A TC or a QC took the core to another round while it held a proposal it never sent.
    if (this.hold !== undefined && this.replica.currentRound !== this.hold.round) this.endHold('round');
    const m = this.opts.metrics;
    if (!m) return;
    const r = this.replica;
    const now = this.clock.now();
    const qcRound = r.highestQc.vote.round;
    if (qcRound > this.lastQcRound) {
      // The QC for the round we were in: how long it took to certify it.
      if (qcRound >= this.lastRound && this.roundStartedAt > 0) m.qcFormationSeconds.observe((now - this.roundStartedAt) / 1000);
      this.lastQcRound = qcRound;
    }
    const tcRound = r.highestTc?.round ?? 0;
    if (tcRound > this.lastTcRound) {
      m.viewChanges.inc();
      this.lastTcRound = tcRound;
    }
    if (r.currentRound !== this.lastRound) {
      this.lastRound = r.currentRound;
      this.roundStartedAt = now;
    }
    m.round.set(r.currentRound);
    m.mempoolSize.set(r.pendingCommands);
    m.replicationLag.set(Math.max(0, r.highestQc.vote.height - this.opts.store.committedHeight()));
  }

  /**
   * The hold is over: its proposal went out (`command`: it carries commands; `timer`: it went out
   * empty when the hold ran out; `other`: it went out empty for another reason), or the round
   * moved on without it (`round`).
   */
  private endHold(endedBy: 'command' | 'timer' | 'other' | 'round'): void {
    const hold = this.hold!;
    this.hold = undefined;
    if (hold.timer !== undefined) this.clock.clearTimeout(hold.timer);
    this.opts.metrics?.proposalHoldSeconds.observe({ ended_by: endedBy }, (this.clock.now() - hold.since) / 1000);
  }

  /**
   * step() from a timer or a promise callback, where nothing above would catch. A group that
   * failed has already halted the node and said why (see group()); its rethrow must not become
   * an uncaught exception or unhandled rejection that kills the process before the halt is
   * reported. Anything else thrown here is a bug, and halts the node too.
   */
  private stepFromCallback(event: ConsensusEvent): void {
    try {
      this.step(event);
    } catch (err) {
      if (this.fatal === undefined) this.halt(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private arm(round: number, delayMs: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.stepFromCallback({ type: 'timer', round });
    }, delayMs);
  }

  /** Returns the executed state, or undefined after stopping the node on divergence. */
  private commit(block: Block, qc: QuorumCert | undefined): ExecutedState | undefined {
    const store = this.opts.store;
    if (block.height <= store.committedHeight()) {
      // A re-commit while re-syncing after a restart: it must be the block we already have.
      const stored = store.block(block.height);
      if (!stored || !bytesEqual(stored.id, block.id)) return this.halt(new LedgerDivergenceError(block.height));
      return store.executed(block.height);
    }
    const state = this.execute(block);
    try {
      store.appendCommitted(block, state, qc && bytesEqual(qc.vote.blockId, block.id) ? qc : undefined);
    } catch (err) {
      return this.halt(err instanceof Error ? err : new Error(String(err)));
    }
    this.opts.metrics?.commits.inc();
    const now = this.clock.now();
    if (this.lastCommitAt !== undefined) this.opts.metrics?.commitIntervalSeconds.observe((now - this.lastCommitAt) / 1000);
    this.lastCommitAt = now;
    this.opts.metrics?.committedHeight.set(block.height);
    this.opts.metrics?.committedCommands.inc(block.payload.length);
    const every = this.snapshots.interval;
    // Past MAX_PENDING_SNAPSHOTS unproven ones (an interval shorter than headers lag), the older
    // are kept: they are proven first.
    if (every > 0 && block.height % every === 0 && this.pendingSnapshots.length < MAX_PENDING_SNAPSHOTS) {
      this.pendingSnapshots.push({ height: block.height, bytes: this.#app.snapshot() });
    }
    if (this.pendingSnapshots.length > 0 && !this.saveSnapshotOnceProven()) return undefined;
    return state;
  }

  /**
   * Saves the newest pending snapshot a certified header covers, and prunes below it
   * (newestProvenSnapshot). Pruning at the snapshot itself stranded a validator far
   * behind when the chain stopped before a header claimed the new snapshot's state, the moment f
   * Byzantine validators chose to stop voting with it needed for a quorum: every honest peer said
   * "pruned" and none had a snapshot it could prove (the simulator's snapshot model, n = 7).
   * False after stopping the node on a storage failure.
   */
  private saveSnapshotOnceProven(): boolean {
    const proven = newestProvenSnapshot(this.pendingSnapshots, this.opts.store, this.replica.syncChain());
    if (proven === undefined) return true;
    this.pendingSnapshots.splice(0, proven.index + 1);
    return this.takeSnapshot(proven.snapshot.height, proven.snapshot.bytes, proven.proof);
  }

  /**
   * Writes the application snapshot taken at `height`, which `proof` certifies (the blocks up to
   * it are already durable, so a kill -9 anywhere here loses nothing: the snapshot is derived
   * data), and then drops blocks more than retainBlocks below it. False after stopping the node
   * on a storage failure.
   */
  private takeSnapshot(height: number, bytes: Uint8Array, proof: SnapshotProof): boolean {
    const store = this.opts.store;
    try {
      store.saveSnapshot(height, bytes);
      this.served = { height, bytes, proof };
      this.opts.metrics?.snapshotsTaken.inc();
      const below = height - this.snapshots.retainBlocks;
      // The executed states of the newest EXECUTED_WINDOW heights outlive their blocks: a core
      // restarted here checks headers against them (restartKnowledge), and without them f + 1
      // validators restarted after a prune could be left unable to vote for any header.
      if (below > store.lowestBlockHeight()) {
        // Outside the metric's optional chain, which would skip the prune itself without metrics.
        const removed = store.pruneBelow(below, EXECUTED_WINDOW);
        this.opts.metrics?.blocksPruned.inc(removed);
      }
      this.opts.logger?.info({ height, bytes: bytes.length, lowestBlock: store.lowestBlockHeight() }, 'snapshot taken');
      return true;
    } catch (err) {
      this.halt(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  /** Asks `peer` for the blocks from `fromHeight`; its answer goes to the core, or is a claim that they are pruned. */
  private askSync(peer: number, fromHeight: number, chain?: Set<number>): void {
    const next = () => {
      if (chain !== undefined && !this.stopped) this.askNextPeer(fromHeight, chain, peer);
    };
    this.opts.transport.requestSync(peer, fromHeight).then(
      (answer) => {
        if (this.stopped) return;
        if (!answer) return next();
        if ('pruned' in answer) return this.onPrunedClaim(peer, answer.pruned, fromHeight, chain ?? new Set([peer]));
        this.stepFromCallback({ type: 'sync-response', from: peer, blocks: answer.blocks, highQc: answer.highQc });
        // No blocks is no help (a peer as far behind, or one stalling the search): go on.
        if (answer.blocks.length === 0) next();
      },
      (err: unknown) => {
        this.opts.logger?.warn({ err: String(err), peer }, 'sync request failed');
        next();
      },
    );
  }

  /** A peer says it holds no blocks below `lowest`: ask the next peer, or turn to a snapshot (SyncPeerSearch). */
  private onPrunedClaim(peer: number, lowest: number, fromHeight: number, chain: Set<number>): void {
    const next = this.syncPeers.onPrunedClaim(peer, lowest, fromHeight, this.opts.store.committedHeight() + 1, chain);
    if (next.snapshot) this.syncSnapshot(peer);
    else if (next.ask !== undefined) this.askSync(next.ask, fromHeight, chain);
  }

  /** Asks the next peer of this search for the blocks (SyncPeerSearch.nextPeer), if one is left. */
  private askNextPeer(fromHeight: number, chain: Set<number>, after: number): void {
    const p = this.syncPeers.nextPeer(fromHeight, this.opts.store.committedHeight() + 1, chain, after);
    if (p !== undefined) this.askSync(p, fromHeight, chain);
  }

  /**
   * Catches up by snapshot after f + 1 peers, `first` the last of them, said the blocks we need
   * are pruned: fetch its latest snapshot, verify it against a certified header, install it,
   * then sync blocks from above it.
   * A peer that lies (bad bytes, bad proof, bad QC, wrong roots) is logged and skipped, and the
   * next peer is tried; one fetch runs at a time.
   */
  private syncSnapshot(first: number): void {
    if (this.snapshotSyncing || this.stopped) return;
    this.snapshotSyncing = true;
    const peers = this.syncPeers.snapshotPeers(first);
    const attempt = async (): Promise<void> => {
      for (const peer of peers) {
        if (this.stopped) return;
        try {
          // Taken before the download, so the bytes it holds are not counted against the build.
          const limits = snapshotLimits();
          const got = await downloadSnapshot((h, off) => this.opts.transport.requestSnapshotChunk(peer, h, off), this.opts.store.committedHeight(), {
            checkProof: (h, proof) => verifySnapshotProof(this.opts.chainId, h, proof, this.opts.certs),
            limits,
          });
          const v = verifySnapshot(this.opts.chainId, got.height, got.bytes, got.proof, this.opts.certs, this.appOptions(), limits);
          if (this.stopped || v.executed.height <= this.opts.store.committedHeight()) return;
          this.opts.store.installSnapshot(v.executed, v.bytes, v.rootQc);
          this.#app = v.app;
          this.served = undefined;
          this.pendingSnapshots.length = 0;
          this.opts.metrics?.snapshotsInstalled.inc();
          this.opts.metrics?.committedHeight.set(v.executed.height);
          this.opts.logger?.info({ peer, height: v.executed.height, bytes: v.bytes.length }, 'installed a certified snapshot');
          const committedIds = v.app.recentRequestIds(this.replica.recentlyCommittedLimit);
          this.step({ type: 'state-installed', executed: v.executed, round: v.round, highQc: v.rootQc, syncFrom: peer, committedIds });
          this.resettleWaiting(v.executed.height);
          return;
        } catch (err) {
          if (!(err instanceof SnapshotSyncError)) {
            // Our own failure (storage): the ledger cannot be trusted to continue.
            this.halt(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          this.opts.metrics?.snapshotSyncFailures.inc({ reason: err.reason });
          // A state too large for this node is the operator's to hear of, lie or not.
          const log = err.peerFault || err.reason === 'too-large' ? this.opts.logger?.warn.bind(this.opts.logger) : this.opts.logger?.debug.bind(this.opts.logger);
          log?.({ peer, reason: err.reason, err: err.message }, 'snapshot from peer not used');
        }
      }
    };
    attempt().finally(() => {
      this.snapshotSyncing = false;
    });
  }

  /**
   * After a snapshot install, the clients still waiting here: the core emptied its queue (it
   * cannot tell which queued requests the jumped-over blocks committed), and the blocks that
   * committed some of them will never execute here, so without this their clients would wait
   * out their deadline for nothing. A request that can no longer commit (its sequence used in
   * the installed state, or expired) is answered at once; the others go back into the queue as
   * far as it has room (the rest hear busy and retry), to be proposed when this validator leads
   * or to commit in another leader's block as before.
   */
  private resettleWaiting(snapshotHeight: number): void {
    let { commands: room, bytes: roomBytes } = this.replica.pendingRoom;
    const requeue: Uint8Array[] = [];
    // Below the block above the installed state, a request can no longer commit: expired. Up to
    // the highest certified block it may still commit in one of the certified blocks this node
    // has yet to execute (a node that fell behind knew of them before it installed), so it keeps
    // waiting, but is not queued again: a leader would only drop it (isStale). Above, it goes
    // back into the queue.
    const installed = BigInt(this.opts.store.committedHeight() + 1);
    const shares = this.shareCheck();
    const next = BigInt(this.nextBlockHeight());
    for (const [key, { request, callbacks }] of this.waiting) {
      const header = requestHeader(request);
      const expiry = header?.expiry ?? 0n;
      let kind: NoReceipt['kind'] | undefined;
      if (this.isCommittedRequest(request, header)) kind = 'sequence-used-below-snapshot';
      else if (expiry < installed) kind = 'expired';
      else if (expiry < next) continue;
      else if (room < 1 || roomBytes < request.length || !shares.fits(clientKeyTag(request) ?? -1, request.length)) kind = 'busy';
      if (kind === undefined) {
        room--;
        roomBytes -= request.length;
        requeue.push(request);
        continue;
      }
      this.waiting.delete(key);
      const outcome: NoReceipt = { kind, snapshotHeight };
      for (const resolve of callbacks) resolve(outcome);
    }
    if (requeue.length > 0) this.step({ type: 'commands', commands: requeue });
  }

  /** Notes when a proposal carrying commands was first seen here, while clients wait here. */
  private proposalSeen(block: Block, at: number): void {
    if (this.opts.metrics === undefined || this.waiting.size === 0 || block.payload.length === 0) return;
    const id = toHex(block.id);
    if (this.proposalSeenAt.has(id)) return;
    this.proposalSeenAt.set(id, at);
    // Map order is insertion order: the first key is the oldest.
    if (this.proposalSeenAt.size > PROPOSALS_TIMED) this.proposalSeenAt.delete(this.proposalSeenAt.keys().next().value!);
  }

  /** Applies a committed block's requests to the application and settles their waiters. */
  private execute(block: Block): ExecutedState {
    const committedAt = this.clock.now();
    const { commands, origins } = applicationInputs(block.payload, this.opts.validator.requestIds);
    const outcome = this.#app.applyBlock(commands, origins);
    let proposedAt: number | undefined;
    if (this.proposalSeenAt.size > 0) {
      const id = toHex(block.id);
      proposedAt = this.proposalSeenAt.get(id);
      this.proposalSeenAt.delete(id);
    }
    // Only a validator with clients waiting needs the request ids of what it committed.
    if (this.waiting.size > 0) block.payload.forEach((bytes, k) => {
      const key = this.replica.commandKey(bytes);
      const entry = this.waiting.get(key);
      if (!entry) return;
      this.waiting.delete(key);
      const result = outcome.results[k]!;
      const receipt: CommitReceipt = { height: block.height, position: outcome.firstPosition + k, result, resultName: resultName(result) };
      // Told once the block is durable here, not merely executed.
      this.afterFlush(() => {
        for (const resolve of entry.callbacks) resolve(receipt);
        this.observeStages(entry, proposedAt, committedAt);
      });
    });
    return { height: block.height, blockId: block.id, stateRoot: outcome.stateRoot, logRoot: outcome.logRoot };
  }

  /**
   * The request-stage metric for one receipt handed out now. A block whose proposal was not
   * timed here (it came by sync, or before any client waited) gives no queued/ordering split.
   */
  private observeStages(entry: WaitingRequest, proposedAt: number | undefined, committedAt: number): void {
    const stage = this.opts.metrics?.requestStageSeconds;
    if (!stage) return;
    const seconds = (from: number, to: number) => Math.max(0, to - from) / 1000;
    stage.observe({ stage: 'validate' }, seconds(entry.receivedAt, entry.queuedAt));
    if (proposedAt !== undefined) {
      stage.observe({ stage: 'queued' }, seconds(entry.queuedAt, proposedAt));
      stage.observe({ stage: 'ordering' }, seconds(proposedAt, committedAt));
    }
    const now = this.clock.now();
    stage.observe({ stage: 'execute' }, seconds(committedAt, now));
    // The whole stay here, over the same receipts as validate and execute: what a client's
    // latency minus it leaves is its own side (the trip over its session there and back).
    stage.observe({ stage: 'server' }, seconds(entry.receivedAt, now));
  }

  private halt(err: Error): undefined {
    this.fatal = err;
    this.opts.logger?.fatal({ err: err.message, stack: err.stack }, 'stopping: the ledger cannot be trusted to continue');
    this.stop();
    this.opts.onHalt?.(err);
    return undefined;
  }
}
