import { availableParallelism } from 'node:os';
import { maxFaulty } from '../crypto/qc/quorum.js';
import { BEHAVIORS, NEEDS_MORE_THAN_F } from '../sim/behaviors/registry.js';
import { runSeeds } from '../sim/run-seeds.js';
import type { SimConfig } from '../sim/simulation.js';
import { benchPath, writeJson } from './harness.js';

/**
 * `npm run adversarial`: every Byzantine behaviour of the simulator against honest replicas,
 * at (n = 4, 1 Byzantine) and (n = 7, 2 Byzantine), i.e. at most f, plus the runs that must
 * fail (more than f colluders). Per row: safety and liveness violations, the worst number of
 * rounds a command took to commit everywhere after GST, and detection (Byzantine messages the
 * honest cores rejected, and equivocation evidence gathered). Writes
 * bench/results/adversarial.json and prints a Markdown table for docs/SIMULATION.md.
 *
 * `npm run soak` runs the same check over many more seeds (SOAK_SEEDS per behaviour, default
 * 2000) at n = 4 with one Byzantine replica, and each again beside two honest restarts
 * (RESTARTS), once with whole ledgers and once with ledgers pruned to their top block and each
 * crash taken in a commit window, and beside all three honest replicas down in one commit window
 * (HONEST_OUTAGE), and beside a replica that catches up by snapshot (SNAPSHOT_CATCH_UP); then twins,
 * byzzfuzz and lying-sync at n = 7 with two replicas far behind (SNAPSHOT_N7); then every replica crashing in the same commit window, with no Byzantine
 * replica. It exits 1 on any violation with its replay.
 */

interface Row {
  behavior: string;
  n: number;
  byzantine: number;
  seeds: number;
  rounds: number;
  extra: string;
  safetyViolations: number;
  livenessViolations: number;
  roundsToCommitAfterGst: number | undefined;
  rejectedFromByzantine: number;
  evidence: number;
  firstViolation: { seed: number; invariant: string; replay: string } | undefined;
  /** Certified snapshots honest replicas installed, and lying ones they refused, over the row's seeds. */
  snapshotInstalls: number;
  snapshotsRefused: number;
  wallMs: number;
}

function replayOf(cfg: Omit<SimConfig, 'seed'>, seed: number): string {
  const crash = (cfg.crashes ?? []).map((c) => ` --crash ${c.replica}@${c.fromRound}-${c.toRound}`).join('');
  const retain = cfg.retainBlocksOnRestart === undefined ? '' : ` --retain-blocks ${cfg.retainBlocksOnRestart}`;
  const window = cfg.crashInCommitWindow ? ' --crash-in-commit-window' : '';
  const drop = cfg.drop === undefined ? '' : ` --drop ${cfg.drop}`;
  const snapshots = cfg.snapshots === undefined ? '' : ` --snapshots ${cfg.snapshots.interval}/${cfg.snapshots.retainBlocks}`;
  const byzantine = (cfg.byzantine ?? 0) > 0 ? ` --byzantine ${cfg.byzantine} --behavior ${cfg.behavior}` : '';
  return `npx vsmr sim --replicas ${cfg.n} --rounds ${cfg.rounds}${byzantine}${drop}${crash}${retain}${snapshots}${window} --seed ${seed}`;
}

function run(cfg: Omit<SimConfig, 'seed'>, seeds: number, firstSeed = 1): Row {
  const start = performance.now();
  const s = runSeeds(cfg, firstSeed, seeds);
  const v = s.violations[0];
  return {
    behavior: cfg.behavior ?? '',
    n: cfg.n,
    byzantine: cfg.byzantine ?? 0,
    seeds,
    rounds: cfg.rounds,
    extra: [
      ...(cfg.crashes ?? []).map((c) => `crash ${c.replica}@${c.fromRound}-${c.toRound}`),
      ...(cfg.retainBlocksOnRestart === undefined ? [] : [`restarts keep ${cfg.retainBlocksOnRestart} blocks below the top`]),
      ...(cfg.crashInCommitWindow ? ['in the commit window'] : []),
      ...(cfg.drop === undefined ? [] : [`${cfg.drop * 100}% drops`]),
      ...(cfg.snapshots === undefined ? [] : [`snapshots every ${cfg.snapshots.interval} keeping ${cfg.snapshots.retainBlocks}`]),
    ].join(' '),
    safetyViolations: s.safetyViolations,
    livenessViolations: s.livenessViolations,
    roundsToCommitAfterGst: s.roundsToCommitAfterGst,
    rejectedFromByzantine: s.rejectedFromByzantine,
    evidence: s.evidence,
    firstViolation: v ? { seed: v.seed, invariant: v.invariant, replay: replayOf(cfg, v.seed) } : undefined,
    snapshotInstalls: s.snapshotInstalls,
    snapshotsRefused: s.snapshotsRefused,
    wallMs: Math.round(performance.now() - start),
  };
}

