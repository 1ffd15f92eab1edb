import type { ConsensusMessage } from '../../../node/consensus/messages.js';
import type { SafetyState, SafetyStorage } from '../../../node/consensus/safety-rules.js';
import type { Block, ExecutedState } from '../../../protocol/types.js';
import type { ConsensusTransport, LedgerStore, SyncAnswer } from '../../../node/runtime/ports.js';
import type { ValidatorNode } from '../../../node/runtime/validator-node.js';

/** Fake: the ledger in memory; it survives a node "restart" because the test keeps it. */
export class FakeLedgerStore implements LedgerStore {
  private saved: SafetyState | null = null;
  private readonly ledger: { block: Block; executed: ExecutedState }[] = [];
  safetyStorage(): SafetyStorage {
    return {
      load: () => this.saved,
      store: (s) => {
        this.saved = s;
      },
    };
  }
  committedHeight(): number {
    return this.ledger.length;
  }
  appendCommitted(block: Block, executed: ExecutedState): void {
    if (block.height !== this.ledger.length + 1) throw new Error(`append of height ${block.height} after ${this.ledger.length}`);
    this.ledger.push({ block, executed });
  }
  block(height: number): Block | undefined {
    return this.ledger[height - 1]?.block;
  }
  blocks(from: number, to: number): Block[] {
    return this.ledger.slice(Math.max(0, from - 1), Math.max(0, to)).map((e) => e.block);
  }
  executed(height: number): ExecutedState | undefined {
    return this.ledger[height - 1]?.executed;
  }
}

/**
 * Fake network: delivers asynchronously (setImmediate) between nodes in one process; a node
 * marked down neither sends nor receives, as if its link were cut.
 */
export class FakeNetwork {
  readonly nodes: (ValidatorNode | undefined)[] = [];
  readonly down = new Set<number>();
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
            resolve(peer && !this.down.has(to) && !this.down.has(self) ? peer.serveSync(fromHeight) : undefined);
          }),
        ),
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
