import { bytesEqual, bytesToHex } from '../../crypto/bytes.js';
import { DigestMemo, keyOfDigest } from '../../crypto/digest-memo.js';
import { SHA256_LENGTH } from '../../crypto/hash.js';
import { maxFaulty } from '../../crypto/qc/quorum.js';
import { blockId, genesisExecutedState, genesisQc, makeBlock, sameExecutedState } from '../../protocol/block.js';
import type { CertificateOps, TimeoutAggregator, VoteAggregator } from './certs.js';
import { type CertifiedTip, type ConsensusAction, type ConsensusEvent, type ConsensusMessage, MAX_TIP_BLOCKS } from './messages.js';
import { type ConsensusSigner, type SafetyState, SafetyRules, type SafetyStorage, SafetyStorageError, SafetyViolation } from './safety-rules.js';
import {
  type Block,
  encodeVoteData,
  type ExecutedState,
  type QuorumCert,
  type Round,
  type SignedTimeout,
  type SignedVote,
  type TimeoutCert,
  type TimeoutCertInfo,
} from '../../protocol/types.js';

export interface ReplicaConfig {
  readonly chainId: string;
  readonly index: number;
  readonly n: number;
  readonly signer: ConsensusSigner;
  readonly safetyStorage: SafetyStorage;
  readonly certs: CertificateOps;
  /** Leader of a round; round-robin (round mod n) by default. */
  readonly leaderOf?: (round: Round) => number;
  readonly baseTimeoutMs: number;
  readonly maxBatchCommands: number;
  readonly maxBatchBytes: number;
  /**
   * How long a leader holds an empty block whose only purpose is to certify the latest executed
   * roots (see needsCertifiedRoots), so that a command arriving meanwhile rides in it instead of
   * waiting a round for the next one: with a client that submits on each commit, the next
   * command reaches the leader a few milliseconds after the votes that let it propose. A command
   * ends the hold at once; blocks that carry a commit or a TC are never held. 0 (the default)
   * proposes at once. Liveness only: the pacemaker's timer runs on regardless, and the hold is
   * capped at a quarter of `baseTimeoutMs`, so a held leader never times out its own round.
   */
  readonly emptyProposalHoldMs?: number;
  /**
   * Ask the runtime to validate a proposal's commands (`validate-payload`) and vote only after
   * it answers (`payload-validated`). Off for the simulator, whose commands are opaque.
   */
  readonly validatePayloads?: boolean;
  /**
   * How many committed request ids the core remembers, so that a late copy of a committed command
   * is neither queued nor proposed again (default 100,000; the application's replay window is
   * what makes a repeat harmless, this only keeps it out of blocks).
   */
  readonly recentlyCommittedLimit?: number;
  /**
   * Bounds on the commands waiting to be proposed (the mempool; default 32,768 commands and 64
   * MiB). A `commands` event past either bound drops what does not fit, first come first kept.
   * The runtime asks `pendingRoom` before it admits a request, so a client hears "busy" and
   * retries instead; the bound here is what keeps the queue's memory finite whatever the driver
   * does, since validators admit valid requests faster than a chain on two cores commits them.
   */
  readonly maxPendingCommands?: number;
  readonly maxPendingBytes?: number;
  /**
   * Whether a queued command can no longer commit validly in a block at `blockHeight`, the
   * height of the block the leader is building (for the runtime: a request past its expiry,
   * which voters judge at the proposal's own height and refuse to see in it). A leader drops
   * such commands from its queue when a proposal reaches them instead of proposing them: at the
   * head of a first-come queue, one would make every leader propose a block nobody votes for.
   * Default: nothing goes stale.
   */
  readonly isStale?: (command: Uint8Array, blockHeight: number) => boolean;
  /**
   * Who sent a command, as a tag (commands with one tag share a sender's place in a block), or
   * undefined for none. With it a leader fills a block in two passes: first each sender at most
   * `ceil(maxBatchCommands / SENDER_BLOCK_SHARE_DIVISOR)` of its commands, in queue order, then
   * what room is left with the ones it passed over, so a client with a few requests does not wait
   * behind thousands of another's. Default: one pass, first come, first proposed.
   */
  readonly senderOf?: (command: Uint8Array) => number | undefined;
  /**
   * With `senderOf`: how many commands, and bytes, one sender may have in the pending queue. A
   * `commands` event drops what is past it, as it does past the queue's own bounds, so one
   * sender cannot fill the queue for every other; the runtime asks `pendingOfSender` first and
   * answers busy. Default: no share.
   */
  readonly senderShare?: Readonly<{ commands: number; bytes: number }>;
  /**
   * Where command ids come from. The runtime passes its validation pool's memo, so a request is
   * hashed once per received copy, not once by the pool and again here; default, a memo of its own.
   */
  readonly commandDigests?: DigestMemo;
  /** DELIBERATELY UNSAFE, for tests of the checkers only; see SafetyRulesOptions. The product never sets it. */
  readonly unsafeWeakVotingForTests?: boolean;
}

/** Backoff stops doubling after 2^6 = 64x the base, so a long outage still retries often enough. */
export const MAX_BACKOFF_EXPONENT = 6;
/** Bounds the memory that stops late copies of committed commands from being proposed again. */
const DEFAULT_RECENTLY_COMMITTED_LIMIT = 100_000;
const MAX_RECENTLY_COMMITTED_LIMIT = 10_000_000;
export const DEFAULT_MAX_PENDING_COMMANDS = 32_768;
const NOTHING_PENDING = Object.freeze({ commands: 0, bytes: 0 });
/** With `senderOf`, a block's first pass takes at most this fraction of it from any one sender. */
export const SENDER_BLOCK_SHARE_DIVISOR = 16;
/**
 * ...and tags at most this many queued commands past the block's size looking for other senders' ones:
 * the first pass's cost is bounded whatever the queue holds (a sender's share of a runtime's
 * queue is 2,048 by default, node/runtime/mempool-shares.ts).
 */
export const SENDER_SCAN_BEYOND_BLOCK = 4_096;
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** Up to 10M queued commands and 4 GiB: past that a bound is a typo, not a policy. */
export const MAX_PENDING_COMMANDS_LIMIT = 10_000_000;
export const MAX_PENDING_BYTES_LIMIT = 4 * 1024 * 1024 * 1024;
/** A sync response larger than this is refused: the responder should page instead. */
export const MAX_SYNC_BLOCKS = 10_000;
/** Rounds whose proposal ids are remembered before the ones below the root are dropped. */
const MAX_ROUNDS_REMEMBERED = 256;
/** Distinct proposals of one round entered into the block tree; more are refused as equivocation. */
const MAX_PROPOSALS_PER_ROUND = 4;
/** Executed states kept to check proposal headers against; a header older than this gets no vote. */
export const EXECUTED_WINDOW = 256;

interface RoundVotes {
  /** One vote per signer per round counts, whatever it is for, so equivocation cannot double count. */
  readonly signers: Set<number>;
  readonly aggregators: Map<string, VoteAggregator>;
}

interface RoundTimeouts {
  readonly signers: Set<number>;
  readonly aggregator: TimeoutAggregator;
}

/** The last committed block, as far as the tree needs it: the root every new block descends from. */
interface Root {
  readonly id: Uint8Array;
  readonly round: Round;
  readonly height: number;
  /** Others learn of this commit only from the next proposal, which carries the QC that did it. */
  readonly hasPayload: boolean;
  /** The executed state its header carries. */
  readonly executed: ExecutedState;
}

const hex = (b: Uint8Array): string => bytesToHex(b);

/**
 * The last `limit` ids added, oldest out first, in O(1) per add: a Set answers lookups and a
 * ring of the same ids says which is oldest. (A Set trimmed through `values().next()` rescans the
 * deleted slots at its front on every eviction: 8 ms per 400-command commit once it was full.)
 * The ring grows as ids arrive, so a replica that commits little holds little.
 */
class RecentIds {
  readonly #ids = new Set<string>();
  readonly #ring: string[] = [];
  /** Once the ring is full: the slot of the oldest id. */
  #oldest = 0;

  constructor(readonly limit: number) {}

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    if (this.#ids.has(id)) return;
    if (this.#ring.length < this.limit) {
      this.#ring.push(id);
    } else {
      this.#ids.delete(this.#ring[this.#oldest]!);
      this.#ring[this.#oldest] = id;
      this.#oldest = (this.#oldest + 1) % this.limit;
    }
    this.#ids.add(id);
  }
}
/**
 * A command's identity (its SHA-256: the request id). A command is looked up many times on its
 * way through the core (queued, proposed, checked against ancestors on every retry of a proposal,
 * committed), so each byte array is hashed once, through a memo the runtime shares with its
 * validation pool (which saw the same bytes first), and a block's keys are kept with the block.
 */
