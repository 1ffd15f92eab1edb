import { writeJson, benchPath } from './harness.js';
import { runSeed } from '../sim/simulation.js';

/**
 * `npm run bench:sim`: the simulator without faults, fake crypto, 200 rounds, for growing n.
 * Wall time is the real cost of simulating; messages and (estimated) bytes per committed block
 * show the protocol's O(n) steady state.
 */
interface SimBenchRecord {
  n: number;
  rounds: number;
  wallMs: number;
  committedBlocks: number;
  committedCommands: number;
  messagesPerBlock: number;
  bytesPerBlock: number;
  events: number;
  violations: number;
}

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 50 : 200;
const records: SimBenchRecord[] = [];
for (const n of quick ? [4, 16] : [4, 16, 64, 100]) {
  const start = performance.now();
  const r = runSeed({ n, seed: 1, rounds: ROUNDS, crypto: 'fake' });
  const wallMs = Math.round(performance.now() - start);
  records.push({
    n,
    rounds: ROUNDS,
    wallMs,
    committedBlocks: r.committedBlocks,
    committedCommands: r.committedCommands,
    messagesPerBlock: r.messagesPerBlock,
    bytesPerBlock: r.bytesPerBlock,
    events: r.events,
    violations: r.violation ? 1 : 0,
  });
}

const head = ['n', 'rounds', 'wall ms', 'blocks', 'commands', 'msgs/block', 'bytes/block (est.)', 'events', 'violations'];
const rows = records.map((r) => [r.n, r.rounds, r.wallMs, r.committedBlocks, r.committedCommands, r.messagesPerBlock, r.bytesPerBlock, r.events, r.violations].map(String));
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
process.stdout.write(`${[line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`);
await writeJson(benchPath('results', 'sim.json'), {
  note: 'fake crypto, no faults, seed 1; bytes are estimated from message contents (sim/message-size.ts) until the wire codec lands',
  node: process.version,
  records,
});
process.exitCode = records.some((r) => r.violations > 0) ? 1 : 0;
