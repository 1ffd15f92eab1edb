import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { integerFlag } from './flag-parsers.js';
import { UsageError } from './usage-error.js';
import { BLS_BACKEND_NAMES, type BlsBackendName } from '../../crypto/bls/types.js';
import { QC_KINDS, type QcKind } from '../../crypto/qc/types.js';
import { MIN_COMMAND_BYTES } from '../../bench/e2e/load.js';
import { runE2e } from '../../bench/e2e/run.js';
import { compareVariants, formatSummary, lastFlagValue, sameFlags, splitFlags } from '../../bench/compare.js';
import { maxValidationWorkers } from '../config/validation-workers.js';

/** This checkout: dist/node/cli is three levels below it. */
const ROOT = resolve(import.meta.dirname, '..', '..', '..');

interface E2eFlags {
  replicas: number;
  batch: number;
  duration: number;
  clients?: number;
  outstanding: number;
  commandBytes: number;
  unsigned?: boolean;
  bls: BlsBackendName;
  qc: QcKind;
  profile: boolean;
  floors: boolean;
  quick?: boolean;
  json?: boolean;
  maxPending?: number;
  validationWorkers?: number;
  forgedClients?: number;
  greedyOutstanding?: number;
}

/** The flags of `vsmr bench e2e`, on `cmd`: the command itself, and the check `compare` runs on each variant's flags before any run. */
function withE2eOptions(cmd: Command): Command {
  return cmd
    .option('--replicas <n>', 'validators', integerFlag('--replicas', 1, 16), 4)
    .option('--batch <b>', 'most commands per block', integerFlag('--batch', 1, 10_000), 100)
    .option('--duration <s>', 'measured seconds of load (after a short warm-up)', integerFlag('--duration', 1, 600), 10)
    .option('--clients <c>', 'closed-loop clients (default: enough to fill a block, at most 256)', integerFlag('--clients', 1, 4096))
    .option('--outstanding <k>', 'commands in flight per client', integerFlag('--outstanding', 1, 256), 4)
    .option('--command-bytes <b>', 'bytes per command, 8..1024 (a padded put; below 13 bytes its key narrows to fit)', integerFlag('--command-bytes', MIN_COMMAND_BYTES, 1024), 128)
    .option('--unsigned', 'ordering only: replicas skip request signature checks (started with --unsafe-unsigned)')
    .addOption(new Option('--bls <backend>', 'BLS backend of the validators').choices([...BLS_BACKEND_NAMES]).default('blst'))
    .addOption(new Option('--qc <scheme>', 'quorum certificates of the cluster (vsmr genesis --qc)').choices([...QC_KINDS]).default('multisig'))
    .option('--max-pending <n>', "each validator's mempool bound (config maxPendingRequests; default the node's)", integerFlag('--max-pending', 1, 10_000_000))
    .option('--validation-workers <k>', "each validator's validation worker threads (config validationWorkers; default floor(cores / replicas), none below 2 cores each; 0 checks on the main thread)", integerFlag('--validation-workers', 0, maxValidationWorkers()))
    .option('--forged-clients <f>', 'clients flooding the validators with forged requests beside the load (random signatures under a real key; a cut one comes back as a new peer)', integerFlag('--forged-clients', 0, 64))
    .option('--greedy-outstanding <k>', 'one more client, under one key, keeping about k valid requests in flight (rounded up to whole sessions of at most 1,024, at least one per validator) beside the load (a client hogging the mempool; reported apart, commits counted only when their result is OK)', integerFlag('--greedy-outstanding', 1, 65_536))
    .option('--no-profile', 'run without the CPU profiler (no breakdown)')
    .option('--no-floors', 'skip the messaging and crypto floors')
    .option('--quick', 'shorter warm-up and floor measurements')
    .option('--json', 'print one JSON object');
}