class CommandKeys {
  readonly #digests: DigestMemo;
  readonly #blocks = new WeakMap<Block, readonly string[]>();

  constructor(digests: DigestMemo) {
    this.#digests = digests;
  }

  of(cmd: Uint8Array): string {
    return this.#digests.key(cmd);
  }

  /** The keys of a block's payload, in order. */
  ofBlock(block: Block): readonly string[] {
    let keys = this.#blocks.get(block);
    if (keys === undefined) {
      keys = block.payload.map((c) => this.of(c));
      this.#blocks.set(block, keys);
    }
    return keys;
  }

  in(blocks: readonly Block[]): Set<string> {
    const s = new Set<string>();
    for (const b of blocks) for (const k of this.ofBlock(b)) s.add(k);
    return s;
  }
}

/** Thrown inside step() for bad input and turned into a `reject` action at its boundary. */
class Rejection extends Error {}

/**
 * The consensus core of a pipelined two-chain BFT protocol (Jolteon / DiemBFT-v4), shaped like
 * etcd raft's Step/Ready: `step` takes one event and returns the actions to carry out. It owns
 * no clock, randomness or I/O, so the simulator, tests and the node drive the same code.
 */
export class Replica {
  readonly index: number;
  private readonly cfg: ReplicaConfig;
  private readonly safety: SafetyRules;
  private readonly leaderOf: (round: Round) => number;

  private round: Round = 1;
  private highQc: QuorumCert;
  private highTc: TimeoutCert | undefined;
  /** The last timeout this replica broadcast, re-sent to a peer still timing out in an earlier round (helpStraggler). */
  private lastTimeout: Extract<ConsensusMessage, { type: 'timeout' }> | undefined;
  /** Per peer, the round of this replica in which it was last helped: one answer per peer per round. */
  private readonly helpedInRound = new Map<number, Round>();
  /** Per peer, the round of the last stale timeout it sent that was not answered (see helpStraggler). */
  private readonly staleTimeoutRound = new Map<number, Round>();
  private root: Root;
  private readonly blocks = new Map<string, Block>();
  /**
   * Ids of the proposals entered into the tree for each round not yet below the root. An honest
   * leader sends one; an equivocating one gets a few stored (so a voter still sees a corrected
   * header after a wrong one), never thousands of distinct blocks filling the tree and the
   * validation pool while its round lasts.
   */
  private readonly proposalsOfRound = new Map<number, Set<string>>();
  private readonly votes = new Map<Round, RoundVotes>();
  private readonly timeouts = new Map<Round, RoundTimeouts>();
  /** Insertion-ordered, so batches are proposed first come, first served. */
  private readonly pending = new Map<string, Uint8Array>();
  private pendingBytes = 0;
  /** With a sender share: what each sender has in `pending` (entries go when they reach zero). */
  private readonly pendingBySender = new Map<number, { commands: number; bytes: number }>();
  private readonly maxPendingCommands: number;
  private readonly maxPendingBytes: number;
  private readonly keys: CommandKeys;
  private readonly recentlyCommitted: RecentIds;
  /** Per peer, the local round in which a certificate it sent failed its check (checkCertificate). */
  private readonly certFailedInRound = new Map<number, number>();
  private consecutiveTimeouts = 0;
  /** Whether the timer's backoff grew in rounds with no work (hasWork) and none has come since (workArrived). */
  private idleBackoff = false;
  private proposedRound: Round = 0;
  /**
   * The highest committed height that the committed chain itself proves: a committed block whose
   * committed child's round follows its own. Unlike the root, which a QC off the final chain may
   * have committed (seen here, perhaps nowhere else), every replica that holds the chain above it
   * has committed it too. -1 where unknown (below an installed state).
   */
  private provenCommitted = -1;
  /** The round whose empty proposal is held (its proposal timer is armed), and the one whose hold ran out. */
  private heldRound: Round = 0;
  private holdOverRound: Round = 0;
  /** The QC height being synced to and the peers already asked for it: each is asked once. */
  private syncTargetHeight = 0;
  private readonly syncAsked = new Set<number>();
  /** The latest proposal whose parent was missing: voted on once sync brings the parent. */
  private orphan: { from: number; block: Block; tc: TimeoutCert | undefined } | undefined;
  /** The block this core last voted for (kept in the certified tip; see certifiedTip). */
  private votedBlock: Block | undefined;
  private out: ConsensusAction[] = [];
  private lastExecuted: ExecutedState;
  private readonly executedStates = new Map<number, ExecutedState>();
  /** Proposals whose payload the runtime found valid, and the one being validated now. */
  private readonly validPayloads = new Set<string>();
  private payloadInCheck: string | undefined;
  /** The last block whose check the runtime could not complete: asked again once, not in a loop. */
  private payloadUncheckedOnce: string | undefined;

  constructor(cfg: ReplicaConfig) {
    this.cfg = cfg;
    this.index = cfg.index;
    this.safety = new SafetyRules(cfg.chainId, cfg.signer, cfg.safetyStorage, cfg.unsafeWeakVotingForTests ? { unsafeWeakVotingForTests: true } : {});
    this.leaderOf = cfg.leaderOf ?? ((r) => r % cfg.n);
    this.keys = new CommandKeys(cfg.commandDigests ?? new DigestMemo());
    this.recentlyCommitted = new RecentIds(
      boundedInteger(cfg.recentlyCommittedLimit ?? DEFAULT_RECENTLY_COMMITTED_LIMIT, 'recentlyCommittedLimit', 1, MAX_RECENTLY_COMMITTED_LIMIT),
    );
    this.maxPendingCommands = boundedInteger(cfg.maxPendingCommands ?? DEFAULT_MAX_PENDING_COMMANDS, 'maxPendingCommands', 1, MAX_PENDING_COMMANDS_LIMIT);
    // Below one largest command the queue could refuse a request that a block may carry.
    this.maxPendingBytes = boundedInteger(cfg.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES, 'maxPendingBytes', cfg.maxBatchBytes, MAX_PENDING_BYTES_LIMIT);
    if (cfg.senderShare !== undefined) {
      if (cfg.senderOf === undefined) throw new RangeError('senderShare needs senderOf');
      boundedInteger(cfg.senderShare.commands, 'senderShare.commands', 1, MAX_PENDING_COMMANDS_LIMIT);
      // Below one largest command a sender could never queue a command a block may carry.
      boundedInteger(cfg.senderShare.bytes, 'senderShare.bytes', cfg.maxBatchBytes, MAX_PENDING_BYTES_LIMIT);
    }
    this.highQc = genesisQc(cfg.chainId);
    const g = this.highQc.vote;
    this.lastExecuted = genesisExecutedState(cfg.chainId);
    this.root = { id: g.blockId, round: 0, height: 0, hasPayload: false, executed: this.lastExecuted };
    this.executedStates.set(0, this.lastExecuted);
  }

  get currentRound(): Round {
    return this.round;
  }
  get highestQc(): QuorumCert {
    return this.highQc;
  }
  get highestTc(): TimeoutCert | undefined {
    return this.highTc;
  }
  get committedHeight(): number {
    return this.root.height;
  }
  /** How many committed commands the core remembers (and refuses in proposals): what 'state-installed' may usefully carry. */
  get recentlyCommittedLimit(): number {
    return this.recentlyCommitted.limit;
  }
  /** A command's key (its request id, as a latin1 string), from the core's memo: the runtime's receipts use it too. */
  commandKey(cmd: Uint8Array): string {
    return this.keys.of(cmd);
  }

  get pendingCommands(): number {
    return this.pending.size;
  }
  /** Whether a command with this key (commandKey) waits in the queue. */
  isPending(key: string): boolean {
    return this.pending.has(key);
  }
  /** The validator that leads `round`. */
  leaderOfRound(round: Round): number {
    return this.leaderOf(round);
  }
  /** The queued command with this key, if one waits (the runtime rebuilds compact proposals from it). */
  pendingCommand(key: string): Uint8Array | undefined {
    return this.pending.get(key);
  }
  /** What the sender tagged `sender` has in the pending queue (counted only with a sender share). */
  pendingOfSender(sender: number): Readonly<{ commands: number; bytes: number }> {
    return this.pendingBySender.get(sender) ?? NOTHING_PENDING;
  }
  /** Room left in the pending queue: how many more commands, and bytes, a `commands` event may add. */
  get pendingRoom(): Readonly<{ commands: number; bytes: number }> {
    return { commands: this.maxPendingCommands - this.pending.size, bytes: this.maxPendingBytes - this.pendingBytes };
  }
  get safetyState(): SafetyState {
    return this.safety.state;
  }
  /** Sizes of the internal maps, so tests can check that state stays bounded. */
  get stateSizes(): { blocks: number; voteRounds: number; timeoutRounds: number } {
    return { blocks: this.blocks.size, voteRounds: this.votes.size, timeoutRounds: this.timeouts.size };
  }

