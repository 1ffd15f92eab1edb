import type { CertifiedTip, ConsensusMessage } from '../../../node/consensus/messages.js';
import type { SafetyState, SafetyStorage } from '../../../node/consensus/safety-rules.js';
import type { Block, ExecutedState, QuorumCert } from '../../../protocol/types.js';
import type { ConsensusTransport, LedgerStore, SnapshotChunkAnswer, SyncAnswer } from '../../../node/runtime/ports.js';
import type { ValidatorNode } from '../../../node/runtime/validator-node.js';

/**
 * Fake: the ledger in memory, with the NodeStore's snapshot and pruning rules (simplified); it
 * survives a node "restart" because the test keeps it.
 */
export class FakeLedgerStore implements LedgerStore {
  /** Calls of durably() (outermost and nested), for tests of the runtime's write grouping. */
  groups = 0;

  durably<T>(fn: () => T): T {
    this.groups++;
    return fn();
  }

  private saved: SafetyState | null = null;
  private readonly ledger = new Map<number, { block?: Block; executed: ExecutedState }>();
  private top = 0;
  private lowest = 1;
  private snapshot: { height: number; bytes: Uint8Array } | undefined;
  private qc: QuorumCert | undefined;
  safetyStorage(): SafetyStorage {
    return {
      load: () => this.saved,
      store: (s) => {
        this.saved = s;
      },
    };
  }
  committedHeight(): number {
    return this.top;
  }
  lowestBlockHeight(): number {
    return this.lowest;
  }
  appendCommitted(block: Block, executed: ExecutedState, commitQc?: QuorumCert): void {
    if (block.height !== this.top + 1) throw new Error(`append of height ${block.height} after ${this.top}`);
    this.ledger.set(block.height, { block, executed });
    this.top = block.height;
    this.qc = commitQc;
  }
  block(height: number): Block | undefined {
    return height >= this.lowest ? this.ledger.get(height)?.block : undefined;
  }
  blocks(from: number, to: number): Block[] {
    if (from < this.lowest) throw new Error(`pruned below ${this.lowest}`);
    const out: Block[] = [];
    for (let h = from; h <= Math.min(to, this.top); h++) out.push(this.ledger.get(h)!.block!);
    return out;
  }
  executed(height: number): ExecutedState | undefined {
    return this.ledger.get(height)?.executed;
  }
  commitQc(): QuorumCert | undefined {
    return this.qc;
  }
  private tip: CertifiedTip | undefined;
  /** Calls of saveCertifiedTip, for tests of when the runtime keeps it. */
  tipsSaved = 0;
  saveCertifiedTip(tip: CertifiedTip): void {
    this.tipsSaved++;
    this.tip = tip;
  }
  certifiedTip(): CertifiedTip | undefined {
    return this.tip;
  }
  saveSnapshot(height: number, bytes: Uint8Array): void {
    if (height > this.top || (this.snapshot && height < this.snapshot.height)) throw new Error(`snapshot at ${height}`);
    this.snapshot = { height, bytes };
  }
  latestSnapshot(): { height: number; bytes: Uint8Array } | undefined {
    return this.snapshot;
  }
  pruneBelow(height: number, keepExecuted = 0): number {
    if (!this.snapshot || height > this.snapshot.height) throw new Error(`prune below ${height}`);
    let removed = 0;
    for (let h = this.lowest; h < height; h++) {
      const entry = this.ledger.get(h);
      if (entry?.block !== undefined) removed++;
      if (entry !== undefined) this.ledger.set(h, { executed: entry.executed });
    }
    for (const h of this.ledger.keys()) if (h < height - keepExecuted) this.ledger.delete(h);
    this.lowest = Math.max(this.lowest, height);
    return removed;
  }
  installSnapshot(executed: ExecutedState, bytes: Uint8Array, commitQc?: QuorumCert): void {
    if (executed.height <= this.top) throw new Error(`install at ${executed.height}`);
    this.ledger.clear();
    this.ledger.set(executed.height, { executed });
    this.top = executed.height;
    this.lowest = executed.height + 1;
    this.snapshot = { height: executed.height, bytes };
    this.qc = commitQc;
  }
}

/**
 * Fake network: delivers asynchronously (setImmediate) between nodes in one process; a node
 * marked down neither sends nor receives, as if its link were cut.
 */
export class FakeNetwork {
  readonly nodes: (ValidatorNode | undefined)[] = [];
  readonly down = new Set<number>();
  /** Per node: rewrites the snapshot chunks it serves, to play a lying peer. */
  readonly tamper: ((chunk: SnapshotChunkAnswer) => SnapshotChunkAnswer | undefined)[] = [];
  /** Per node: rewrites the sync answers it serves (undefined: no answer), to play a lying or silent peer. */
  readonly tamperSync: ((answer: SyncAnswer, fromHeight: number) => SyncAnswer | undefined)[] = [];
  /** Per node: snapshot chunks it asked its peers for. */
  readonly snapshotAsks: number[] = [];
  messages = 0;

  transport(self: number): ConsensusTransport {
    return {
      broadcast: (message) => {
        for (let to = 0; to < this.nodes.length; to++) if (to !== self) this.deliver(self, to, message);
      },
      send: (to, message) => this.deliver(self, to, message),
      requestSync: (to, fromHeight) =>
        new Promise<SyncAnswer | undefined>((resolve) =>
          setImmediate(() => {
            const peer = this.nodes[to];
            if (!peer || this.down.has(to) || this.down.has(self)) return resolve(undefined);
            const answer = peer.serveSync(fromHeight);
            resolve(this.tamperSync[to] ? this.tamperSync[to](answer, fromHeight) : answer);
          }),
        ),
      requestSnapshotChunk: (to, height, offset) =>
        new Promise<SnapshotChunkAnswer | undefined>((resolve) => {
          this.snapshotAsks[self] = (this.snapshotAsks[self] ?? 0) + 1;
          setImmediate(() => {
            const peer = this.nodes[to];
            const up = peer && !this.down.has(to) && !this.down.has(self);
            if (!up) return resolve(undefined);
            const chunk = peer.serveSnapshot(height, offset);
            resolve(chunk && this.tamper[to] ? this.tamper[to](chunk) : chunk);
          });
        }),
    };
  }

  private deliver(from: number, to: number, message: ConsensusMessage): void {
    this.messages++;
    setImmediate(() => {
      if (this.down.has(from) || this.down.has(to)) return;
      this.nodes[to]?.deliver(from, message);
    });
  }
}
