/**
 * A validator process's CPU and scheduling counters from Linux /proc: user and kernel CPU of all
 * its threads (/proc/<pid>/stat), and of each live thread with its name
 * (/proc/<pid>/task/<tid>/stat), and the context switches of each live thread
 * (/proc/<pid>/task/<tid>/status). Kernel time and switches are what the V8 profiles cannot
 * see: a thread woken to take one hand-off, or a core handed between 4 processes and their
 * validation threads, costs scheduler work that no JavaScript frame is charged with.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ is 100 on every mainstream build). */
export const CLOCK_TICKS = 100;

export interface ProcessUsage {
  /** User-mode CPU seconds of all the process's threads, exited ones included. */
  readonly userSeconds: number;
  /** Kernel-mode CPU seconds of all the process's threads, exited ones included. */
  readonly systemSeconds: number;
  /**
   * User plus kernel CPU seconds of the main thread alone (/proc/<pid>/task/<pid>/stat): the one
   * the main profile samples, so its categories can be scaled by its own CPU and not the process's.
   */
  readonly mainThreadSeconds: number;
  /**
   * The same for the live worker threads (JS isolates started with worker_threads, which the
   * kernel knows by their name, WORKER_THREAD_NAME): what their profiles account for. The rest of
   * the process (V8's helper threads, libuv, the profiler) is neither.
   */
  readonly workerThreadsSeconds: number;
  /** CPU seconds of the live threads by name (the kernel's comm: MainThread, WorkerThread, V8Worker, v8:ProfEvntProc, libuv-worker, ...). */
  readonly byThreadName: Readonly<Record<string, number>>;
  /** The live threads by thread id: name and CPU seconds. A window's per-thread figures come from these (usageDelta). */
  readonly threads: Readonly<Record<string, { readonly name: string; readonly seconds: number }>>;
  /** Voluntary context switches (a thread blocked: a wait, a read, an fsync) summed over live threads. */
  readonly voluntarySwitches: number;
  /** Involuntary ones (a thread preempted while it could run: more runnable threads than cores). */
  readonly involuntarySwitches: number;
}

export class ProcUsageParseError extends Error {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`cannot read ${source}: ${detail}`);
    this.name = 'ProcUsageParseError';
  }
}

/** What Node names a worker_threads thread that was given no name (piscina gives none). */
export const WORKER_THREAD_NAME = 'WorkerThread';
/**
 * The name recorded for a thread the kernel calls MainThread that is not the main thread: a
 * native library's thread, started from the main thread and inheriting its name. In a vsmr
 * validator that is blst's thread pool (it starts one per core on its first aggregate check; a
 * probe of @chainsafe/blst and lmdb showed only blst doing so).
 */
export const NATIVE_FROM_MAIN = 'MainThread (native)';

/** The command name (field 2 of proc(5)) of a /proc/<pid>/stat line: for a thread, its name. */
export function parseProcStatName(text: string): string {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new ProcUsageParseError('stat', 'no command name');
  return text.slice(open + 1, close);
}

/** utime and stime (fields 14 and 15 of proc(5)) of a /proc/<pid>/stat line, in seconds. */
export function parseProcStat(text: string): { userSeconds: number; systemSeconds: number } {
  // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) throw new ProcUsageParseError('stat', 'no command name');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field k sits at rest[k - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isSafeInteger(utime) || !Number.isSafeInteger(stime) || utime < 0 || stime < 0) {
    throw new ProcUsageParseError('stat', `utime ${rest[11]} stime ${rest[12]}`);
  }
  return { userSeconds: utime / CLOCK_TICKS, systemSeconds: stime / CLOCK_TICKS };
}

/** voluntary_ctxt_switches and nonvoluntary_ctxt_switches of a /proc/<pid>/task/<tid>/status text. */
export function parseContextSwitches(text: string): { voluntary: number; involuntary: number } {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s*(\\d+)\\s*$`, 'm').exec(text);
    if (m === null) throw new ProcUsageParseError('status', `no ${name}`);
    return Number(m[1]);
  };
  return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
}

const isGone = (err: unknown): boolean => {
  const code = (err as { code?: unknown })?.code;
  return code === 'ENOENT' || code === 'ESRCH';
};

/**
 * Reads the counters of process `pid`. A thread that ends between the listing and its read is
 * skipped; one that ended earlier takes its switches with it (vsmr's threads live as long as
 * their process, so within a run the sums only grow).
 */
export async function readProcessUsage(pid: number, procRoot = '/proc'): Promise<ProcessUsage> {
  const { userSeconds, systemSeconds } = parseProcStat(await readFile(`${procRoot}/${pid}/stat`, 'utf8'));
  let mainThreadSeconds = 0;
  let workerThreadsSeconds = 0;
  const byThreadName: Record<string, number> = {};
  const threads: Record<string, { name: string; seconds: number }> = {};
  let voluntarySwitches = 0;
  let involuntarySwitches = 0;
  for (const tid of await readdir(`${procRoot}/${pid}/task`)) {
    let text: string;
    let stat: string;
    try {
      stat = await readFile(`${procRoot}/${pid}/task/${tid}/stat`, 'utf8');
      text = await readFile(`${procRoot}/${pid}/task/${tid}/status`, 'utf8');
    } catch (err) {
      if (isGone(err)) continue;
      throw err;
    }
    const cpu = parseProcStat(stat);
    const seconds = cpu.userSeconds + cpu.systemSeconds;
    const comm = parseProcStatName(stat);
    const name = comm === 'MainThread' && tid !== String(pid) ? NATIVE_FROM_MAIN : comm;
    byThreadName[name] = (byThreadName[name] ?? 0) + seconds;
    threads[tid] = { name, seconds };
    if (tid === String(pid)) mainThreadSeconds = seconds;
    else if (name === WORKER_THREAD_NAME) workerThreadsSeconds += seconds;
    const s = parseContextSwitches(text);
    voluntarySwitches += s.voluntary;
    involuntarySwitches += s.involuntary;
  }
  return { userSeconds, systemSeconds, mainThreadSeconds, workerThreadsSeconds, byThreadName, threads, voluntarySwitches, involuntarySwitches };
}

/**
 * Counters over a window: `after` minus `before`, per field. The per-thread figures go thread by
 * thread: a thread that started in the window counts whole, and one that ended in it is in no
 * per-thread figure (its CPU is still in the process's, for the caller to call other threads),
 * so no per-thread figure goes negative when a thread is replaced.
 */
export function usageDelta(before: ProcessUsage, after: ProcessUsage): ProcessUsage {
  const threads: Record<string, { name: string; seconds: number }> = {};
  const byThreadName: Record<string, number> = {};
  let workerThreadsSeconds = 0;
  for (const [tid, t] of Object.entries(after.threads)) {
    const was = before.threads[tid];
    const seconds = Math.max(0, t.seconds - (was !== undefined && was.name === t.name ? was.seconds : 0));
    threads[tid] = { name: t.name, seconds };
    byThreadName[t.name] = (byThreadName[t.name] ?? 0) + seconds;
    if (t.name === WORKER_THREAD_NAME) workerThreadsSeconds += seconds;
  }
  // The main thread is the one whose id is the process's: the same at both edges.
  const mainThreadSeconds = Math.max(0, after.mainThreadSeconds - before.mainThreadSeconds);
  return {
    userSeconds: after.userSeconds - before.userSeconds,
    systemSeconds: after.systemSeconds - before.systemSeconds,
    mainThreadSeconds,
    workerThreadsSeconds,
    byThreadName,
    threads,
    voluntarySwitches: after.voluntarySwitches - before.voluntarySwitches,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
  };
}