  /**
   * The certified blocks above the committed root, up to the highest QC, and that QC: what a
   * runtime appends to its committed blocks to answer a peer's `sync-request`.
   */
  syncChain(): { blocks: Block[]; highQc: QuorumCert } {
    return { blocks: this.uncommittedChain(this.highQc.vote.blockId) ?? [], highQc: this.highQc };
  }

  /**
   * What a restart must get back to resume where the safety state stands (see 'tip-recovered'):
   * the chain up to the highest QC, then the block last voted for when it extends that QC's
   * block. Our vote may complete a QC on it while every honest voter goes down before the QC
   * reaches them, and its proposer with them: without the block on disk a QC would certify a
   * block no honest replica could serve, and no honest leader could extend, while a faulty one
   * withheld it. A voter keeps it, as Aptos's block store saves a block before voting on it.
   */
  certifiedTip(): CertifiedTip {
    const chain = this.syncChain();
    const { highQc } = chain;
    const voted = this.votedBlock;
    const complete = chain.blocks.length > 0 || bytesEqual(highQc.vote.blockId, this.root.id);
    const extendsQc = voted !== undefined && complete && voted.height > this.root.height && bytesEqual(voted.parentQc.vote.blockId, highQc.vote.blockId);
    const blocks = extendsQc ? [...chain.blocks, voted] : chain.blocks;
    return this.highTc === undefined ? { blocks, highQc } : { blocks, highQc, highTc: this.highTc };
  }

  /** The block this core last voted for in this run; a runtime keeps its tip again when it changes. */
  get lastVotedBlock(): Block | undefined {
    return this.votedBlock;
  }

  /** Current timer duration: doubles with each consecutive timeout, reset by a QC. */
  timeoutMs(): number {
    return this.cfg.baseTimeoutMs * 2 ** Math.min(this.consecutiveTimeouts, MAX_BACKOFF_EXPONENT);
  }

  step(event: ConsensusEvent): ConsensusAction[] {
    this.out = [];
    const from = 'from' in event ? event.from : this.index;
    try {
      this.dispatch(event);
      // A proposal can complete a QC at once (tiny n), which moves to a round this replica may lead.
      while (this.maybePropose()) {}
    } catch (err) {
      // Our own disk failing is no peer's doing, and the replica cannot sign without it: the
      // runtime halts on it rather than go on silently refusing to vote.
      if (err instanceof SafetyStorageError) throw err;
      // Peers are untrusted: whatever their message did, it must not take the replica down.
      const reason = err instanceof Rejection ? err.message : err instanceof SafetyViolation ? `safety: ${err.rule}` : `invalid input: ${String(err)}`;
      this.out.push({ type: 'reject', from, reason });
    }
    const actions = this.out;
    this.out = [];
    return actions;
  }

  private dispatch(event: ConsensusEvent): void {
    switch (event.type) {
      case 'start':
        this.out.push({ type: 'set-timer', round: this.round, delayMs: this.timeoutMs() });
        break;
      case 'proposal':
        this.onProposal(event.from, event.block, event.tc);
        break;
      case 'vote':
        this.onVote(event.from, event.vote);
        break;
      case 'timeout':
        this.onTimeout(event.from, event.timeout, event.highQc, event.tc);
        break;
      case 'timer':
        this.onTimer(event.round);
        break;
      case 'proposal-timer':
        // Ends the hold; step() then proposes, if this replica still leads the round.
        if (event.round === this.round) this.holdOverRound = event.round;
        break;
      case 'commands':
        this.onCommands(event.commands);
        break;
      case 'executed':
        this.onExecuted(event.state);
        break;
      case 'sync-response':
        this.onSyncResponse(event.from, event.blocks, event.highQc);
        break;
      case 'payload-validated':
        this.onPayloadValidated(event.blockId, event.valid);
        break;
      case 'payload-unchecked':
        this.onPayloadUnchecked(event.blockId);
        break;
      case 'state-installed':
        this.onStateInstalled(event);
        break;
      case 'peer-connected':
        this.greetPeer(event.peer);
        break;
      case 'tip-recovered':
        this.onTipRecovered(event.tip);
        break;
    }
  }

  // ---- proposals -------------------------------------------------------------------------

  private onProposal(from: number, block: Block, tc: TimeoutCert | undefined): void {
    const qc = block.parentQc;
    if (block.author !== from) throw new Rejection('proposal author is not the sender');
    if (!isRound(block.round) || block.round < 1) throw new Rejection('malformed proposal round');
    if (this.leaderOf(block.round) !== from) throw new Rejection(`sender ${from} is not the leader of round ${block.round}`);
    if (block.height !== qc.vote.height + 1 || qc.vote.round >= block.round) throw new Rejection('proposal does not extend its QC');
    if (!Array.isArray(block.payload) || !block.payload.every((c) => c instanceof Uint8Array)) throw new Rejection('malformed payload');
    if (block.payload.length > this.cfg.maxBatchCommands || payloadBytes(block.payload) > this.cfg.maxBatchBytes) {
      throw new Rejection('payload over the batch limits');
    }
    if (!bytesEqual(block.id, blockId(this.cfg.chainId, block))) throw new Rejection('block id does not match its contents');
    if (block.round !== qc.vote.round + 1) {
      // Skipping rounds is justified only by a TC for the round just before.
      if (!tc || tc.round !== block.round - 1 || qc.vote.round < tc.highestQc.vote.round) throw new Rejection('round gap without a matching TC');
    }
    this.checkCertificate(from, 'parent QC', () => this.cfg.certs.verifyQc(qc));
    // A TC the round gap does not need and that would move nothing here costs no pairing check.
    const usedTc = tc && (block.round !== qc.vote.round + 1 || this.movesRound(tc)) ? tc : undefined;
    if (usedTc) this.checkCertificate(from, 'TC', () => this.cfg.certs.verifyTc(usedTc));

    this.processQc(qc);
    if (usedTc) this.processTc(usedTc);

    const ancestors = this.uncommittedChain(qc.vote.blockId);
    // Unknown parent: fetch it from the proposer; until then there is nothing safe to vote on.
    if (!ancestors) {
      if (block.round >= this.round) this.orphan = { from, block, tc };
      this.requestSync(from, qc);
      return;
    }
    const parentRound = ancestors.length > 0 ? ancestors[ancestors.length - 1]!.round : this.root.round;
    if (parentRound !== qc.vote.round) throw new Rejection('parent QC does not match the parent block');
    const seen = this.keys.in(ancestors);
    for (const key of this.keys.ofBlock(block)) {
      if (seen.has(key) || this.recentlyCommitted.has(key)) throw new Rejection('proposal repeats a command');
      seen.add(key);
    }
    if (block.height > this.root.height) {
      const id = hex(block.id);
      let ids = this.proposalsOfRound.get(block.round);
      if (ids === undefined) {
        if (this.proposalsOfRound.size >= MAX_ROUNDS_REMEMBERED) for (const r of this.proposalsOfRound.keys()) if (r < this.root.round) this.proposalsOfRound.delete(r);
        ids = new Set();
        this.proposalsOfRound.set(block.round, ids);
      }
      if (!ids.has(id)) {
        if (ids.size >= MAX_PROPOSALS_PER_ROUND) throw new Rejection(`equivocation: more than ${MAX_PROPOSALS_PER_ROUND} proposals for round ${block.round}`);
        ids.add(id);
      }
      this.blocks.set(id, block);
    }
    const e = block.executed;
    const parentExecuted = ancestors.length > 0 ? ancestors[ancestors.length - 1]!.executed.height : 0;
    if (!isRound(e.height) || e.height >= block.height || e.height < parentExecuted) throw new Rejection('executed state is not of an earlier block');
    if (block.round !== this.round) return;
    // A claim the chain does not prove committed could be checked only by the replicas that saw
    // the QC off the chain that committed it; certified, it would bind every later header (none
    // may go back) to a state the others cannot check, and with f withholding votes no quorum
    // would form again. No vote, but no fault either: a replica restarted or installed from a
    // snapshot knows less of the chain below its root than the leader may. (After a snapshot the
    // root's own state stands in for its header's claim, which the replica does not hold: for a
    // child of that root the bound is looser, a known limit. A restart hands the core the claim.)
    if (e.height > this.parentClaim(ancestors).height && e.height > this.provenCommitHeight(ancestors)) return;
    // Vote only for a header whose executed state matches our own execution; one we cannot
    // check yet (we are behind) or any more (too old) gets no vote, but is no peer fault.
    const mine = this.executedStates.get(e.height);
    if (!mine) {
      // Typically the block this very proposal's QC just committed: ask again once executed.
      if (e.height > this.lastExecuted.height) this.orphan = { from, block, tc };
      return;
    }
    if (!sameExecutedState(mine, e)) throw new Rejection(`executed state at height ${e.height} disagrees with ours`);
    const key = hex(block.id);
    if (this.cfg.validatePayloads && block.payload.length > 0 && !this.validPayloads.has(key)) {
      // Requests we have not validated ourselves: vote once the runtime has checked them.
      this.orphan = { from, block, tc };
      if (this.payloadInCheck !== key) {
        this.payloadInCheck = key;
        this.out.push({ type: 'validate-payload', blockId: block.id, height: block.height, payload: block.payload });
      }
      return;
    }

    // The requests of a block we vote for join our queue where they are not yet (they are
    // valid: checked above or by the runtime). A request that reached a proposal then reaches
    // every honest queue and commits even if that leader's blocks never do, as when a faulty
    // successor withholds their QC round after round, and we never had it (we restarted, or
    // its relay missed us). Usually every one is queued already: one lookup each.
    this.onCommands(block.payload);

    // Only a verified TC may justify a vote: the one checked above, never the raw one.
    const tcInfo: TimeoutCertInfo | undefined = usedTc ? { round: usedTc.round, highestQcRound: usedTc.highestQc.vote.round } : undefined;
    const vote = this.safety.voteFor({ id: block.id, round: block.round, height: block.height, parentQc: qc }, tcInfo);
    this.votedBlock = block;
    const next = this.leaderOf(block.round + 1);
    if (next === this.index) this.onVote(this.index, vote);
    else this.out.push({ type: 'send', to: next, message: { type: 'vote', vote } });
  }

