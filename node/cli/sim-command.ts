import { type Command, InvalidArgumentError, Option } from 'commander';
import { integerFlag, numberFlag } from './flag-parsers.js';
import { maxFaulty } from '../../crypto/qc/quorum.js';
import { BEHAVIORS, parseBehaviors } from '../../sim/behaviors/registry.js';
import { twinsDescription } from '../../sim/behaviors/twins.js';
import { type CrashSpec, type PartitionSpec, parseCrashSpec, parseRoundRange } from '../../sim/faults.js';
import { runSeeds } from '../../sim/run-seeds.js';

interface SimOptions {
  replicas?: number;
  seeds: number;
  seed: number;
  rounds: number;
  drop: number;
  delay: number;
  jitter: number;
  partition?: PartitionSpec;
  crash: string[];
  retainBlocks?: number;
  snapshots?: { interval: number; retainBlocks: number };
  crashInCommitWindow?: boolean;
  byzantine: number;
  behavior?: string;
  realCrypto?: boolean;
  proposalHoldMs: number;
  submitEvery: number;
  json?: boolean;
  listBehaviors?: boolean;
}

function partition(v: string): PartitionSpec {
  try {
    return parseRoundRange(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** INTERVAL/RETAIN: a snapshot every INTERVAL heights, blocks kept RETAIN below it. */
function snapshotPolicy(v: string): { interval: number; retainBlocks: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected INTERVAL/RETAIN, two integers (a snapshot every INTERVAL heights, RETAIN blocks kept below it)');
  const interval = Number(m[1]);
  const retainBlocks = Number(m[2]);
  if (interval < 1 || interval > 1_000_000 || retainBlocks > 1_000_000) throw new InvalidArgumentError('expected INTERVAL in [1, 1000000] and RETAIN in [0, 1000000]');
  return { interval, retainBlocks };
}

function usageError(program: Command, message: string): never {
  program.error(`error: ${message}`, { exitCode: 2, code: 'vsmr.sim.usage' });
}

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('deterministic simulation of the consensus core under faults, with invariant checks')
    .addOption(new Option('--replicas <n>', 'number of replicas (4..256)').argParser(integerFlag('--replicas', 4, 256)))
    .addOption(new Option('--seeds <k>', 'number of seeds to run').argParser(integerFlag('--seeds', 1, 1_000_000)).default(1))
    .addOption(new Option('--seed <s>', 'first seed').argParser(integerFlag('--seed', 0, 0xffff_ffff)).default(1))
    .addOption(new Option('--rounds <r>', 'honest round at which the run ends').argParser(integerFlag('--rounds', 1, 100_000)).default(100))
    .addOption(new Option('--drop <p>', 'per-message drop probability before GST').argParser(numberFlag('--drop', 0, 0.9)).default(0))
    .addOption(new Option('--delay <ms>', 'base one-way latency, virtual ms').argParser(numberFlag('--delay', 0, 60_000)).default(10))
    .addOption(new Option('--jitter <ms>', 'uniform extra latency, virtual ms').argParser(numberFlag('--jitter', 0, 60_000)).default(5))
    .addOption(new Option('--partition <from-to>', 'cut replicas 0..f-1 off from round FROM until round TO').argParser(partition))
    .addOption(
      new Option('--crash <spec>', 'I@FROM-TO: crash replica I at round FROM, restart at TO (repeatable, comma-separated)')
        .argParser((v: string, prev: string[]) => [...prev, v])
        .default([]),
    )
    .addOption(
      new Option('--retain-blocks <n>', "a restarted replica's ledger keeps only its top block and n below it (a node pruned at a snapshot just before its crash)").argParser(
        integerFlag('--retain-blocks', 0, 1_000_000),
      ),
    )
    .addOption(
      new Option(
        '--snapshots <interval/retain>',
        'every replica snapshots each INTERVAL heights and prunes blocks more than RETAIN below; a replica behind installs a peer\'s certified snapshot',
      ).argParser(snapshotPolicy),
    )
    .addOption(
      new Option('--crash-in-commit-window', "each --crash I@FROM-TO takes replica I at its first commit of a block of round FROM or later, before the commit reaches its ledger"),
    )
    .addOption(new Option('--byzantine <b>', 'make the last B replicas Byzantine').argParser(integerFlag('--byzantine', 0, 255)).default(0))
    .addOption(new Option('--behavior <names>', 'Byzantine behaviour(s), comma-separated to compose (see --list-behaviors)'))
    .addOption(new Option('--real-crypto', 'real BLS (blst) certificates instead of the fake ones'))
    .addOption(
      new Option('--proposal-hold-ms <ms>', "leaders hold an idle chain's empty roots-only block this long for commands (the node's emptyProposalHoldMs)")
        .argParser(integerFlag('--proposal-hold-ms', 0, 1000))
        .default(0),
    )
    .addOption(new Option('--submit-every <r>', 'the client submits only in every r-th honest round (above 3 the chain idles between commands)').argParser(integerFlag('--submit-every', 1, 1000)).default(1))
    .addOption(new Option('--json', 'print one JSON object'))
    .addOption(new Option('--list-behaviors', 'list the Byzantine behaviours and exit'))
    .action(function (this: Command, opts: SimOptions) {
      if (opts.listBehaviors) {
        for (const b of BEHAVIORS.values()) process.stdout.write(`${b.name}\t${b.description}\n`);
        process.exitCode = 0;
        return;
      }
      const n = opts.replicas;
      if (n === undefined) usageError(this, "required option '--replicas <n>' not specified");
      let crashes: CrashSpec[] = [];
      try {
        crashes = opts.crash.flatMap((c) => parseCrashSpec(c, n));
      } catch (err) {
        usageError(this, `option '--crash <spec>' argument invalid: ${(err as Error).message}`);
      }
      if (opts.byzantine >= n) usageError(this, `option '--byzantine <b>' must be below --replicas (${n})`);
      if (opts.byzantine > 0 && opts.behavior === undefined) usageError(this, "option '--byzantine <b>' needs '--behavior <names>'");
      if (opts.behavior !== undefined) {
        try {
          parseBehaviors(opts.behavior);
        } catch (err) {
          usageError(this, `option '--behavior <names>' argument invalid: ${(err as Error).message}`);
        }
      }
      const summary = runSeeds(
        {
          n,
          rounds: opts.rounds,
          drop: opts.drop,
          delayMs: opts.delay,
          jitterMs: opts.jitter,
          partitions: opts.partition ? [opts.partition] : [],
          crashes,
          ...(opts.retainBlocks !== undefined ? { retainBlocksOnRestart: opts.retainBlocks } : {}),
          ...(opts.snapshots !== undefined ? { snapshots: opts.snapshots } : {}),
          ...(opts.crashInCommitWindow ? { crashInCommitWindow: true } : {}),
          byzantine: opts.byzantine,
          ...(opts.behavior !== undefined ? { behavior: opts.behavior } : {}),
          crypto: opts.realCrypto ? 'bls' : 'fake',
          emptyProposalHoldMs: opts.proposalHoldMs,
          submitEveryRounds: opts.submitEvery,
        },
        opts.seed,
        opts.seeds,
      );
      // Everything that shapes a run except the seed: a failing seed replays with exactly these.
      const replayArgs = [
        `--replicas ${n}`,
        `--rounds ${opts.rounds}`,
        opts.drop > 0 ? `--drop ${opts.drop}` : '',
        opts.delay !== 10 ? `--delay ${opts.delay}` : '',
        opts.jitter !== 5 ? `--jitter ${opts.jitter}` : '',
        opts.partition ? `--partition ${opts.partition.fromRound}-${opts.partition.toRound}` : '',
        ...opts.crash.map((c) => `--crash ${c}`),
        opts.retainBlocks !== undefined ? `--retain-blocks ${opts.retainBlocks}` : '',
        opts.snapshots !== undefined ? `--snapshots ${opts.snapshots.interval}/${opts.snapshots.retainBlocks}` : '',
        opts.crashInCommitWindow ? '--crash-in-commit-window' : '',
        opts.byzantine > 0 ? `--byzantine ${opts.byzantine} --behavior ${opts.behavior}` : '',
        opts.realCrypto ? '--real-crypto' : '',
        opts.proposalHoldMs > 0 ? `--proposal-hold-ms ${opts.proposalHoldMs}` : '',
        opts.submitEvery !== 1 ? `--submit-every ${opts.submitEvery}` : '',
      ]
        .filter((a) => a !== '')
        .join(' ');
      const replay = (seed: number): string => `npx vsmr sim ${replayArgs} --seed ${seed}`;
      const schedule = (seed: number): string | undefined =>
        opts.byzantine > 0 && opts.behavior?.split(',').includes('twins') ? twinsDescription(seed, n, opts.byzantine) : undefined;
      const violations = summary.violations.map((v) => ({ ...v, replay: replay(v.seed), ...(schedule(v.seed) ? { schedule: schedule(v.seed) } : {}) }));
      if (opts.json) {
        const { results, ...rest } = summary;
        process.stdout.write(`${JSON.stringify({ ...rest, violations, f: maxFaulty(n), perSeed: results.map(({ violation: _v, ...r }) => r) })}\n`);
      } else {
        const s = summary;
        process.stdout.write(
          `vsmr sim: n=${s.replicas} (f=${maxFaulty(n)}${s.byzantine > 0 ? `, ${s.byzantine} Byzantine${s.byzantineExceedsF ? ' > f' : ''}` : ''}), ` +
            `seeds ${s.firstSeed}..${s.firstSeed + s.seeds - 1}, ${s.crypto} crypto\n` +
            `  committed: ${s.committedBlocks} blocks, >= ${s.committedCommands} commands per seed at every honest replica\n` +
            `  traffic: ${s.messagesPerBlock} messages/block, ~${s.bytesPerBlock} bytes/block (estimated)\n` +
            (s.traceHash ? `  trace hash: ${s.traceHash}\n` : '') +
            (s.proposalHolds > 0 ? `  held roots-only proposals: ${s.proposalHolds}\n` : '') +
            (opts.crashInCommitWindow ? `  crashes in the commit window: ${s.commitWindowCrashes}\n` : '') +
            (opts.snapshots !== undefined || opts.retainBlocks !== undefined ? `  snapshot installs: ${s.snapshotInstalls}, refused: ${s.snapshotsRefused}\n` : '') +
            (s.byzantine > 0 ? `  detection: ${s.rejectedFromByzantine} Byzantine messages rejected, ${s.evidence} equivocation evidence\n` : '') +
            `  violations: ${s.safetyViolations} safety, ${s.livenessViolations} liveness\n`,
        );
        for (const v of violations) {
          process.stdout.write(`\nseed ${v.seed}: ${v.invariant} violated at ${v.atMs} ms: ${v.detail}\n  replay: ${v.replay}\n`);
          if (v.schedule) process.stdout.write(`  ${v.schedule}\n`);
          process.stdout.write('  last events:\n');
          for (const line of v.trace) process.stdout.write(`    ${line}\n`);
        }
      }
      process.exitCode = summary.violations.length === 0 ? 0 : 1;
    });
}
