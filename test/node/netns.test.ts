import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { NodeStatus } from '../../node/observability/http.js';

/**
 * Four validators on four "hosts": Linux network namespaces that this test creates, each with
 * its own address on a private subnet, wired to one bridge that lives in a fifth namespace (the
 * "switch"). Nothing is added to the root namespace: no bridge, no address, no route, so the
 * subnet cannot reach or shadow anything outside. The cluster is built the way operators on
 * separate machines build it (docs/DEPLOY.md): `vsmr keygen --address` per host, `vsmr genesis
 * --from` the public files, a hand-written config.json per host, `vsmr start` on each host,
 * `vsmr status` and `vsmr client submit` run inside the namespaces.
 *
 * Needs root and iproute2; elsewhere the suite is skipped with the reason printed. Every
 * process is started here and stopped by its PID in after(), which then deletes the namespaces
 * (and with them the veth pairs and the bridge), whether or not the tests passed.
 */
const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'bin', 'vsmr.js');
const NODE = process.execPath;
const N = 4;
/** The same ports on every host: each namespace has its own port space, as separate machines do. */
const P2P_PORT = 26600;
const METRICS_PORT = 26700;
const PROBE = `const r = await fetch('http://127.0.0.1:${METRICS_PORT}/status', { signal: AbortSignal.timeout(2000) }); process.stdout.write(await r.text());`;
/**
 * Short, so the rounds the cut host leads time out quickly. While the chain is idle every round
 * times out, and the pacemaker doubles its timer per timeout without a QC up to 64x the base, so
 * when the cut finds the chain idle, the three connected validators can wait up to two such
 * timers (the round whose votes go to the cut host, then the round it leads) before the next QC:
 * 2 * 64 * 200 ms = 25.6 s. The load deadline below allows for that.
 */
const BASE_TIMEOUT_MS = 200;

/** What a validator serves on /status. */
type Status = NodeStatus;

interface SubmitSummary {
  submitted: number;
  committed: number;
  rejected: number;
  timedOut: number;
  failed: number;
}