  // ---- votes -----------------------------------------------------------------------------

  private onVote(from: number, signed: SignedVote): void {
    const r = signed.vote.round;
    if (signed.signer !== from) throw new Rejection('vote signer is not the sender');
    if (!isRound(r)) throw new Rejection('malformed vote round');
    if (this.leaderOf(r + 1) !== this.index) throw new Rejection(`not the leader of round ${r + 1}`);
    // Late votes after the QC formed are normal (q of n suffice); far-future ones are unbounded.
    if (r <= this.highQc.vote.round || r > this.round + 1) return;
    let rv = this.votes.get(r);
    if (rv?.signers.has(from)) return;
    // No check of this one vote: the aggregator checks the shares together once q are in (one
    // pairing per QC, not one per vote) and names any signer whose share fails. The sender is the
    // authenticated signer, so a bad share only spends its own slot in this round.
    if (!rv) {
      rv = { signers: new Set(), aggregators: new Map() };
      this.votes.set(r, rv);
    }
    rv.signers.add(from);
    const key = hex(encodeVoteData(signed.vote));
    let agg = rv.aggregators.get(key);
    if (!agg) {
      agg = this.cfg.certs.newVoteAggregator(signed.vote);
      rv.aggregators.set(key, agg);
    }
    const out = agg.add(from, signed.signature);
    for (const bad of out.faulty) this.out.push({ type: 'reject', from: bad, reason: `invalid vote signature in round ${r}` });
    if (out.qc) this.processQc(out.qc);
  }

  // ---- timeouts --------------------------------------------------------------------------

  private onTimer(round: Round): void {
    if (round !== this.round) return;
    // Every round that times out backs the timer off, quiet ones too: an idle chain's rounds
    // time out, and at the base each quiet second cost every validator a durable write, a
    // signature and a TC. What quiet rounds grew is dropped the moment work arrives
    // (workArrived), so load that meets a leader gone during a quiet spell waits one base
    // timeout, not the 64 the spell grew the timer to.
    this.idleBackoff = !this.hasWork();
    this.consecutiveTimeouts++;
    // A sync answer may have been lost: ask again, once per timer, whoever led the QC's round.
    if (!this.uncommittedChain(this.highQc.vote.blockId)) this.retrySync();
    const tc = this.highTc && this.highTc.round + 1 === round ? this.highTc : undefined;
    const tcInfo = this.highTc ? { round: this.highTc.round, highestQcRound: this.highTc.highestQc.vote.round } : undefined;
    // Re-armed first, so a refusal below still leaves the replica retrying.
    this.out.push({ type: 'set-timer', round, delayMs: this.timeoutMs() });
    const timeout = this.safety.signTimeout(round, this.highQc, tcInfo);
    const message: Extract<ConsensusMessage, { type: 'timeout' }> = tc ? { type: 'timeout', timeout, highQc: this.highQc, tc } : { type: 'timeout', timeout, highQc: this.highQc };
    this.lastTimeout = message;
    this.out.push({ type: 'broadcast', message });
    this.collectTimeout(timeout, this.highQc);
  }

  /**
   * Whether a round that times out failed at something: commands wait here, or blocks above the
   * committed root carry commands still to commit (or this replica cannot link its highest QC to
   * its root: it is catching up). Certified empty blocks alone are not work: an idle chain ends
   * with some that never commit, since no leader proposes again to commit them. Counted as work,
   * they made a quiet spell's backoff look earned by failed work, and no command arriving could
   * drop it (workArrived): a leader lost after a quiet spell stalled the chain for up to 64 base
   * timeouts.
   */
  private hasWork(): boolean {
    if (this.pending.size > 0) return true;
    const chain = this.uncommittedChain(this.highQc.vote.blockId);
    return chain === undefined || chain.some((b) => b.payload.length > 0);
  }

  /**
   * Commands arrived. If the timer was backed off by quiet rounds alone, the current round's
   * timer goes back to the base at once. Only once per quiet spell: commands that keep arriving
   * must not keep putting off the timeout of a round whose leader is gone.
   */
  private workArrived(): void {
    if (!this.idleBackoff) return;
    this.idleBackoff = false;
    this.consecutiveTimeouts = 0;
    this.out.push({ type: 'set-timer', round: this.round, delayMs: this.timeoutMs() });
  }

  private onTimeout(from: number, timeout: SignedTimeout, highQc: QuorumCert, tc: TimeoutCert | undefined): void {
    if (timeout.signer !== from) throw new Rejection('timeout signer is not the sender');
    if (!isRound(timeout.round) || timeout.highQcRound !== highQc.vote.round || timeout.round <= highQc.vote.round) {
      throw new Rejection('malformed timeout');
    }
    // TCs are not cached once verified (an aggregate over distinct messages, about q pairings):
    // only one that would move this replica is checked, so a peer repeating an old one costs a
    // comparison, not the pairings.
    const usedTc = tc && this.movesRound(tc) ? tc : undefined;
    if (usedTc) this.checkCertificate(from, 'TC', () => this.cfg.certs.verifyTc(usedTc));
    this.checkCertificate(from, 'QC in timeout', () => this.cfg.certs.verifyQc(highQc));
    if (usedTc) this.processTc(usedTc);
    this.processQc(highQc);
    if (!this.uncommittedChain(highQc.vote.blockId)) this.requestSync(from, highQc);
    // An honest timeout's round follows its QC or TC, which were just processed, so anything
    // ahead of our round now is unjustified and anything behind is stale.
    if (timeout.round < this.round) this.helpStraggler(from, timeout.round, tc);
    if (timeout.round !== this.round) return;
    if (this.timeouts.get(timeout.round)?.signers.has(from)) return;
    if (!this.cfg.certs.verifyTimeout(timeout)) throw new Rejection('invalid timeout signature');
    this.collectTimeout(timeout, highQc);
  }

