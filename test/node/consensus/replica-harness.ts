import assert from 'node:assert/strict';
import { type Block, type QuorumCert, type SignedTimeout, type SignedVote, type TimeoutCert, timeoutDigest, type VoteData, voteDigest } from '../../../protocol/types.js';
import { fakeSignature } from '../../../node/consensus/fake-certs.js';
import type { CertificateOps } from '../../../node/consensus/certs.js';
import type { ConsensusAction, ConsensusEvent, ConsensusMessage } from '../../../node/consensus/messages.js';
import { Replica, restartKnowledge } from '../../../node/consensus/replica.js';
import { KvApplication } from '../../../node/app/kv-app.js';
import type { ExecutedState } from '../../../protocol/types.js';
import type { ConsensusSigner, SafetyState, SafetyStorage } from '../../../node/consensus/safety-rules.js';

export const CHAIN = 'vsmr-test';

export function voteData(b: Block): VoteData {
  return { blockId: b.id, round: b.round, height: b.height, parentId: b.parentQc.vote.blockId, parentRound: b.parentQc.vote.round };
}

/** `signer`'s vote for `b` under the fake certificates (fake-certs.ts). */
export function signedVote(b: Block, signer: number): SignedVote {
  const vote = voteData(b);
  return { vote, signer, signature: fakeSignature(signer, voteDigest(CHAIN, vote)) };
}

export function signedTimeout(round: number, highQc: QuorumCert, signer: number): SignedTimeout {
  const highQcRound = highQc.vote.round;
  return { round, highQcRound, signer, signature: fakeSignature(signer, timeoutDigest(CHAIN, round, highQcRound)) };
}

/** A QC on `b` from `signers`' fake votes. */
export function qcWith(certs: CertificateOps, b: Block, signers: readonly number[] = [0, 1, 2]): QuorumCert {
  const agg = certs.newVoteAggregator(voteData(b));
  let qc: QuorumCert | undefined;
  for (const s of signers) qc = agg.add(s, signedVote(b, s).signature).qc;
  assert.ok(qc, 'quorum reached');
  return qc;
}

/** A TC for `round` from `signers`' fake timeouts, their highest QCs taken from `highQcs` in turn. */
export function tcWith(certs: CertificateOps, round: number, highQcs: readonly QuorumCert[], signers: readonly number[] = [0, 1, 2]): TimeoutCert {
  const agg = certs.newTimeoutAggregator(round);
  let tc: TimeoutCert | undefined;
  signers.forEach((s, k) => {
    const qc = highQcs[k % highQcs.length]!;
    tc = agg.add(signedTimeout(round, qc, s), qc);
  });
  assert.ok(tc, 'quorum reached');
  return tc;
}

/** Fake: in-memory safety state (durability is SafetyRules' own test subject). */
export class MemorySafetyStorage implements SafetyStorage {
  saved: SafetyState | null = null;
  load(): SafetyState | null {
    return this.saved;
  }
  store(state: SafetyState): void {
    this.saved = state;
  }
}

export interface ClusterOptions {
  readonly n: number;
  readonly certs: CertificateOps;
  readonly signer: (i: number) => ConsensusSigner;
  readonly maxBatchCommands?: number;
  readonly maxBatchBytes?: number;
  readonly baseTimeoutMs?: number;
  readonly emptyProposalHoldMs?: number;
  /** ReplicaConfig.senderOf and senderShare, when set. */
  readonly senderOf?: (command: Uint8Array) => number | undefined;
  readonly senderShare?: { readonly commands: number; readonly bytes: number };
  /** When set, replicas hold votes until this fake validator has checked the proposal's payload. */
  readonly payloadValidator?: (payload: readonly Uint8Array[]) => boolean;
}

type SyncResponse = { readonly type: 'sync-response'; readonly blocks: readonly Block[]; readonly highQc: QuorumCert };

interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly message: ConsensusMessage | SyncResponse;
}

/**
 * A tiny deterministic driver: one global FIFO queue between n replicas, timers that fire only
 * when the test says so, and crashed replicas whose messages (both ways) are dropped.
 */
export class Cluster {
  readonly replicas: Replica[];
  readonly committed: Block[][];
  readonly rejects: { at: number; from: number; reason: string }[] = [];
  /** Point-to-point messages sent; a broadcast counts n - 1. */
  messages = 0;
  readonly crashed = new Set<number>();
  private readonly queue: Envelope[] = [];
  private readonly armed: ({ round: number; delayMs: number } | undefined)[];
  readonly timerDelays: number[][];
  /** Per replica, the rounds of the proposal timers it armed, in order (a held empty proposal each). */
  readonly proposalTimers: number[][];
  /** Their delays, in the same order. */
  readonly proposalTimerDelays: number[][];

