import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseContextSwitches, parseProcStat, ProcUsageParseError, readProcessUsage, usageDelta } from '../../bench/e2e/proc-usage.js';

// Fields 3..15 of proc(5): state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime.
const statLine = (comm: string, utime: number, stime: number) => `4242 (${comm}) S 1 4242 4242 0 -1 4194560 900 0 3 0 ${utime} ${stime} 0 0 20 0 7 0\n`;
const status = (vol: number, invol: number) => `Name:\tnode\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t${vol}\nnonvoluntary_ctxt_switches:\t${invol}\n`;

describe('bench/e2e/proc-usage', () => {
  it('reads utime and stime after a command name holding spaces and parentheses', () => {
    assert.deepEqual(parseProcStat(statLine('vsmr (node) 1', 250, 37)), { userSeconds: 2.5, systemSeconds: 0.37 });
  });

  it('refuses a stat line it cannot read, naming it', () => {
    assert.throws(() => parseProcStat('4242 node S 1'), ProcUsageParseError);
    assert.throws(() => parseProcStat('4242 (node) S 1 2 3'), /utime/);
  });

  it('reads both switch counters, and refuses a status without them', () => {
    assert.deepEqual(parseContextSwitches(status(12, 3)), { voluntary: 12, involuntary: 3 });
    assert.throws(() => parseContextSwitches('Name:\tnode\nvoluntary_ctxt_switches:\t1\n'), /nonvoluntary_ctxt_switches/);
  });

  it('sums the switches of every thread and skips one that ended between listing and reading', async () => {
    const root = await mkdtemp(join(tmpdir(), 'vsmr-proc-'));
    try {
      await mkdir(join(root, '4242', 'task', '4242'), { recursive: true });
      await mkdir(join(root, '4242', 'task', '4243'), { recursive: true });
      await mkdir(join(root, '4242', 'task', '4244'), { recursive: true });
      await writeFile(join(root, '4242', 'stat'), statLine('node', 300, 40));
      await mkdir(join(root, '4242', 'task', '4245'), { recursive: true });
      await mkdir(join(root, '4242', 'task', '4246'), { recursive: true });
      // A native library's thread started from the main thread inherits its name.
      await writeFile(join(root, '4242', 'task', '4246', 'stat'), statLine('MainThread', 4, 1));
      await writeFile(join(root, '4242', 'task', '4246', 'status'), status(0, 0));
      await writeFile(join(root, '4242', 'task', '4242', 'stat'), statLine('MainThread', 200, 30));
      await writeFile(join(root, '4242', 'task', '4242', 'status'), status(100, 7));
      // A worker_threads thread and a V8 helper: only the first counts as a worker.
      await writeFile(join(root, '4242', 'task', '4243', 'stat'), statLine('WorkerThread', 50, 5));
      await writeFile(join(root, '4242', 'task', '4243', 'status'), status(20, 5));
      await writeFile(join(root, '4242', 'task', '4245', 'stat'), statLine('V8Worker', 10, 0));
      await writeFile(join(root, '4242', 'task', '4245', 'status'), status(0, 0));
      // 4244 has no stat or status file: the thread is gone.
      const u = await readProcessUsage(4242, root);
      const byThreadName = { MainThread: 2.3, WorkerThread: 0.55, V8Worker: 0.1, 'MainThread (native)': 0.05 };
      const threads = {
        '4242': { name: 'MainThread', seconds: 2.3 },
        '4243': { name: 'WorkerThread', seconds: 0.55 },
        '4245': { name: 'V8Worker', seconds: 0.1 },
        '4246': { name: 'MainThread (native)', seconds: 0.05 },
      };
      assert.deepEqual(u, { userSeconds: 3, systemSeconds: 0.4, mainThreadSeconds: 2.3, workerThreadsSeconds: 0.55, byThreadName, threads, voluntarySwitches: 120, involuntarySwitches: 12 });
      // Before: the worker thread had 0.5 s; a thread 4250 that has since exited had 9 s.
      const before = {
        userSeconds: 1,
        systemSeconds: 0.1,
        mainThreadSeconds: 1,
        workerThreadsSeconds: 9.5,
        byThreadName: { MainThread: 1, WorkerThread: 9.5 },
        threads: { '4242': { name: 'MainThread', seconds: 1 }, '4243': { name: 'WorkerThread', seconds: 0.5 }, '4250': { name: 'WorkerThread', seconds: 9 } },
        voluntarySwitches: 20,
        involuntarySwitches: 2,
      };
      assert.deepEqual(usageDelta(before, u), {
        userSeconds: 2,
        systemSeconds: 0.4 - 0.1,
        mainThreadSeconds: 2.3 - 1,
        workerThreadsSeconds: 0.55 - 0.5,
        // A thread that started in between counts whole, one that exited in none: nothing negative.
        byThreadName: { MainThread: 2.3 - 1, WorkerThread: 0.55 - 0.5, V8Worker: 0.1, 'MainThread (native)': 0.05 },
        threads: {
          '4242': { name: 'MainThread', seconds: 2.3 - 1 },
          '4243': { name: 'WorkerThread', seconds: 0.55 - 0.5 },
          '4245': { name: 'V8Worker', seconds: 0.1 },
          '4246': { name: 'MainThread (native)', seconds: 0.05 },
        },
        voluntarySwitches: 100,
        involuntarySwitches: 10,
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('reads this process from the real /proc (the bench runs on Linux), and its counters only grow', async () => {
    const a = await readProcessUsage(process.pid);
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    assert.ok(x > 0);
    const b = await readProcessUsage(process.pid);
    const d = usageDelta(a, b);
    assert.ok(b.userSeconds > 0 && b.voluntarySwitches > 0, JSON.stringify(b));
    const { byThreadName, threads: _threads, ...totals } = d;
    for (const v of [...Object.values(totals), ...Object.values(byThreadName)]) assert.ok(v >= -1e-9, JSON.stringify(d));
    assert.ok((b.byThreadName['MainThread'] ?? 0) > 0, 'the main thread by its name');
  });
});
