import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const CLI = join(resolve(import.meta.dirname, '..', '..', '..'), 'bin', 'vsmr.js');

/** `vsmr ...` as a child process; rejects with the child's code and stderr. */
export const vsmr = (...args: string[]) => run(process.execPath, [CLI, ...args], { timeout: 60_000 });

/** Runs `vsmr args`, which must fail; returns its exit code and stderr. */
export async function vsmrFails(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await vsmr(...args);
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  return assert.fail(`expected ${args.join(' ')} to fail`);
}

/**
 * N `vsmr start` processes on loopback from `vsmr genesis --validators N` (plus `genesisFlags`),
 * started once every validator sees its N - 1 peers. `stop` ends every process by its PID and
 * removes the directory.
 */
export class LocalCluster {
  private readonly procs: ChildProcess[] = [];
  private readonly metricsPorts: number[] = [];

  private constructor(
    readonly n: number,
    readonly dir: string,
  ) {}

  get genesis(): string {
    return join(this.dir, 'genesis.json');
  }

  home(i: number): string {
    return join(this.dir, `node-${i}`);
  }

  static async start(n: number, genesisFlags: readonly string[] = []): Promise<LocalCluster> {
    const c = new LocalCluster(n, await mkdtemp(join(tmpdir(), 'vsmr-light-')));
    try {
      const basePort = 20_000 + Math.floor(Math.random() * 12_000);
      await vsmr('genesis', '--validators', String(n), '--out', c.dir, '--base-port', String(basePort), ...genesisFlags);
      for (let i = 0; i < n; i++) {
        const config = JSON.parse(await readFile(join(c.home(i), 'config.json'), 'utf8')) as { metricsPort: number };
        c.metricsPorts.push(config.metricsPort);
        c.procs.push(spawn(process.execPath, [CLI, 'start', '--home', c.home(i)], { stdio: ['ignore', 'ignore', 'ignore'] }));
      }
      const deadline = Date.now() + 60_000;
      while (!(await Promise.all(c.metricsPorts.map((_, i) => c.peers(i)))).every((p) => p === n - 1)) {
        if (Date.now() > deadline) assert.fail('validators did not connect');
        await new Promise((r) => setTimeout(r, 100));
      }
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  /** Validator `i`'s metric `name` (the sum of its series; 0 when absent). */
  async metric(i: number, name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPorts[i]}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  private async peers(i: number): Promise<number> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.metricsPorts[i]}/status`, { signal: AbortSignal.timeout(2000) });
      return ((await res.json()) as { peers: number }).peers;
    } catch {
      return -1;
    }
  }

  async stop(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.all(this.procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    await rm(this.dir, { recursive: true, force: true });
  }
}
