import { bytesEqual, bytesToHex, toHex } from '../../crypto/bytes.js';
import { resultName } from '../../protocol/result.js';
import type { CommitReceipt } from '../../protocol/submit-reply.js';
import { KvApplication } from '../app/kv-app.js';
import type { CertificateOps } from '../consensus/certs.js';
import type { ConsensusAction, ConsensusEvent, ConsensusMessage } from '../consensus/messages.js';
import { MAX_SYNC_BLOCKS, Replica } from '../consensus/replica.js';
import type { ConsensusSigner } from '../consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert } from '../../protocol/types.js';
import type { NodeStatus } from '../observability/http.js';
import type { Logger } from '../observability/log.js';
import type { NodeMetrics } from '../observability/metrics.js';
import { decodeRequest, requestId } from '../../protocol/request.js';
import type { StatelessValidator } from '../../validation/stateless.js';
import type { Verdict } from '../../validation/verdict.js';
import { type Clock, type ConsensusTransport, type LedgerStore, type SyncAnswer, systemClock } from './ports.js';

export interface ValidatorNodeOptions {
  readonly chainId: string;
  readonly index: number;
  readonly n: number;
  readonly signer: ConsensusSigner;
  readonly certs: CertificateOps;
  readonly store: LedgerStore;
  readonly transport: ConsensusTransport;
  readonly validator: StatelessValidator;
  readonly consensus: { baseTimeoutMs: number; maxBatchCommands: number; maxBatchBytes: number };
  readonly app?: { allowMint?: boolean; initialBalances?: readonly { readonly account: Uint8Array; readonly amount: bigint }[] };
  readonly clock?: Clock;
  readonly metrics?: NodeMetrics;
  readonly logger?: Logger;
}

/** A committed block that disagrees with the ledger: the node must stop, never carry on. */
export class LedgerDivergenceError extends Error {
  constructor(readonly height: number) {
    super(`committed block at height ${height} differs from the one in the ledger: refusing to continue`);
    this.name = 'LedgerDivergenceError';
  }
}

/**
 * One validator's runtime: drives the pure consensus core with real time, executes what it
 * commits on the application in order, makes the ledger durable, answers peers' sync
 * requests, and admits client requests after stateless validation. All I/O goes through the
 * ports (transport, store, clock), so the same code runs over libp2p + LMDB or in-process.
 */
export class ValidatorNode {
  readonly app: KvApplication;
  private replica: Replica;
  private timer: unknown;
  private stopped = false;
  private readonly clock: Clock;
  private readonly waiting = new Map<string, { resolve: (r: CommitReceipt) => void }>();
  private fatal: Error | undefined;
  /** For metrics: when the current round began, and the last certificate rounds seen. */
  private roundStartedAt = 0;
  private lastRound = 0;
  private lastQcRound = 0;
  private lastTcRound = 0;
  private readonly progressListeners = new Set<() => void>();