  /**
   * `from` times out in a round this replica has left. On a busy chain the next proposal would
   * bring it along; on a quiet one nothing else is coming but timeouts, each later than the last
   * (backoff), and a replica that restarted or lost its links sat behind for minutes: a
   * validator started on an empty data directory of a quiet chain took two before it synced.
   * So it is sent what moved this replica on: its highest TC (with that TC's highest QC), riding
   * on the last timeout it broadcast, which the message format needs and which costs no new
   * signature. Once per peer per round of this replica: a peer repeating stale timeouts gets
   * nothing more.
   *
   * Not to replicas in step, whose timeouts arrive late in every round that times out (a review
   * measured 44-58% more timeout traffic on a fault-free quiet chain when they were helped too,
   * each helped one helping back): nothing to one whose message carries a TC as high as ours,
   * and to one exactly a TC behind (its timeout is for the round our TC ends, so that TC is on
   * its way to it) only once its timer has fired again in that round, a second timeout for it.
   */
  private helpStraggler(from: number, theirRound: Round, theirTc: TimeoutCert | undefined): void {
    const last = this.lastTimeout;
    const tc = this.highTc;
    if (last === undefined || tc === undefined || tc.round < theirRound) return;
    if (theirTc !== undefined && theirTc.round >= tc.round) return;
    if (tc.round === theirRound && this.staleTimeoutRound.get(from) !== theirRound) {
      this.staleTimeoutRound.set(from, theirRound);
      return;
    }
    if (this.helpedInRound.get(from) === this.round) return;
    this.helpedInRound.set(from, this.round);
    this.out.push({ type: 'send', to: from, message: { type: 'timeout', timeout: last.timeout, highQc: last.highQc, tc } });
  }

  /**
   * A validator connected anew missed what was broadcast meanwhile. On a busy chain the next
   * proposal brings it along; on a quiet one only timeouts are sent, ever later ones. So it is
   * sent this replica's last timeout at once: behind, it moves on by its TC and QC; ahead, it
   * answers with what moved it on (helpStraggler); level, the timeout counts towards the round's
   * TC as it should have. A replica that has not timed out since it started has nothing to send
   * (its own first timeout, a base timeout later, does the same).
   */
  private greetPeer(peer: number): void {
    if (peer === this.index || !Number.isInteger(peer) || peer < 0 || peer >= this.cfg.n) return;
    // Help sent over the link that went down may have been lost: it may be helped again.
    this.helpedInRound.delete(peer);
    this.staleTimeoutRound.delete(peer);
    if (this.lastTimeout === undefined) return;
    this.out.push({ type: 'send', to: peer, message: this.lastTimeout });
  }

  private collectTimeout(timeout: SignedTimeout, highQc: QuorumCert): void {
    let rt = this.timeouts.get(timeout.round);
    if (!rt) {
      rt = { signers: new Set(), aggregator: this.cfg.certs.newTimeoutAggregator(timeout.round) };
      this.timeouts.set(timeout.round, rt);
    }
    if (rt.signers.has(timeout.signer)) return;
    rt.signers.add(timeout.signer);
    const tc = rt.aggregator.add(timeout, highQc);
    if (tc) this.processTc(tc);
    else if (timeout.round === this.round && !rt.signers.has(this.index) && rt.signers.size > maxFaulty(this.cfg.n)) this.joinTimeout();
  }

  /**
   * f + 1 others timed out in this round, so at least one honest replica did: this one times out
   * too rather than wait for its own timer (the Bracha step of the Jolteon / DiemBFT pacemaker).
   * Replicas whose timers drifted apart (one still backed off by a quiet spell that no command
   * reached, the others back at the base) still form the round's TC together.
   */
  private joinTimeout(): void {
    try {
      this.onTimer(this.round);
    } catch (err) {
      // This replica's own rules refusing its timeout is nobody's fault, least of all the peer
      // whose timeout was being handled.
      if (!(err instanceof SafetyViolation)) throw err;
    }
  }

  // ---- certificates, rounds and commits ----------------------------------------------------

  /** `qc` must already be verified. */
  private processQc(qc: QuorumCert): void {
    if (qc.vote.round > this.highQc.vote.round) this.highQc = qc;
    this.tryCommit(qc);
    if (qc.vote.round >= this.round) {
      this.consecutiveTimeouts = 0;
      this.idleBackoff = false;
      this.enterRound(qc.vote.round + 1);
    }
  }

  /**
   * Checks a certificate `from` sent, throwing a Rejection if it is invalid. A peer whose
   * certificate failed gets none of its certificates checked again until this replica's round
   * moves: a forged TC claiming a round ahead "moves" the replica every time (it is never
   * processed), and failures are not cached, so without this one Byzantine validator could make
   * honest ones spend q + 1 pairings per message it sends. Honest peers send only valid ones.
   */
  private checkCertificate(from: number, what: string, verify: () => boolean): void {
    const peer = from !== this.index;
    if (peer && this.certFailedInRound.get(from) === this.round) throw new Rejection(`${what} not checked: its sender sent an invalid certificate in round ${this.round}`);
    if (verify()) return;
    if (peer) this.certFailedInRound.set(from, this.round);
    throw new Rejection(`invalid ${what}`);
  }

  /** Whether processing `tc` would change anything: a higher TC than held, or a round not yet reached. */
  private movesRound(tc: TimeoutCert): boolean {
    return isRound(tc.round) && (tc.round >= this.round || this.highTc === undefined || tc.round > this.highTc.round);
  }

  /** `tc` must already be verified. */
  private processTc(tc: TimeoutCert): void {
    this.processQc(tc.highestQc);
    if (!this.highTc || tc.round > this.highTc.round) this.highTc = tc;
    if (tc.round >= this.round) this.enterRound(tc.round + 1);
  }

  private enterRound(round: Round): void {
    this.round = round;
    this.out.push({ type: 'set-timer', round, delayMs: this.timeoutMs() });
    for (const r of this.votes.keys()) if (r <= this.highQc.vote.round) this.votes.delete(r);
    for (const r of this.timeouts.keys()) if (r < round) this.timeouts.delete(r);
  }

  /** Two-chain rule: a QC on C with C.round == parent.round + 1 commits the parent and its ancestors. */
  private tryCommit(qc: QuorumCert): void {
    const v = qc.vote;
    if (v.round !== v.parentRound + 1 || v.height - 1 <= this.root.height) return;
    const chain = this.uncommittedChain(v.parentId);
    // Missing blocks: a later QC commits them transitively once sync has filled the gap.
    if (!chain || chain.length === 0) return;
    const last = chain[chain.length - 1]!;
    this.provenCommitted = Math.max(this.provenCommitted, chainProvenCommitHeight(this.root, chain));
    this.root = { id: last.id, round: last.round, height: last.height, hasPayload: last.payload.length > 0, executed: last.executed };
    for (const b of chain) {
      for (const key of this.keys.ofBlock(b)) {
        this.dropPending(key);
        this.recentlyCommitted.add(key);
      }
    }
    // Anything at or below the root, or from an older round, can no longer be on the chain.
    for (const [key, b] of this.blocks) if (b.height <= this.root.height || b.round < this.root.round) this.blocks.delete(key);
    // The QC on the committing child certifies its parent, `last`.
    const lastQc = this.blocks.get(hex(v.blockId))?.parentQc;
    this.out.push(lastQc && bytesEqual(lastQc.vote.blockId, last.id) ? { type: 'commit', blocks: chain, qc: lastQc } : { type: 'commit', blocks: chain });
  }

  /**
   * Blocks from just above the root up to `id`, oldest first; [] when `id` is the root;
   * undefined when a block on the way is unknown or the chain does not reach the root.
   */
  private uncommittedChain(id: Uint8Array): Block[] | undefined {
    const chain: Block[] = [];
    let cur = id;
    while (!bytesEqual(cur, this.root.id)) {
      const b = this.blocks.get(hex(cur));
      if (!b || b.height <= this.root.height) return undefined;
      chain.push(b);
      cur = b.parentQc.vote.blockId;
    }
    return chain.reverse();
  }

  private onPayloadValidated(id: Uint8Array, valid: boolean): void {
    const key = hex(id);
    if (this.payloadInCheck === key) this.payloadInCheck = undefined;
    const orphan = this.orphan && hex(this.orphan.block.id) === key ? this.orphan : undefined;
    if (!valid) {
      if (orphan) this.orphan = undefined;
      // The leader's fault: attributed to it, and no vote for its block.
      this.out.push({ type: 'reject', from: orphan?.from ?? this.leaderOf(this.round), reason: `proposal ${key.slice(0, 16)} carries requests that fail validation` });
      return;
    }
    // Bounded: only the latest few matter, a proposal is voted on in its own round or never.
    if (this.validPayloads.size >= 64) this.validPayloads.clear();
    this.validPayloads.add(key);
    this.retryOrphan();
  }