/** Lying sync answers matter only when someone syncs: an honest replica crashes and catches up. */
function extras(name: string): Partial<SimConfig> {
  return name === 'lying-sync' ? { crashes: [{ replica: 0, fromRound: 5, toRound: 12 }] } : {};
}

/**
 * The soak runs every behaviour a second time beside f + 1 = 2 honest replicas crashing and
 * restarting from their ledgers, overlapping: a commit some replicas saw and then lost with
 * their core must not leave the chain without a quorum that can check its headers, nor a
 * request that only some queues held (the restarted ones lost theirs) go uncommitted.
 */
const RESTARTS: Partial<SimConfig> = {
  crashes: [
    { replica: 0, fromRound: 8, toRound: 14 },
    { replica: 1, fromRound: 10, toRound: 16 },
  ],
};

/**
 * Past the fault model: every honest replica (three at n = 4) down in one commit window and back
 * with ledgers pruned to their top block, with 5% of messages dropped. Nothing can commit while
 * they are down; after it, safety must hold and every command still commit. Found a command
 * committed twice (a restarted core's memory of commits) until it came from the application's log.
 */
const HONEST_OUTAGE: Partial<SimConfig> = {
  crashes: [0, 1, 2].map((replica) => ({ replica, fromRound: 8, toRound: 14 })),
  crashInCommitWindow: true,
  retainBlocksOnRestart: 0,
  drop: 0.05,
};

/**
 * Every replica snapshots each 4 heights and keeps 1 block below: replica 0, down for 22 rounds,
 * comes back to peers that pruned what it needs and installs a certified snapshot; replica 1
 * restarts later over its own pruned ledger.
 */
const SNAPSHOT_N7: Partial<SimConfig> = {
  snapshots: { interval: 3, retainBlocks: 0 },
  crashes: [0, 1].map((replica) => ({ replica, fromRound: 8, toRound: 30 })),
  drop: 0.05,
};

const SNAPSHOT_CATCH_UP: Partial<SimConfig> = {
  snapshots: { interval: 4, retainBlocks: 1 },
  crashes: [
    { replica: 0, fromRound: 8, toRound: 30 },
    { replica: 1, fromRound: 32, toRound: 38 },
  ],
};

