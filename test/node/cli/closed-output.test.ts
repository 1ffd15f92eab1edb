import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLOSED_OUTPUT_EXIT_CODE } from '../../../node/cli/main.js';

// dist/test/node/cli/ -> repository root
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const BIN = resolve(ROOT, 'bin', 'vsmr.js');

/** Runs `vsmr ARGS` with its stdout's reading end closed before the first write, as `| head` does once it has its lines. */
async function runIntoClosedPipe(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stderr };
}

describe('cli: a reader that closes the output early', function () {
  this.timeout(60_000);

  it('ends the command with the closed-pipe status and no stack trace', async () => {
    const r = await runIntoClosedPipe('sim', '--list-behaviors');
    assert.equal(r.stderr, '');
    assert.equal(r.status, CLOSED_OUTPUT_EXIT_CODE);
  });

  it('keeps the failure status a command had already set', async () => {
    // A run past f Byzantine replicas must fail (exit 1), and prints its violation to stdout.
    const r = await runIntoClosedPipe('sim', '--replicas', '4', '--byzantine', '2', '--behavior', 'twins', '--seed', '91', '--rounds', '100');
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled/);
    assert.equal(r.status, 1);
  });

  it('a devnet whose reader goes away stops its validator processes instead of leaving them running', async function () {
    this.timeout(120_000);
    // Its own process group: every validator it starts is in it, and outlives it only if orphaned.
    const child = spawn(process.execPath, [BIN, 'devnet', '--replicas', '1', '--duration', '60'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.destroy();
    child.stderr.destroy();
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    assert.equal(signal, null, `it ended by itself, well before its 60 s of load (exit ${code})`);
    // Let the group's last members, if any, finish exiting, then look for them.
    const deadline = Date.now() + 10_000;
    while (groupAlive(child.pid!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const orphaned = groupAlive(child.pid!);
    if (orphaned) process.kill(-child.pid!, 'SIGKILL');
    assert.equal(orphaned, false, 'no validator process of the devnet is left running');
  });
});

/** Whether any process of the group `pgid` is still running. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