  /**
   * No verdict came (the validation pool failed, say). Left as it was, the block would count as
   * in check for good and never get a vote; it is asked about once more, since pool failures
   * are mostly transient, and after a second failure waits for another occasion (a retried
   * orphan) like any block not yet checked.
   */
  private onPayloadUnchecked(id: Uint8Array): void {
    const key = hex(id);
    if (this.payloadInCheck !== key) return;
    this.payloadInCheck = undefined;
    if (this.payloadUncheckedOnce === key) return;
    this.payloadUncheckedOnce = key;
    this.retryOrphan();
  }

  // ---- execution ---------------------------------------------------------------------------

  /** The runtime is trusted, but an out-of-order report would corrupt the header checks. */
  private onExecuted(state: ExecutedState): void {
    if (state.height <= this.lastExecuted.height) return;
    if (state.height > this.root.height) throw new Rejection(`executed height ${state.height} is above the committed height ${this.root.height}`);
    this.lastExecuted = state;
    this.executedStates.set(state.height, state);
    for (const h of this.executedStates.keys()) if (h < state.height - EXECUTED_WINDOW) this.executedStates.delete(h);
    this.retryOrphan();
  }

  /**
   * Moves the committed root to a state the runtime already holds (its own ledger top after a
   * restart, or a certified snapshot): the blocks below are never committed here, so sync and
   * commits continue from just above it. Safety is untouched: votes and timeouts still go
   * through SafetyRules and its persisted state.
   */
  private onStateInstalled(event: Extract<ConsensusEvent, { type: 'state-installed' }>): void {
    const { executed, round, highQc, syncFrom, rootClaim } = event;
    if (!isRound(round) || !isRound(executed.height) || !(executed.blockId instanceof Uint8Array)) throw new Rejection('malformed installed state');
    const below = (e: ExecutedState): boolean => isRound(e.height) && e.height < executed.height && e.blockId instanceof Uint8Array;
    if (rootClaim !== undefined && !below(rootClaim)) throw new Rejection('malformed claim of the installed block');
    const earlier = event.earlier ?? [];
    if (!earlier.every(below)) throw new Rejection('malformed executed state below the installed one');
    const atClaim = rootClaim === undefined ? undefined : earlier.find((e) => e.height === rootClaim.height);
    if (atClaim !== undefined && !sameExecutedState(atClaim, rootClaim!)) throw new Rejection(`the installed block's claim disagrees with the executed state at height ${rootClaim!.height}`);
    const proven = event.provenCommitted ?? -1;
    if (!Number.isSafeInteger(proven) || proven < -1 || proven >= executed.height) throw new Rejection('malformed proven commit height of the installed state');
    const committed = event.committedIds ?? new Uint8Array(0);
    if (!(committed instanceof Uint8Array) || committed.length % SHA256_LENGTH !== 0) throw new Rejection('malformed committed request ids of the installed state');
    if (executed.height <= this.root.height) return;
    if (highQc && !this.cfg.certs.verifyQc(highQc)) throw new Rejection('invalid QC with the installed state');
    // Only the newest the memory holds: older ones would be evicted by the newer at once.
    const ids = committed.length / SHA256_LENGTH;
    for (let i = Math.max(0, ids - this.recentlyCommitted.limit); i < ids; i++) {
      this.recentlyCommitted.add(keyOfDigest(committed.subarray(i * SHA256_LENGTH, (i + 1) * SHA256_LENGTH)));
    }
    // The root's header claim bounds what a child of the root claims (parentClaim). Our own
    // ledger may have committed the root through a QC the others never saw, so its own state is
    // not yet checkable by them; a committed header's claim is. The claim is also kept among the
    // executed states, so a child claiming it gets our vote (a lone validator's own included).
    // Without the header (a snapshot) the installed state stands in: certified, so it counts as
    // already carried and no empty block is proposed for it, but looser (see the vote bound).
    this.root = { id: executed.blockId, round, height: executed.height, hasPayload: false, executed: rootClaim ?? executed };
    this.provenCommitted = proven;
    for (const [key, b] of this.blocks) if (b.height <= this.root.height || b.round < this.root.round) this.blocks.delete(key);
    // The blocks jumped over never pass through here, so which queued commands they committed
    // is unknown: the queue starts again empty rather than proposing them twice. The others were
    // relayed to the other validators, whose leaders propose them.
    this.pending.clear();
    this.pendingBytes = 0;
    this.pendingBySender.clear();
    this.lastExecuted = executed;
    this.executedStates.clear();
    for (const e of earlier) if (e.height >= executed.height - EXECUTED_WINDOW) this.executedStates.set(e.height, e);
    if (rootClaim !== undefined) this.executedStates.set(rootClaim.height, rootClaim);
    this.executedStates.set(executed.height, executed);
    this.syncTargetHeight = 0;
    this.syncAsked.clear();
    if (this.orphan && this.orphan.block.height <= this.root.height) this.orphan = undefined;
    if (highQc) this.processQc(highQc);
    if (syncFrom !== undefined && syncFrom !== this.index && Number.isInteger(syncFrom) && syncFrom >= 0 && syncFrom < this.cfg.n) {
      this.syncAsked.add(syncFrom);
      this.out.push({ type: 'sync-request', to: syncFrom, fromHeight: this.root.height + 1 });
    }
    this.retryOrphan();
  }

  /**
   * The tip this replica kept before it stopped. Its safety state may forbid timing out below
   * QC(r - 1) once it voted for block r; without that QC, a cluster restarted together could
   * neither vote nor time out. The QC and the TC come first, each verified: they alone restore
   * what the safety state relies on, and processing them needs no block. The blocks are best
   * effort, checked as a peer's sync answer would be: they may no longer chain from the root (a
   * crash between a step's flush and the flush of what it committed leaves the ledger below the
   * root the tip was cut at), and then the pacemaker fetches the chain from peers as for any
   * QC whose blocks are missing. A damaged record is refused, never obeyed.
   */
  private onTipRecovered(tip: CertifiedTip): void {
    if (typeof tip !== 'object' || tip === null || typeof tip.highQc !== 'object' || tip.highQc === null) throw new Rejection('malformed recovered tip');
    const qcValid = this.cfg.certs.verifyQc(tip.highQc);
    if (qcValid) this.processQc(tip.highQc);
    const tcValid = tip.highTc === undefined || this.cfg.certs.verifyTc(tip.highTc);
    if (tip.highTc !== undefined && tcValid) this.processTc(tip.highTc);
    try {
      this.onSyncResponse(this.index, tip.blocks, tip.highQc);
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
    }
    // Our queue held the requests of the blocks we voted for (onProposal) and is gone: those of
    // the kept blocks still uncommitted join it again, so a request in a block that is now
    // forked off (a TC past its QC, or a vote no QC came of) is proposed anew. Proposals leave
    // out the requests of their ancestors, and a commit drops them from the queue.
    for (const b of tip.blocks) if (b.height > this.root.height && this.blocks.has(hex(b.id))) this.onCommands(b.payload);
    // The block of our last vote stays in the tips we keep from now on, as before the restart.
    const lastVote = this.safety.state.lastVote;
    if (lastVote !== null) this.votedBlock = tip.blocks.find((b) => this.blocks.has(hex(b.id)) && bytesEqual(b.id, lastVote.vote.blockId)) ?? this.votedBlock;
    if (!qcValid || !tcValid) throw new Rejection(`invalid ${qcValid ? 'TC' : 'QC'} in the recovered tip`);
  }

  /** Votes on the held-back proposal once what it waited for (parent block, execution) is here. */
  private retryOrphan(): void {
    const orphan = this.orphan;
    if (!orphan) return;
    if (orphan.block.round < this.round) {
      this.orphan = undefined;
      return;
    }
    if (orphan.block.round > this.round || !this.uncommittedChain(orphan.block.parentQc.vote.blockId)) return;
    if (orphan.block.executed.height > this.lastExecuted.height) return;
    this.orphan = undefined;
    this.onProposal(orphan.from, orphan.block, orphan.tc);
  }

  // ---- block sync ---------------------------------------------------------------------------

  private requestSync(peer: number, qc: QuorumCert): void {
    const height = qc.vote.height;
    if (peer === this.index || height <= this.root.height || height < this.syncTargetHeight) return;
    if (height > this.syncTargetHeight) {
      this.syncTargetHeight = height;
      this.syncAsked.clear();
    }
    if (this.syncAsked.has(peer)) return;
    this.syncAsked.add(peer);
    this.out.push({ type: 'sync-request', to: peer, fromHeight: this.root.height + 1 });
  }