function table(rows: readonly Row[]): string {
  const head = ['behaviour', 'n', 'Byzantine (f)', 'seeds', 'safety viol.', 'liveness viol.', 'rounds to commit after GST (max)', 'rejected Byzantine msgs', 'evidence', 'note'];
  const lines = rows.map((r) =>
    [
      r.behavior,
      r.n,
      `${r.byzantine} (${maxFaulty(r.n)})`,
      r.seeds,
      r.safetyViolations,
      r.livenessViolations,
      r.roundsToCommitAfterGst ?? '-',
      r.rejectedFromByzantine,
      r.evidence,
      [r.extra, r.firstViolation ? `first: seed ${r.firstViolation.seed} ${r.firstViolation.invariant}` : ''].filter((x) => x).join('; '),
    ].join(' | '),
  );
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l} |`)].join('\n');
}

const mode = process.argv[2] === 'soak' ? 'soak' : 'report';
const names = [...BEHAVIORS.keys()].filter((b) => !NEEDS_MORE_THAN_F.has(b));
const rows: Row[] = [];

if (mode === 'soak') {
  const seeds = Number(process.env['SOAK_SEEDS'] ?? 2000);
  const rounds = Number(process.env['SOAK_ROUNDS'] ?? 30);
  const only = process.env['SOAK_BEHAVIORS']?.split(' ');
  const configs: Omit<SimConfig, 'seed'>[] = (only ?? names).flatMap((name): Omit<SimConfig, 'seed'>[] => [
    { n: 4, rounds, byzantine: 1, behavior: name, ...extras(name) },
    { n: 4, rounds: Math.max(rounds, 60), byzantine: 1, behavior: name, ...RESTARTS },
    // A snapshot at the top just before the crash, with retainBlocks 0 (the least a ledger
    // holds), and the crash between a commit's step and the commit's own flush.
    { n: 4, rounds: Math.max(rounds, 60), byzantine: 1, behavior: name, ...RESTARTS, retainBlocksOnRestart: 0, crashInCommitWindow: true },
    { n: 4, rounds: Math.max(rounds, 60), byzantine: 1, behavior: name, ...HONEST_OUTAGE },
    { n: 4, rounds: Math.max(rounds, 60), byzantine: 1, behavior: name, ...SNAPSHOT_CATCH_UP },
  ]);
  // At n = 7 two replicas far behind are needed for a quorum once the Byzantine pair stops
  // helping: the case where saving a snapshot before a header covered it stranded them.
  if (only === undefined) {
    for (const behavior of ['twins', 'byzzfuzz', 'lying-sync']) configs.push({ n: 7, rounds: Math.max(rounds, 60), byzantine: 2, behavior, ...SNAPSHOT_N7 });
  }
  // A total outage in one commit window: the committed block is on no ledger, only in the tips.
  if (only === undefined) configs.push({ n: 4, rounds: 60, byzantine: 0, crashes: [0, 1, 2, 3].map((replica) => ({ replica, fromRound: 8, toRound: 14 })), crashInCommitWindow: true });
  for (const cfg of configs) {
    const row = run(cfg, seeds);
    rows.push(row);
    const label = [cfg.behavior, row.extra].filter((x) => x).join(' with ');
    const snapshots = row.snapshotInstalls + row.snapshotsRefused > 0 ? `, ${row.snapshotInstalls} snapshot installs (${row.snapshotsRefused} refused)` : '';
    process.stdout.write(`${label}: ${seeds} seeds, ${row.safetyViolations} safety / ${row.livenessViolations} liveness violations${snapshots}, ${row.wallMs} ms${row.firstViolation ? `; replay: ${row.firstViolation.replay}` : ''}\n`);
  }
  await writeJson(benchPath('results', 'soak.json'), { seedsPerBehavior: seeds, rounds, cpus: availableParallelism(), rows });
  process.exitCode = rows.some((r) => r.safetyViolations + r.livenessViolations > 0) ? 1 : 0;
} else {
  const seeds = Number(process.env['ADVERSARIAL_SEEDS'] ?? 20);
  for (const name of names) {
    for (const [n, b] of [
      [4, 1],
      [7, 2],
    ] as const) {
      rows.push(run({ n, rounds: 30, byzantine: b, behavior: name, ...extras(name) }, seeds));
    }
  }
  // The checker must fail with more than f colluders.
  rows.push(run({ n: 4, rounds: 100, byzantine: 2, behavior: 'twins' }, 100));
  rows.push(run({ n: 7, rounds: 20, byzantine: 3, behavior: 'equivocate-unsafe' }, 10));
  rows.push(run({ n: 4, rounds: 20, byzantine: 2, behavior: 'silent' }, 10));
  const md = table(rows);
  process.stdout.write(`${md}\n`);
  await writeJson(benchPath('results', 'adversarial.json'), { seedsPerRow: seeds, generated: 'npm run adversarial', rows, markdown: md });
  const withinF = rows.filter((r) => r.byzantine <= maxFaulty(r.n));
  const beyondF = rows.filter((r) => r.byzantine > maxFaulty(r.n));
  const ok = withinF.every((r) => r.safetyViolations + r.livenessViolations === 0) && beyondF.every((r) => r.firstViolation !== undefined);
  process.exitCode = ok ? 0 : 1;
}