  constructor(private readonly opts: ValidatorNodeOptions) {
    this.clock = opts.clock ?? systemClock;
    this.app = new KvApplication({
      chainId: opts.chainId,
      allowMint: opts.app?.allowMint ?? true,
      initialBalances: opts.app?.initialBalances ?? [],
    });
    // Recovery: rebuild the application from the ledger; the core starts fresh over the
    // persisted safety state and re-syncs, and its re-commits are checked against the ledger.
    const height = opts.store.committedHeight();
    for (let h = 1; h <= height; h++) {
      const block = opts.store.block(h);
      if (!block) throw new Error(`ledger is missing block ${h} of ${height}`);
      this.execute(block);
    }
    this.replica = this.newReplica();
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
      validatePayloads: true,
    });
  }

  start(): void {
    this.step({ type: 'start' });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The error that stopped the node, if any (ledger divergence, storage failure). */
  get failure(): Error | undefined {
    return this.fatal;
  }

  /** A consensus message from validator `from`, already decoded by the transport. */
  deliver(from: number, message: ConsensusMessage): void {
    const started = this.clock.now();
    this.step({ ...message, from } as ConsensusEvent);
    this.opts.metrics?.messageLatencySeconds.observe({ type: message.type }, (this.clock.now() - started) / 1000);
  }

  /** Answers a peer's sync request from the ledger and the certified, uncommitted tip. */
  serveSync(fromHeight: number): SyncAnswer {
    const chain = this.replica.syncChain();
    const top = this.opts.store.committedHeight();
    const room = Math.max(0, MAX_SYNC_BLOCKS - chain.blocks.length);
    const from = Math.max(1, fromHeight);
    const committed = from <= top ? this.opts.store.blocks(from, Math.min(top, from + room - 1)) : [];
    return { blocks: [...committed, ...chain.blocks], highQc: chain.highQc };
  }

  /**
   * Admits signed client requests: stateless validation first, then into consensus. Resolves
   * per request with its verdict and, for accepted ones, a promise of the commit receipt.
   */
  async submit(requests: readonly Uint8Array[]): Promise<{ verdict: Verdict; committed?: Promise<CommitReceipt> }[]> {
    const verdicts = await this.opts.validator.validate(requests, this.opts.store.committedHeight());
    const admitted: Uint8Array[] = [];
    const out = verdicts.map((verdict, i) => {
      if (verdict.kind !== 'accept') return { verdict };
      const bytes = requests[i]!;
      const key = bytesToHex(requestId(bytes));
      const committed = new Promise<CommitReceipt>((resolve) => this.waiting.set(key, { resolve }));
      admitted.push(bytes);
      return { verdict, committed };
    });
    if (admitted.length > 0) this.step({ type: 'commands', commands: admitted });
    return out;
  }

  /**
   * Admits requests that reached this node by gossip: validated and queued like local ones,
   * but nobody here waits for their receipt. Returns the verdicts for peer scoring.
   */
  async admit(requests: readonly Uint8Array[]): Promise<Verdict[]> {
    const verdicts = await this.opts.validator.validate(requests, this.opts.store.committedHeight());
    const admitted = requests.filter((_, i) => verdicts[i]!.kind === 'accept');
    if (admitted.length > 0) this.step({ type: 'commands', commands: admitted });
    return verdicts;
  }

  /** The certified blocks above the committed root and the highest QC (light-client queries). */
  certifiedTip(): { blocks: Block[]; highQc: QuorumCert } {
    return this.replica.syncChain();
  }

  /** Calls `listener` after every consensus step (commits, new QCs); returns the unsubscribe. */
  onProgress(listener: () => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  status(peers = 0): NodeStatus {
    const round = this.replica.currentRound;
    return {
      chainId: this.opts.chainId,
      index: this.opts.index,
      height: this.opts.store.committedHeight(),
      round,
      leader: round % this.opts.n,
      logRoot: toHex(this.app.logRoot()),
      stateRoot: toHex(this.app.stateRoot()),
      peers,
    };
  }

  private step(event: ConsensusEvent): void {
    if (this.stopped) return;
    this.carryOut(this.replica.step(event));
    for (const listener of this.progressListeners) listener();
  }

  private carryOut(actions: readonly ConsensusAction[]): void {
    const executed: ExecutedState[] = [];
    for (const a of actions) {
      switch (a.type) {
        case 'broadcast':
          this.opts.transport.broadcast(a.message);
          break;
        case 'send':
          this.opts.transport.send(a.to, a.message);
          break;
        case 'set-timer':
          this.arm(a.round, a.delayMs);
          break;
        case 'commit':
          for (const b of a.blocks) {
            const state = this.commit(b);
            if (!state) return;
            executed.push(state);
          }
          break;
        case 'sync-request':
          this.opts.transport.requestSync(a.to, a.fromHeight).then(
            (answer) => {
              if (answer) this.step({ type: 'sync-response', from: a.to, blocks: answer.blocks, highQc: answer.highQc });
            },
            (err: unknown) => this.opts.logger?.warn({ err: String(err), peer: a.to }, 'sync request failed'),
          );
          break;
        case 'validate-payload': {
          // Requests seen at ingress hit the pool's verified cache; only unknown ones cost a check.
          const { blockId } = a;
          this.opts.validator.validate(a.payload, this.opts.store.committedHeight()).then(
            (verdicts) => this.step({ type: 'payload-validated', blockId, valid: verdicts.every((v) => v.kind === 'accept') }),
            (err: unknown) => {
              this.opts.logger?.warn({ err: String(err) }, 'payload validation failed; not voting for the block');
            },
          );
          break;
        }
        case 'reject':
          this.opts.metrics?.rejectedMessages.inc({ reason: a.reason.split(':')[0] ?? 'other' });
          this.opts.logger?.debug({ from: a.from, reason: a.reason }, 'rejected');
          break;
      }
    }
    this.observe();
    for (const state of executed) this.step({ type: 'executed', state });
  }

  /** Derives the consensus metrics from the core's state after each step. */
  private observe(): void {
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

  private arm(round: number, delayMs: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.step({ type: 'timer', round });
    }, delayMs);
  }

  /** Returns the executed state, or undefined after stopping the node on divergence. */
  private commit(block: Block): ExecutedState | undefined {
    const store = this.opts.store;
    if (block.height <= store.committedHeight()) {
      // A re-commit while re-syncing after a restart: it must be the block we already have.
      const stored = store.block(block.height);
      if (!stored || !bytesEqual(stored.id, block.id)) return this.halt(new LedgerDivergenceError(block.height));
      return store.executed(block.height);
    }
    const state = this.execute(block);
    try {
      store.appendCommitted(block, state);
    } catch (err) {
      return this.halt(err instanceof Error ? err : new Error(String(err)));
    }
    this.opts.metrics?.commits.inc();
    this.opts.metrics?.committedHeight.set(block.height);
    this.opts.metrics?.committedCommands.inc(block.payload.length);
    return state;
  }

  /** Applies a committed block's requests to the application and settles their waiters. */
  private execute(block: Block): ExecutedState {
    const commands = block.payload.map((bytes) => {
      try {
        return decodeRequest(bytes).command;
      } catch {
        // Committed but not a request: it commits as MALFORMED in the app, never skipped.
        return bytes;
      }
    });
    const outcome = this.app.applyBlock(commands);
    block.payload.forEach((bytes, k) => {
      const key = bytesToHex(requestId(bytes));
      const waiter = this.waiting.get(key);
      if (!waiter) return;
      this.waiting.delete(key);
      const result = outcome.results[k]!;
      waiter.resolve({ height: block.height, position: outcome.firstPosition + k, result, resultName: resultName(result) });
    });
    return { height: block.height, blockId: block.id, stateRoot: outcome.stateRoot, logRoot: outcome.logRoot };
  }

  private halt(err: Error): undefined {
    this.fatal = err;
    this.opts.logger?.fatal({ err: err.message }, 'stopping: the ledger cannot be trusted to continue');
    this.stop();
    return undefined;
  }
}