function findIp(): string | undefined {
  return ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('validators on four hosts (Linux network namespaces)', function () {
  this.timeout(240_000);

  const ip = findIp() ?? 'ip';
  const tag = randomBytes(3).toString('hex');
  const switchNs = `vsmr-${tag}-sw`;
  const bridge = `vsmrbr${tag}`;
  const hostNs = Array.from({ length: N }, (_, i) => `vsmr-${tag}-h${i}`);
  /** The switch-side end of host i's veth pair (inside the switch namespace). */
  const port = (i: number) => `p${i}`;
  // 10.A.B.0/24 with random A, B: it exists only inside these namespaces.
  const subnet = `10.${randomInt(100, 250)}.${randomInt(0, 256)}`;
  const address = (i: number) => `${subnet}.${11 + i}`;
  const createdNs: string[] = [];
  const procs: (ChildProcess | undefined)[] = [];
  const logFiles: string[] = [];
  let dir: string | undefined;
  /** Set when a test fails, or when before() started validators but did not finish: dump their logs. */
  let failed = false;

  const ipRun = async (...args: string[]) => (await run(ip, args, { timeout: 10_000 })).stdout;
  const home = (i: number) => join(dir!, `host-${i}`, 'vsmr');

  /**
   * Host i's status, read on host i itself: the HTTP server listens on that namespace's
   * loopback. Polling uses a bare fetch of the `/status` JSON that `vsmr status --json` prints,
   * because loading the whole CLI costs about 0.8 s of CPU per call, too much to poll four hosts
   * several times a second on a small CI machine; `operatorStatus` runs the real command.
   */
  const status = async (i: number): Promise<Status | undefined> => {
    try {
      const { stdout } = await run(ip, ['netns', 'exec', hostNs[i]!, NODE, '--input-type=module', '-e', PROBE], { timeout: 5_000 });
      return JSON.parse(stdout) as Status;
    } catch {
      return undefined;
    }
  };
  const operatorStatus = async (i: number): Promise<Status> => {
    const { stdout } = await run(ip, ['netns', 'exec', hostNs[i]!, NODE, CLI, 'status', '--home', home(i), '--json'], { timeout: 30_000 });
    return JSON.parse(stdout) as Status;
  };
  const statuses = (hosts: readonly number[]) => Promise.all(hosts.map(status));

  /**
   * `vsmr client submit` run on host `from`, talking to validator `to` on its genesis address.
   * It exits 1 when not every command committed; the summary it printed is returned either way.
   */
  const submit = async (from: number, to: number, count: number): Promise<SubmitSummary> => {
    const args = ['netns', 'exec', hostNs[from]!, NODE, CLI, 'client', 'submit', '--genesis', join(home(from), 'genesis.json'), '--count', String(count), '--to', String(to), '--json'];
    const out = await run(ip, args, { timeout: 60_000 }).catch((err: { code?: unknown; stdout?: string; stderr?: string }) => {
      if (err.code === 1 && err.stdout?.startsWith('{')) return { stdout: err.stdout };
      throw err;
    });
    return JSON.parse(out.stdout) as SubmitSummary;
  };

  /** Polls `cond` every `everyMs` until it holds; fails naming `what` (and the last thing seen) after `ms`. */
  const until = async (what: string, cond: () => Promise<boolean>, ms: number, seen: () => unknown = () => undefined, everyMs = 250) => {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}; last seen: ${JSON.stringify(seen())}`);
      await sleep(everyMs);
    }
  };

  /** True when every host in `hosts` reports the same height, state root and log root. */
  let lastSeen: (Status | undefined)[] = [];
  const agree = async (hosts: readonly number[]) => {
    const all = await statuses(hosts);
    lastSeen = all;
    const first = all[0];
    return first !== undefined && all.every((s) => s !== undefined && s.height === first.height && s.stateRoot === first.stateRoot && s.logRoot === first.logRoot);
  };

  const start = (i: number) => {
    const log = join(dir!, `host-${i}`, 'node.log');
    logFiles[i] = log;
    const fd = openSync(log, 'a');
    // `ip netns exec` enters the namespace and then execs the command, so this PID is node's.
    const child = spawn(ip, ['netns', 'exec', hostNs[i]!, NODE, CLI, 'start', '--home', home(i)], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    procs[i] = child;
    return child;
  };
  const alive = (p: ChildProcess | undefined): p is ChildProcess => p !== undefined && p.exitCode === null && p.signalCode === null;

  before(async function () {
    const skip = (reason: string) => {
      console.log(`      (skipped: ${reason})`);
      this.skip();
    };
    if (process.platform !== 'linux') return skip(`network namespaces need Linux, this is ${process.platform}`);
    if (process.getuid?.() !== 0) return skip('creating network namespaces needs root');
    if (findIp() === undefined) return skip('iproute2 `ip` not found');
    try {
      await ipRun('netns', 'add', switchNs);
      createdNs.push(switchNs);
    } catch (err) {
      return skip(`\`ip netns add\` failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`);
    }

    const t0 = Date.now();
    // The network: a bridge in the switch namespace, one veth pair per host.
    await ipRun('-n', switchNs, 'link', 'add', bridge, 'type', 'bridge');
    await ipRun('-n', switchNs, 'link', 'set', bridge, 'up');
    for (let i = 0; i < N; i++) {
      await ipRun('netns', 'add', hostNs[i]!);
      createdNs.push(hostNs[i]!);
      await ipRun('-n', hostNs[i]!, 'link', 'set', 'lo', 'up');
      // Created inside the switch namespace with its peer directly in the host namespace.
      await ipRun('-n', switchNs, 'link', 'add', port(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostNs[i]!);
      await ipRun('-n', switchNs, 'link', 'set', port(i), 'master', bridge);
      await ipRun('-n', switchNs, 'link', 'set', port(i), 'up');
      await ipRun('-n', hostNs[i]!, 'addr', 'add', `${address(i)}/24`, 'dev', 'eth0');
      await ipRun('-n', hostNs[i]!, 'link', 'set', 'eth0', 'up');
    }
    // Each host sees exactly lo and eth0, and reaches the others only through the bridge.
    const routes = await ipRun('-n', hostNs[0]!, 'route', 'show');
    assert.equal(routes.trim().split('\n').length, 1, `one connected route only, got:\n${routes}`);

    // Operators: keygen on each host, genesis from the public files, config.json by hand.
    dir = await mkdtemp(join(tmpdir(), 'vsmr-netns-'));
    await Promise.all(
      hostNs.map((_, i) => run(NODE, [CLI, 'keygen', '--out', join(home(i), 'keys.json'), '--address', `/ip4/${address(i)}/tcp/${P2P_PORT}`])),
    );
    const assembler = join(dir, 'assembler');
    await mkdir(assembler);
    const pubs: string[] = [];
    for (let i = 0; i < N; i++) {
      pubs.push(join(assembler, `host-${i}.pub.json`));
      await copyFile(join(home(i), 'keys.pub.json'), pubs[i]!);
    }
    const genesis = join(assembler, 'genesis.json');
    await run(NODE, [CLI, 'genesis', '--from', ...pubs, '--out', genesis, '--chain-id', `netns-${tag}`, '--base-timeout-ms', String(BASE_TIMEOUT_MS)]);
    for (let i = 0; i < N; i++) {
      await copyFile(genesis, join(home(i), 'genesis.json'));
      const config = { version: 1, index: i, listen: `/ip4/0.0.0.0/tcp/${P2P_PORT}`, metricsPort: METRICS_PORT, dataDir: 'data', genesis: 'genesis.json', blsBackend: 'blst', logLevel: 'info' };
      await writeFile(join(home(i), 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    }

    failed = true;
    for (let i = 0; i < N; i++) start(i);
    const node = realpathSync(NODE);
    for (const [i, p] of procs.entries()) {
      await until(`host ${i}: PID ${p!.pid} to be the validator itself`, async () => {
        try {
          return realpathSync(`/proc/${p!.pid}/exe`) === node && readFileSync(`/proc/${p!.pid}/cmdline`, 'utf8').includes(CLI);
        } catch {
          return false;
        }
      }, 10_000);
    }
    // Polled slowly: four validators are starting on what may be a 2-core machine.
    await until(
      'every validator to see its 3 peers across the bridge',
      async () => {
        lastSeen = await statuses([0, 1, 2, 3]);
        return lastSeen.every((s) => s !== undefined && s.peers >= N - 1);
      },
      90_000,
      () => lastSeen,
      1000,
    );
    failed = false;
    console.log(`      validators at ${address(0)}..${address(N - 1)} in netns ${hostNs[0]}..${N - 1}, connected ${Date.now() - t0} ms after setup began`);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });

  after(async function () {
    this.timeout(60_000);
    for (const p of procs) if (alive(p)) p.kill('SIGTERM');
    await Promise.all(
      procs.map(async (p) => {
        if (!alive(p)) return;
        const exited = new Promise((r) => p.once('exit', r));
        if ((await Promise.race([exited, sleep(15_000).then(() => 'late')])) === 'late') {
          p.kill('SIGKILL');
          await exited;
        }
      }),
    );
    if (failed) {
      for (const [i, log] of logFiles.entries()) {
        const text = await readFile(log, 'utf8').catch(() => '');
        console.log(`--- host ${i} (${hostNs[i]}) log, last lines ---\n${text.trimEnd().split('\n').slice(-15).join('\n')}`);
      }
    }
    // Anything still running inside our namespaces was started by this test (a status or
    // client command cut off by its timeout): stop it by PID before the namespace goes.
    for (const ns of createdNs) {
      const pids = (await ipRun('netns', 'pids', ns).catch(() => '')).split('\n').filter((s) => /^\d+$/.test(s));
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
    }
    // Deleting a namespace destroys its interfaces: the veth pairs and the bridge go with it.
    for (const ns of createdNs.reverse()) await ipRun('netns', 'del', ns).catch((err: unknown) => console.log(`could not delete netns ${ns}: ${String(err)}`));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('all four hosts commit client commands and agree on height, state root and log root', async () => {
    // The client runs on host 0 and submits to validator 2 on host 2.
    const r = await submit(0, 2, 60);
    assert.equal(r.committed, 60);
    await until('all four to agree at one height', () => agree([0, 1, 2, 3]), 20_000, () => lastSeen);
    assert.ok(lastSeen[0]!.height > 0);
    // What an operator on each host sees: the same height and roots, and its 3 peers.
    for (let i = 0; i < N; i++) {
      const s = await operatorStatus(i);
      assert.deepEqual([s.height, s.stateRoot, s.logRoot], [lastSeen[0]!.height, lastSeen[0]!.stateRoot, lastSeen[0]!.logRoot], `vsmr status on host ${i}`);
      assert.ok(s.peers >= N - 1, `host ${i} has ${s.peers} peers`);
    }
  });

  it("with one host's link cut the other three keep committing; restored, it catches up and agrees", async () => {
    const cut = 3;
    const rest = [0, 1, 2];
    await until('agreement before the cut', () => agree([0, 1, 2, 3]), 20_000, () => lastSeen);
    const before = lastSeen[0]!.height;

    await ipRun('-n', switchNs, 'link', 'set', port(cut), 'down');
    const link = JSON.parse(await ipRun('-n', hostNs[cut]!, '-j', 'link', 'show', 'eth0')) as { flags: string[] }[];
    assert.ok(link[0]!.flags.includes('NO-CARRIER'), `host ${cut} lost its link: ${JSON.stringify(link[0]!.flags)}`);

    // Bounded load from a client on host 0 to validator 1 until the three have committed 3 more
    // blocks. What is asserted is that the height rises. A command may still miss its client's
    // wait (submit answers `timeout` after 30 s, and a loaded CI machine with a round led by the
    // cut host can take that long); such commands are in the pool by then and commit anyway. So a
    // batch only has to be refused nothing.
    const target = before + 3;
    const deadline = Date.now() + 60_000;
    const load = { batches: 0, submitted: 0, committed: 0, failed: 0 };
    let reached = false;
    while (!reached && load.batches < 10 && Date.now() < deadline) {
      const r = await submit(0, 1, 20);
      load.batches++;
      load.submitted += r.submitted;
      load.committed += r.committed;
      load.failed += r.failed + r.timedOut;
      assert.equal(r.rejected, 0, `no command refused: ${JSON.stringify(r)}`);
      const s = await statuses(rest);
      reached = s.every((x) => x !== undefined && x.height >= target);
    }
    assert.ok(reached, `the three reached height ${target} (load: ${JSON.stringify(load)})`);
    await until('the three to agree during the cut', () => agree(rest), 20_000, () => lastSeen);
    const during = lastSeen[0]!;
    const isolated = await status(cut);
    assert.ok(isolated !== undefined, `host ${cut} still answers status on its own loopback`);
    assert.ok(isolated.height < during.height, `cut host at ${isolated.height} stays behind the others at ${during.height}`);

    // Restored: with no further load, it syncs to the height the three reached and has the same roots there.
    await ipRun('-n', switchNs, 'link', 'set', port(cut), 'up');
    const restored = Date.now();
    await until(
      `host ${cut} to catch up to height ${during.height} and agree`,
      async () => (await agree([0, 1, 2, 3])) && lastSeen[0]!.height >= during.height,
      60_000,
      () => lastSeen,
    );
    const caughtUpMs = Date.now() - restored;
    if (lastSeen[0]!.height === during.height) assert.deepEqual([lastSeen[0]!.stateRoot, lastSeen[0]!.logRoot], [during.stateRoot, during.logRoot]);
    // It takes part again: commands submitted to it, by a client on another host, commit on all four.
    assert.equal((await submit(1, cut, 10)).committed, 10);
    await until('all four to agree after the restore', () => agree([0, 1, 2, 3]), 20_000, () => lastSeen);
    assert.ok(lastSeen[0]!.height > during.height);
    console.log(
      `      host ${cut} cut at height ${isolated.height}; the other three went ${before} -> ${during.height} (${load.committed} of ${load.submitted} commands acknowledged in time); link restored, it caught up and agreed in ${caughtUpMs} ms; all four agree at ${lastSeen[0]!.height}`,
    );
  });
});