  /**
   * One more request per timer, to the next peer not yet asked, starting with the leader of the
   * QC's round: that leader may have crashed and lost the block, so retries must move on.
   */
  private retrySync(): void {
    const n = this.cfg.n;
    if (this.syncAsked.size >= n - 1) this.syncAsked.clear();
    const first = this.leaderOf(this.highQc.vote.round);
    for (let k = 0; k < n; k++) {
      const peer = (first + k) % n;
      if (peer !== this.index && !this.syncAsked.has(peer)) {
        this.requestSync(peer, this.highQc);
        return;
      }
    }
  }

  /**
   * Blocks from a peer, checked link by link from our committed root: each must hash to its id,
   * extend the block before it through a valid QC, and climb in round and height. They then
   * enter the tree and their QCs are processed in order, so the ordinary two-chain rule decides
   * what commits; nothing is taken on the peer's word.
   */
  private onSyncResponse(from: number, blocks: readonly Block[], highQc: QuorumCert): void {
    if (!Array.isArray(blocks) || blocks.length > MAX_SYNC_BLOCKS) throw new Rejection('malformed sync response');
    const fresh = blocks.filter((b) => b.height > this.root.height);
    let prevId = this.root.id;
    let prevHeight = this.root.height;
    let prevRound = this.root.round;
    for (const b of fresh) {
      const qc = b.parentQc;
      if (b.height !== prevHeight + 1 || !bytesEqual(qc.vote.blockId, prevId) || qc.vote.height !== prevHeight || qc.vote.round !== prevRound) {
        throw new Rejection(`sync response from ${from} does not chain at height ${b.height}`);
      }
      if (!isRound(b.round) || b.round <= qc.vote.round) throw new Rejection('sync block round does not climb');
      if (!Array.isArray(b.payload) || !b.payload.every((c: unknown) => c instanceof Uint8Array)) throw new Rejection('malformed sync payload');
      if (!bytesEqual(b.id, blockId(this.cfg.chainId, b))) throw new Rejection('sync block id does not match its contents');
      this.checkCertificate(from, 'QC in sync response', () => this.cfg.certs.verifyQc(qc));
      prevId = b.id;
      prevHeight = b.height;
      prevRound = b.round;
    }
    const rootBefore = this.root.height;
    for (const b of fresh) this.blocks.set(hex(b.id), b);
    for (const b of fresh) this.processQc(b.parentQc);
    if (this.cfg.certs.verifyQc(highQc) && this.uncommittedChain(highQc.vote.blockId)) this.processQc(highQc);
    // An answer cut short by its size (a responder bounds it in bytes) moved the root but not to
    // the target: ask the same peer for the rest now rather than on the next timer. Only after
    // progress, so a peer repeating one answer cannot keep this loop going.
    if (from !== this.index && this.root.height > rootBefore && this.root.height < this.syncTargetHeight) {
      this.syncAsked.add(from);
      this.out.push({ type: 'sync-request', to: from, fromHeight: this.root.height + 1 });
    }
    this.retryOrphan();
  }

  // ---- proposing ---------------------------------------------------------------------------

  private onCommands(commands: readonly Uint8Array[]): void {
    for (const cmd of commands) {
      if (!(cmd instanceof Uint8Array) || cmd.length === 0 || cmd.length > this.cfg.maxBatchBytes) continue;
      const key = this.keys.of(cmd);
      if (this.pending.has(key) || this.recentlyCommitted.has(key)) continue;
      if (this.pending.size >= this.maxPendingCommands || this.pendingBytes + cmd.length > this.maxPendingBytes) continue;
      const share = this.cfg.senderShare;
      if (share !== undefined) {
        const sender = this.cfg.senderOf!(cmd);
        if (sender !== undefined) {
          const held = this.pendingBySender.get(sender);
          if (held === undefined) this.pendingBySender.set(sender, { commands: 1, bytes: cmd.length });
          else if (held.commands >= share.commands || held.bytes + cmd.length > share.bytes) continue;
          else {
            held.commands++;
            held.bytes += cmd.length;
          }
        }
      }
      this.pending.set(key, cmd);
      this.pendingBytes += cmd.length;
      this.workArrived();
    }
  }

  private dropPending(key: string): void {
    const cmd = this.pending.get(key);
    if (cmd === undefined) return;
    this.pending.delete(key);
    this.pendingBytes -= cmd.length;
    const sender = this.cfg.senderShare === undefined ? undefined : this.cfg.senderOf!(cmd);
    if (sender === undefined) return;
    // senderOf is a function of the bytes, which never change once queued: the entry is there.
    const held = this.pendingBySender.get(sender);
    if (held === undefined) return;
    if (--held.commands === 0) this.pendingBySender.delete(sender);
    else held.bytes -= cmd.length;
  }

  /**
   * Whether the latest executed roots still need a header that a proposal has certified: with
   * `ancestors` the chain from the root up to the highest-QC block, the newest header whose QC
   * has travelled in a proposal is the second-to-last block of [root, ...ancestors].
   */
  private executedNotYetCertified(ancestors: readonly Block[]): boolean {
    const disseminated = ancestors.length >= 2 ? ancestors[ancestors.length - 2]!.executed : ancestors.length === 1 ? this.root.executed : undefined;
    if (disseminated === undefined) return false;
    return needsCertifiedRoots(this.lastExecuted, disseminated);
  }

  /** Whether an empty roots-only proposal for `round` waits (arming its timer once) for commands. */
  private holdEmptyProposal(round: Round): boolean {
    const holdMs = Math.min(this.cfg.emptyProposalHoldMs ?? 0, Math.floor(this.cfg.baseTimeoutMs / 4));
    if (!(holdMs > 0) || this.holdOverRound === round) return false;
    if (this.heldRound !== round) {
      this.heldRound = round;
      this.out.push({ type: 'set-proposal-timer', round, delayMs: holdMs });
    }
    return true;
  }

  /**
   * The commands of the block at `height`: from the queue in order, skipping those already in an
   * uncommitted ancestor (`inFlight`) and dropping stale ones; with `senderOf`, each sender's
   * commands past its first-pass share wait for a second pass over the room left.
   */
  private fillBlock(inFlight: ReadonlySet<string>, height: number): Uint8Array[] {
    const { maxBatchCommands, maxBatchBytes, senderOf } = this.cfg;
    const cap = senderOf === undefined ? Number.POSITIVE_INFINITY : Math.ceil(maxBatchCommands / SENDER_BLOCK_SHARE_DIVISOR);
    const scanUpTo = maxBatchCommands + SENDER_SCAN_BEYOND_BLOCK;
    const payload: Uint8Array[] = [];
    /** Commands passed over in the first pass, in queue order: as many as could fill the block. */
    const passedOver: [string, Uint8Array][] = [];
    const taken = new Map<number, number>();
    let bytes = 0;
    let scanned = 0;
    /** Takes `cmd` unless it went stale; false when the block is full. */
    const add = (key: string, cmd: Uint8Array): boolean => {
      if (payload.length >= maxBatchCommands || bytes + cmd.length > maxBatchBytes) return false;
      // Judged at the height of the block being built, as its voters will judge it: not the
      // root's, which the block may be two or more above (it extends the highest QC). Asked only
      // of the commands a block would take, since a leader with a long queue passes over many.
      if (this.cfg.isStale?.(cmd, height)) this.dropPending(key);
      else {
        payload.push(cmd);
        bytes += cmd.length;
      }
      return true;
    };
    // Deleting the entry being visited (a stale one) is safe in a Map iteration.
    for (const [key, cmd] of this.pending) {
      if (payload.length >= maxBatchCommands) break;
      if (inFlight.has(key)) continue;
      // Bounded with a sender tag only: without one every command visited goes in.
      if (senderOf !== undefined) {
        if (scanned++ >= scanUpTo) break;
        const sender = senderOf(cmd);
        if (sender !== undefined) {
          const had = taken.get(sender) ?? 0;
          if (had >= cap) {
            if (passedOver.length < maxBatchCommands) passedOver.push([key, cmd]);
            continue;
          }
          const before = payload.length;
          if (!add(key, cmd)) break;
          if (payload.length > before) taken.set(sender, had + 1);
          continue;
        }
      }
      if (!add(key, cmd)) break;
    }
    for (const [key, cmd] of passedOver) if (!add(key, cmd)) break;
    return payload;
  }

  /**
   * The executed state a header extending `ancestors` carries: our latest, but no later than a
   * commit the chain proves (provenCommitHeight), and never below its parent's (a header never
   * goes back). A voter checks the state against its own execution, so it must have committed
   * that height; our root may have been committed by a QC off this chain instead (a block
   * certified, then abandoned by the next leaders, its QC seen by some replicas only), and
   * headers claiming it got no vote from the others: with their turns to lead never adjacent, no
   * two consecutive rounds were certified and nothing committed again (a ByzzFuzz soak seed).
   */
  private headerExecuted(ancestors: readonly Block[]): ExecutedState {
    const parent = this.parentClaim(ancestors);
    const proven = this.provenCommitHeight(ancestors);
    const own = this.lastExecuted.height <= proven ? this.lastExecuted : this.executedStates.get(proven);
    return own === undefined ? parent : latestExecuted(own, parent);
  }

