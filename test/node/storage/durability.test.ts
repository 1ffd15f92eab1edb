import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bytesEqual } from '../../../crypto/bytes.js';
import { genesisBlockId } from '../../../protocol/block.js';
import { NodeStore } from '../../../node/storage/lmdb-store.js';
import { CHAIN_ID, executedFor, votedFor } from './fixtures.js';

const CHILD = fileURLToPath(new URL('./durability-child.js', import.meta.url));

interface KillResult {
  readonly openedAt: number;
  readonly lastDurable: number;
}

/**
 * Runs the child until it has reported `steps` durable steps, then SIGKILLs it by pid while it
 * is still writing. Resolves with the last height it reported durable.
 */
function runAndKill(dir: string, steps: number): Promise<KillResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let openedAt = -1;
    let lastDurable = -1;
    let seen = 0;
    let killed = false;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (killed) return; // lines after the kill was sent are not counted as reported
      const [word, n] = line.split(' ');
      if (word === 'open') openedAt = Number(n);
      else if (word === 'durable') {
        const h = Number(n);
        assert.equal(h, (seen === 0 ? openedAt : lastDurable) + 1, 'child reports heights in order');
        lastDurable = h;
        if (++seen === steps) {
          killed = true;
          assert.ok(child.pid !== undefined && process.kill(child.pid, 'SIGKILL'));
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve({ openedAt, lastDurable });
      else reject(new Error(`child exited with ${code ?? signal} before ${steps} steps: ${stderr}`));
    });
  });
}

/** Everything in the store must form one valid chain from genesis to its committed height. */
function checkConsistent(store: NodeStore): void {
  const top = store.committedHeight();
  let parent = genesisBlockId(CHAIN_ID);
  const blocks = store.blocks(1, top);
  assert.equal(blocks.length, top, 'committed heights are contiguous');
  blocks.forEach((b, i) => {
    assert.equal(b.height, i + 1);
    assert.ok(bytesEqual(b.parentQc.vote.blockId, parent), `block ${b.height} extends block ${b.height - 1}`);
    assert.deepEqual(store.executed(b.height), executedFor(b));
    parent = b.id;
  });
}

describe('storage/durability across kill -9', function () {
  this.timeout(120_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsmr-kill-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every step the child reported durable, over repeated kills', async () => {
    let expectedFloor = 0;
    for (const steps of [40, 1, 75, 13, 120]) {
      const { openedAt, lastDurable } = await runAndKill(dir, steps);
      assert.equal(openedAt, expectedFloor, 'the child resumed from the recovered height');
      const store = NodeStore.open(dir, { chainId: CHAIN_ID });
      try {
        const top = store.committedHeight();
        // The kill may land after the next append but before its line: one more block is allowed.
        assert.ok(top >= lastDurable, `committed ${top} < reported ${lastDurable}`);
        checkConsistent(store);
        const safety = store.safetyStorage().load();
        assert.ok(safety !== null);
        assert.ok(safety.lastVotedRound >= lastDurable, `safety round ${safety.lastVotedRound} < reported ${lastDurable}`);
        // Safety is written after its block, so it names the top block or the one below it.
        assert.ok(safety.lastVotedRound === top || safety.lastVotedRound === top - 1);
        assert.deepEqual(safety, votedFor(store.block(safety.lastVotedRound)!));
        expectedFloor = top;
      } finally {
        await store.close();
      }
    }
  });
});