  /** Survives restarts, as a disk would. */
  readonly storages: MemorySafetyStorage[];
  /** Commits a restarted replica re-emits while catching up (its ledger already holds them). */
  readonly replayed: Block[][];
  /** Each replica's application, fed its committed blocks in order (survives restarts, as disk). */
  readonly apps: KvApplication[];
  /** What each replica's application reported per height, replayed to a restarted core. */
  readonly executed: ExecutedState[][];
  /** The QC on each replica's last committed block, when its commit carried one (a ledger keeps it). */
  readonly commitQcs: (QuorumCert | undefined)[];

  constructor(readonly opts: ClusterOptions) {
    const { n } = opts;
    this.storages = Array.from({ length: n }, () => new MemorySafetyStorage());
    this.replicas = Array.from({ length: n }, (_, i) => this.newReplica(i));
    this.replayed = Array.from({ length: n }, () => []);
    this.apps = Array.from({ length: n }, () => new KvApplication({ chainId: CHAIN }));
    this.executed = Array.from({ length: n }, () => []);
    this.commitQcs = Array.from({ length: n }, () => undefined);
    this.committed = Array.from({ length: n }, () => []);
    this.armed = Array.from({ length: n }, () => undefined);
    this.timerDelays = Array.from({ length: n }, () => []);
    this.proposalTimers = Array.from({ length: n }, () => []);
    this.proposalTimerDelays = Array.from({ length: n }, () => []);
  }

  private newReplica(i: number): Replica {
    const opts = this.opts;
    return new Replica({
      chainId: CHAIN,
      index: i,
      n: opts.n,
      signer: opts.signer(i),
      safetyStorage: this.storages[i]!,
      certs: opts.certs,
      baseTimeoutMs: opts.baseTimeoutMs ?? 100,
      maxBatchCommands: opts.maxBatchCommands ?? 10,
      maxBatchBytes: opts.maxBatchBytes ?? 1 << 20,
      validatePayloads: opts.payloadValidator !== undefined,
      ...(opts.emptyProposalHoldMs !== undefined ? { emptyProposalHoldMs: opts.emptyProposalHoldMs } : {}),
      ...(opts.senderOf !== undefined ? { senderOf: opts.senderOf } : {}),
      ...(opts.senderShare !== undefined ? { senderShare: opts.senderShare } : {}),
    });
  }

  /** Crash-restart: a fresh core over the same safety storage; the ledger (committed) is kept. */
  restart(i: number): void {
    this.replicas[i] = this.newReplica(i);
    this.crashed.delete(i);
    this.replayed[i] = [];
    this.step(i, { type: 'start' });
  }

  /**
   * Crash-restart as the node's runtime does it: a fresh core over the same safety storage, moved
   * to its ledger's top (the top's state, the top header's claim and the QC kept with it), then
   * given the certified tip it held when it stopped, unless `withTip` is false (a ledger without
   * that record: written before it existed, or refused as damaged).
   */
  restartFromLedger(i: number, withTip = true): void {
    const tip = this.replicas[i]!.certifiedTip();
    const top = this.committed[i]!.at(-1);
    this.replicas[i] = this.newReplica(i);
    this.crashed.delete(i);
    this.replayed[i] = [];
    if (top !== undefined) {
      const qc = this.commitQcs[i];
      this.step(i, {
        type: 'state-installed',
        executed: this.executed[i]![top.height - 1]!,
        round: top.round,
        ...restartKnowledge({ top: top.height, lowestBlock: 1, executed: (h) => this.executed[i]![h - 1], blocks: (a, b) => this.committed[i]!.slice(a - 1, b) }),
        committedIds: this.apps[i]!.recentRequestIds(this.replicas[i]!.recentlyCommittedLimit),
        ...(qc !== undefined && qc.vote.height === top.height ? { highQc: qc } : {}),
      });
    }
    if (withTip) this.step(i, { type: 'tip-recovered', tip });
    this.step(i, { type: 'start' });
  }

  get n(): number {
    return this.opts.n;
  }

  live(): number[] {
    return this.replicas.map((_, i) => i).filter((i) => !this.crashed.has(i));
  }