/** `vsmr bench e2e`: one end-to-end benchmark point on a fresh loopback cluster (see bench/e2e/run.ts); `vsmr bench compare`. */
export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('benchmarks (the full matrix and report: npm run bench)');
  withE2eOptions(
    bench.command('e2e').description('end-to-end: N validator processes on loopback under closed-loop load, CPU breakdown, floors'),
  )
    .action(async (opts: E2eFlags) => {
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const clients = opts.clients ?? Math.min(256, Math.max(opts.replicas, Math.ceil((2 * opts.batch) / opts.outstanding)));
        const r = await runE2e({
          replicas: opts.replicas,
          batch: opts.batch,
          durationS: opts.duration,
          clients,
          outstanding: opts.outstanding,
          commandBytes: opts.commandBytes,
          unsigned: opts.unsigned === true,
          bls: opts.bls,
          qc: opts.qc,
          noProfile: !opts.profile,
          noFloors: !opts.floors,
          quick: opts.quick === true,
          ...(opts.maxPending === undefined ? {} : { maxPendingRequests: opts.maxPending }),
          ...(opts.validationWorkers === undefined ? {} : { validationWorkers: opts.validationWorkers }),
          ...(opts.forgedClients === undefined ? {} : { forgedClients: opts.forgedClients }),
          ...(opts.greedyOutstanding === undefined ? {} : { greedyOutstanding: opts.greedyOutstanding }),
          signal: abort.signal,
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          const top = Object.entries(r.breakdown)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${v}s`)
            .join(', ');
          process.stdout.write(
            `e2e: n=${r.replicas} batch=${r.batch} ${r.unsigned ? 'unsigned' : 'signed'} ${r.commandBytes} B, ${r.clients}x${r.outstanding} in flight, ${r.bls}, ${r.qc} QCs: ` +
              `${r.throughput} commands/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.commandsPerBlock} commands/block\n` +
              `  CPU ${r.cpuSeconds} s (${r.cpuMsPerCommand} ms/command; named categories ${(r.breakdownCoverage * 100).toFixed(0)}%): ${top}\n` +
              `  validation ceiling ${r.validationCeiling}/s (${(r.fractionOfValidationCeiling * 100).toFixed(1)}%)` +
              (r.cryptoFloor ? `, crypto floor ${r.cryptoFloorAtMeasuredBlocks ?? r.cryptoFloor.commandsPerSec}/s (${((r.fractionOfCryptoFloor ?? 0) * 100).toFixed(1)}%)` : '') +
              (r.messagingFloor ? `, messaging floor ${r.messagingFloor.relayCommandsPerSec}/s per core (${((r.fractionOfMessagingFloor ?? 0) * 100).toFixed(1)}% of x${r.machine.cores})` : '') +
              `\n` +
              (r.forgery ? `  forged flood: ${r.forgery.attackers} attackers, ${r.forgery.sent} forged requests sent, ${r.forgery.identities} identities, ${r.forgery.cut} cut, ${r.forgery.cpuSeconds ?? '?'} s of its own CPU; answers ${JSON.stringify(r.forgery.answers)}\n` : '') +
              (r.greedy ? `  greedy client (${r.greedy.outstanding} in flight under one key): ${r.greedy.throughput} commands/s, p50 ${r.greedy.p50Ms} ms, ${r.greedy.submitted} submitted; answers ${JSON.stringify(r.greedy.refusals)}, lost ${JSON.stringify(r.greedy.failures)}\n` : ''),
          );
        }
        process.exitCode = r.committed > 0 && r.agreed ? 0 : 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  bench
    .command('compare')
    .description('two variants of one e2e point, run alternately on this machine: medians and ranges of each, and B over A')
    .argument('[e2eFlags...]', 'vsmr bench e2e flags both variants share, after --')
    .option('--runs <n>', 'runs of each variant (A, B, B, A, A, B, ...: each pair in turn reversed)', integerFlag('--runs', 1, 20), 3)
    .option('--a <flags>', 'vsmr bench e2e flags of variant A only, in one argument', '')
    .option('--b <flags>', 'vsmr bench e2e flags of variant B only, in one argument', '')
    .option('--a-root <dir>', "variant A runs this checkout's bin/vsmr.js (built), to compare builds", ROOT)
    .option('--b-root <dir>', "variant B runs this checkout's bin/vsmr.js (built)", ROOT)
    .option('--run-timeout <s>', 'stop a run (all its processes) and count it failed after this long; default the window plus 180 s', integerFlag('--run-timeout', 1, 3600))
    .option('--json', 'print one JSON object (every run, the summary, the failures)')
    .addHelpText('after', '\nExample: vsmr bench compare --runs 3 --b "--validation-workers 2" -- --batch 400 --clients 8 --outstanding 16 --duration 5')
    .action(async (e2eFlags: string[], opts: { runs: number; a: string; b: string; aRoot: string; bRoot: string; runTimeout?: number; json?: boolean }) => {
      const common = e2eFlags;
      const a = splitFlags(opts.a);
      const b = splitFlags(opts.b);
      // Each run is a process group of its own, stopped whole: POSIX process groups.
      if (process.platform === 'win32') throw new UsageError('needs POSIX process groups (Linux or macOS)');
      const roots: string[] = [];
      for (const [name, root] of [['--a-root', opts.aRoot], ['--b-root', opts.bRoot]] as const) {
        // A checkout's bin/vsmr.js is source; what it runs is the build in dist/.
        if (!existsSync(join(root, 'bin', 'vsmr.js')) || !existsSync(join(root, 'dist', 'node', 'cli', 'main.js'))) {
          throw new UsageError(`${name} ${resolve(root)} is not a built checkout (no bin/vsmr.js or no dist/node/cli/main.js: run npm ci there)`);
        }
        roots.push(realpathSync(root));
      }
      const [aRoot, bRoot] = roots as [string, string];
      if (aRoot === bRoot && sameFlags(a, b)) {
        throw new UsageError('--a and --b run the same flags on the same build: nothing to compare');
      }
      // A bad flag would otherwise surface run by run, after the other variant's clusters ran.
      // Only this build's flags are known here: a variant on another checkout is left to its own.
      for (const [name, root, flags] of [['A', aRoot, a], ['B', bRoot, b]] as const) {
        if (root !== realpathSync(ROOT)) continue;
        const bad = e2eFlagsProblem([...common, ...flags]);
        if (bad !== undefined) {
          throw new UsageError(`variant ${name}'s e2e flags: ${bad}`);
        }
      }
      const abort = new AbortController();
      // The run in flight leads a group of its own (out of reach of the terminal's signals):
      // whatever ends this process ends that group too.
      const live = new Set<number>();
      const killLive = () => {
        for (const pid of live) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
      };
      // The first signal stops the run in flight cleanly (and no more start); a second does not wait.
      const onSignal = () => {
        if (abort.signal.aborted) killLive();
        else abort.abort();
      };
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      for (const sig of signals) process.on(sig, onSignal);
      process.on('exit', killLive);
      try {
        // The longer variant's window, as its e2e command will read it (the last --duration wins).
        const windowS = Math.max(...[a, b].map((v) => Number(lastFlagValue([...common, ...v], '--duration') ?? 10) || 10));
        const r = await compareVariants({
          runs: opts.runs,
          common,
          a: { flags: a, root: aRoot },
          b: { flags: b, root: bRoot },
          // Start-up, warm-up and drain besides the window: a run is a few tens of seconds.
          runTimeoutMs: (opts.runTimeout ?? windowS + 180) * 1000,
          // A cluster stops in seconds; a short run timeout is a test's, and its grace is as short.
          graceMs: Math.min(30_000, (opts.runTimeout ?? 30) * 1000),
          signal: abort.signal,
          live,
          onRun: (run) => {
            if (opts.json) return;
            process.stderr.write(run instanceof Error ? `${run.message}\n` : `${run.variant.toUpperCase()}: ${run.throughput}/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ${run.cpuMsPerCommand} ms CPU/command\n`);
          },
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ common, a: { flags: a, root: aRoot }, b: { flags: b, root: bRoot }, runs: r.runs, failures: r.failures.map((f) => f.message), summary: r.summary })}\n`);
        } else {
          process.stdout.write(formatSummary(r.summary));
          for (const f of r.failures) process.stdout.write(`${f.message}\n`);
        }
        process.exitCode = r.failures.length === 0 && !abort.signal.aborted ? 0 : 1;
      } finally {
        for (const sig of signals) process.off(sig, onSignal);
        process.off('exit', killLive);
        killLive();
      }
    });
}

/** What `vsmr bench e2e` would refuse in `flags` (its message), or undefined if it takes them. */
function e2eFlagsProblem(flags: readonly string[]): string | undefined {
  const probe = withE2eOptions(new Command('e2e'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .action(() => undefined);
  try {
    probe.parse([...flags], { from: 'user' });
    return undefined;
  } catch (err) {
    return err instanceof CommanderError ? err.message.replace(/^error: /, '') : String(err);
  }
}