  /** The executed state of the header a block extending `ancestors` extends. */
  private parentClaim(ancestors: readonly Block[]): ExecutedState {
    return ancestors[ancestors.length - 1]?.executed ?? this.root.executed;
  }

  /**
   * The highest height that every replica holding the chain [root, ...ancestors] and the QC on
   * its last block has committed: what the chain's own QCs commit by the two-chain rule, above
   * the root or within what committed here.
   */
  private provenCommitHeight(ancestors: readonly Block[]): number {
    return Math.max(this.provenCommitted, chainProvenCommitHeight(this.root, ancestors));
  }

  /** Proposes if this replica leads the current round and has a reason to; true if it did. */
  private maybePropose(): boolean {
    const round = this.round;
    if (this.leaderOf(round) !== this.index || this.proposedRound >= round) return false;
    // proposedRound lives in memory; across a restart the safety state says whether this replica
    // already proposed in the round (or, in a state saved before that record existed, voted in
    // it, which a leader does on its own proposal): a second proposal would equivocate.
    const saved = this.safety.state;
    if (saved.lastProposedRound >= round || (saved.lastVote?.vote.round ?? 0) >= round) return false;
    const qc = this.highQc;
    const tc = qc.vote.round + 1 === round ? undefined : this.highTc?.round === round - 1 ? this.highTc : undefined;
    if (qc.vote.round + 1 !== round && !tc) return false;
    const ancestors = this.uncommittedChain(qc.vote.blockId);
    if (!ancestors) return false;
    const payload = this.fillBlock(this.keys.in(ancestors), qc.vote.height + 1);
    // Idle: an empty block is worth proposing only to push earlier commands through the
    // two-chain rule, to carry the QC that committed the root (when it just did) to the
    // others, or to certify the latest executed roots (that one after a short hold);
    // otherwise wait for commands (or the pacemaker) instead of spinning.
    const carriesCommit = ancestors.some((b) => b.payload.length > 0) || (ancestors.length <= 1 && this.root.hasPayload);
    if (payload.length === 0 && !carriesCommit) {
      if (!this.executedNotYetCertified(ancestors)) return false;
      // Held only while no header of the chain carries the latest roots yet: a command arriving
      // during the hold can carry them as well. A block that merely brings such a header's QC to
      // the others goes at once, since proofs of the latest state wait on it.
      const newest = this.parentClaim(ancestors);
      if (!tc && !sameRoots(newest, this.lastExecuted) && this.holdEmptyProposal(round)) return false;
    }
    const block = makeBlock(this.cfg.chainId, {
      round,
      height: qc.vote.height + 1,
      parentQc: qc,
      author: this.index,
      payload,
      executed: this.headerExecuted(ancestors),
    });
    this.safety.recordProposal(round);
    this.proposedRound = round;
    this.out.push({ type: 'broadcast', message: tc ? { type: 'proposal', block, tc } : { type: 'proposal', block } });
    this.onProposal(this.index, block, tc);
    return true;
  }
}

/**
 * Light clients prove state and log entries against the roots of a certified header (a header
 * whose block has a QC that every replica has seen). Headers carry the proposer's latest executed
 * state, which lags commits by a block or two, so when the chain goes idle the last executed
 * roots would never reach such a header and no replica could serve a proof of the current state.
 * The leader therefore keeps proposing (empty) blocks while its executed roots differ from those
 * of the newest header already certified in a proposal: the header certified by the parent QC of
 * the highest-QC block. Empty blocks change no roots, so this stops after about three blocks.
 */
function needsCertifiedRoots(lastExecuted: ExecutedState, disseminated: ExecutedState): boolean {
  if (lastExecuted.height === 0 || lastExecuted.height <= disseminated.height) return false;
  return !sameRoots(lastExecuted, disseminated);
}

function sameRoots(a: ExecutedState, b: ExecutedState): boolean {
  return bytesEqual(a.stateRoot, b.stateRoot) && bytesEqual(a.logRoot, b.logRoot);
}

function latestExecuted(mine: ExecutedState, parent: ExecutedState): ExecutedState {
  return parent.height > mine.height ? parent : mine;
}

/**
 * The highest height the chain [root, ...ancestors] commits by the two-chain rule on its own
 * certificates: every block of `ancestors` is certified (by the next one's parent QC, the last by
 * the highest QC), so one whose round follows its parent's commits the parent. -1 if none does.
 */
export function chainProvenCommitHeight(root: Readonly<{ round: Round; height: number }>, ancestors: readonly Block[]): number {
  let proven = -1;
  let prev = root;
  for (const b of ancestors) {
    if (b.round === prev.round + 1) proven = prev.height;
    prev = b;
  }
  return proven;
}

/**
 * The highest height that a run of consecutive committed blocks (oldest first) proves committed
 * by the two-chain rule on its own certificates, the first block's parent QC included (so the
 * top block alone, all a pruned ledger may hold, still proves one or two below it); -1 if none.
 * A restarted core's `provenCommitted`, from its ledger's top blocks ('state-installed').
 */
export function committedRunProvenHeight(blocks: readonly Block[]): number {
  const first = blocks[0];
  if (first === undefined) return -1;
  const v = first.parentQc.vote;
  if (v.height !== first.height - 1) return chainProvenCommitHeight(first, blocks.slice(1));
  // The parent QC certifies the block below `first`; consecutive with its own parent, it commits that.
  const byParentQc = v.height >= 1 && v.round === v.parentRound + 1 ? v.height - 1 : -1;
  return Math.max(byParentQc, chainProvenCommitHeight({ round: v.round, height: v.height }, blocks));
}

/** What a ledger holds (heights 1..top, blocks from `lowestBlock` up), as restartKnowledge reads it. */
export interface CommittedLedgerView {
  readonly top: number;
  readonly lowestBlock: number;
  executed(height: number): ExecutedState | undefined;
  /** Blocks from..to inclusive, all held (from >= lowestBlock). */
  blocks(from: number, to: number): readonly Block[];
}

/**
 * What a core restarted at its ledger's top knew below it ('state-installed'): the top header's
 * claim (when the top block is held), the executed states of the window below the top, the
 * highest commit the ledger proves. (What committed below comes from the application's log,
 * which a prune leaves whole: `committedIds`.) One function
 * for the node's runtime and the simulator.
 */
export function restartKnowledge(ledger: CommittedLedgerView): {
  rootClaim?: ExecutedState;
  earlier: ExecutedState[];
  provenCommitted: number;
} {
  const lowest = Math.max(1, ledger.top - EXECUTED_WINDOW);
  const earlier: ExecutedState[] = [];
  for (let h = lowest; h < ledger.top; h++) {
    const e = ledger.executed(h);
    if (e !== undefined) earlier.push(e);
  }
  const firstBlock = Math.max(lowest, ledger.lowestBlock);
  const blocks = firstBlock <= ledger.top ? ledger.blocks(firstBlock, ledger.top) : [];
  const rootClaim = blocks.at(-1)?.height === ledger.top ? blocks.at(-1)!.executed : undefined;
  return { earlier, provenCommitted: committedRunProvenHeight(blocks), ...(rootClaim === undefined ? {} : { rootClaim }) };
}

/**
 * The certified tip a runtime keeps after a step whose commits (`committed`) reach its ledger
 * only in a later flush: those above the durable top come first, so a crash between the two
 * flushes leaves them recoverable from the tip rather than on no disk at all. A chain longer than
 * a record holds (MAX_TIP_BLOCKS) is kept as its QC and TC alone; sync brings its blocks back.
 * One function for the node's runtime and the simulator's crash in that window.
 */
export function tipToKeep(tip: CertifiedTip, committed: readonly Block[], durableTop: number): CertifiedTip {
  const unflushed = committed.filter((b) => b.height > durableTop);
  const blocks = unflushed.length > 0 ? [...unflushed, ...tip.blocks] : tip.blocks;
  return { ...tip, blocks: blocks.length > MAX_TIP_BLOCKS ? [] : blocks };
}

function boundedInteger(value: number, name: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

function isRound(r: unknown): r is Round {
  return Number.isSafeInteger(r) && (r as number) >= 0;
}

function payloadBytes(payload: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of payload) n += c.length;
  return n;
}