  step(i: number, event: ConsensusEvent): void {
    if (this.crashed.has(i)) return;
    this.apply(i, this.replicas[i]!.step(event));
  }

  private apply(i: number, actions: readonly ConsensusAction[]): void {
    const executed: ExecutedState[] = [];
    const validated: { blockId: Uint8Array; valid: boolean }[] = [];
    for (const a of actions) {
      switch (a.type) {
        case 'broadcast':
          for (let j = 0; j < this.n; j++) if (j !== i) this.enqueue({ from: i, to: j, message: a.message });
          break;
        case 'send':
          this.enqueue({ from: i, to: a.to, message: a.message });
          break;
        case 'set-timer':
          this.armed[i] = { round: a.round, delayMs: a.delayMs };
          this.timerDelays[i]!.push(a.delayMs);
          break;
        case 'set-proposal-timer':
          this.proposalTimers[i]!.push(a.round);
          this.proposalTimerDelays[i]!.push(a.delayMs);
          break;
        case 'commit':
          if (a.qc !== undefined) this.commitQcs[i] = a.qc;
          for (const b of a.blocks) {
            // After a restart the core starts from genesis and re-commits what the ledger has.
            if (b.height <= this.committed[i]!.length) {
              this.replayed[i]!.push(b);
              executed.push(this.executed[i]![b.height - 1]!);
            } else {
              this.committed[i]!.push(b);
              const r = this.apps[i]!.applyBlock([...b.payload]);
              const state = { height: b.height, blockId: b.id, stateRoot: r.stateRoot, logRoot: r.logRoot };
              this.executed[i]!.push(state);
              executed.push(state);
            }
          }
          break;
        case 'sync-request': {
          const peer = this.replicas[a.to]!;
          const chain = peer.syncChain();
          const blocks = [...this.committed[a.to]!.filter((b) => b.height >= a.fromHeight), ...chain.blocks];
          this.enqueue({ from: a.to, to: i, message: { type: 'sync-response', blocks, highQc: chain.highQc } });
          break;
        }
        case 'reject':
          this.rejects.push({ at: i, from: a.from, reason: a.reason });
          break;
        case 'validate-payload':
          validated.push({ blockId: a.blockId, valid: this.opts.payloadValidator!(a.payload) });
          break;
      }
    }
    // Execution follows the step that committed, as the node's runtime will do it.
    for (const state of executed) this.step(i, { type: 'executed', state });
    for (const v of validated) this.step(i, { type: 'payload-validated', ...v });
  }

  private enqueue(e: Envelope): void {
    this.messages++;
    if (this.crashed.has(e.from) || this.crashed.has(e.to)) return;
    this.queue.push(e);
  }

  start(): void {
    for (const i of this.live()) this.step(i, { type: 'start' });
  }

  submit(commands: readonly Uint8Array[]): void {
    for (const i of this.live()) this.step(i, { type: 'commands', commands });
  }

  /** Delivers until the queue is empty; returns how many messages were delivered. */
  deliverAll(limit = 1_000_000): number {
    let delivered = 0;
    while (this.queue.length > 0) {
      if (++delivered > limit) throw new Error('message limit reached: livelock?');
      const e = this.queue.shift()!;
      if (this.crashed.has(e.to)) continue;
      this.step(e.to, { ...e.message, from: e.from } as ConsensusEvent);
    }
    return delivered;
  }

  /** Fires every live replica's armed timer (the latest set-timer it asked for). */
  fireTimers(): void {
    for (const i of this.live()) {
      const t = this.armed[i];
      if (t) this.step(i, { type: 'timer', round: t.round });
    }
  }

  /** Fires the latest proposal timer each live replica armed (a stale one is the core's to ignore). */
  fireProposalTimers(): void {
    for (const i of this.live()) {
      const round = this.proposalTimers[i]!.at(-1);
      if (round !== undefined) this.step(i, { type: 'proposal-timer', round });
    }
  }

  /** Alternates delivery and timer expiry until `done` holds (or gives up after `rounds`). */
  runUntil(done: () => boolean, rounds = 50): void {
    for (let k = 0; k < rounds && !done(); k++) {
      this.deliverAll();
      if (done()) return;
      this.fireTimers();
    }
    this.deliverAll();
  }

  committedCommands(i: number): string[] {
    return this.committed[i]!.flatMap((b) => b.payload.map((c) => new TextDecoder().decode(c)));
  }
}

export const cmd = (s: string): Uint8Array => new TextEncoder().encode(s);
