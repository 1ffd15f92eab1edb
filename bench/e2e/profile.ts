/**
 * CPU breakdown from V8 `.cpuprofile` files, without instrumenting the node.
 *
 * Each sample's leaf frame is attributed to a category by walking up its stack to the first
 * frame whose script URL (or, for the special roots, function name) a rule recognises: a native
 * leaf (a blst pairing, a socket write) so lands on the JS that called it. Samples inside the
 * measured window count only.
 *
 * V8 samples wall-clock time: a thread that is preempted by another process mid-function is still
 * sampled in that function, and on a busy 2-core machine that inflates sampled time. So the
 * profile gives the *shares* of busy time; the CPU seconds come from the kernel (/proc utime +
 * stime of the whole process over the same window) and are split across categories in
 * proportion. Idle samples ("(idle)", piscina workers parked in Atomics.wait) are not busy time.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NATIVE_FROM_MAIN } from './proc-usage.js';

export const CATEGORIES = [
  'bls',
  'ed25519-validation',
  'hashing-merkle',
  'encode-decode',
  'messaging',
  'storage',
  'execution',
  'consensus-logic',
  'observability',
  'node-runtime',
  'gc',
  'v8-background',
  'libuv-pool',
  'profiler',
  'other-threads',
  'unattributed',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** What each category holds, for the report. */
export const CATEGORY_NOTES: Readonly<Record<Category, string>> = {
  bls: "BLS sign / verify / aggregate: crypto/bls, crypto/qc, bls-certs, validation/bls-job, @chainsafe/blst, @noble/curves, and blst's own thread pool (threads named MainThread that are not the main thread; CPU from /proc)",
  'ed25519-validation': 'client request checks: validation/ (stateless check, pool dispatch, mempool), crypto/ed25519, sodium-native signatures, piscina',
  'hashing-merkle': 'crypto/hash (with libsodium crypto_hash*, counted under ed25519 before 2026-11-26), crypto/merkle, node/app/state-tree, node/app/log, @noble/hashes',
  'encode-decode': 'network/codec, protocol/ encoders and decoders, node/storage/codec',
  messaging: 'network/host, p2p-transport, libp2p, gossipsub, noise, yamux, it-*, uint8arraylist, protons, multiformats, wasm (noise cipher)',
  storage: 'node/storage (LMDB store), lmdb',
  execution: 'node/app/kv-app and the rest of node/app (application execution)',
  'consensus-logic': 'node/consensus (replica core, safety rules, certificates glue), node/runtime/validator-node',
  observability: 'pino logs, prom-client metrics, node/observability',
  'node-runtime': "Node's own JS with no project or package frame on the stack (timers, event targets, streams)",
  gc: 'V8 garbage collector',
  'v8-background': "V8's background threads (V8Worker, DelayedTaskSche): concurrent GC marking and sweeping, optimizing compilation; their CPU from /proc, as no profile samples them",
  'libuv-pool': "libuv's thread pool (libuv-worker): asynchronous file system work; CPU from /proc",
  profiler: "the CPU profiler's own threads (v8:ProfEvntProc, one per isolate): the measurement's cost, absent from unprofiled points; CPU from /proc",
  'other-threads': 'any other thread no profile samples, and threads that exited during the window: not counted as covered',
  unattributed: '(program): native time outside any JS frame, and frames no rule matches',
};

interface Rule {
  readonly test: RegExp;
  /** When present, the frame's function name must match too. */
  readonly fn?: RegExp;
  readonly category: Category;
}

// Order matters only among rules that could match the same URL (more specific first).
const RULES: readonly Rule[] = [
  { test: /validation\/bls-job\.js|crypto\/bls\/|crypto\/qc\/|node\/consensus\/bls-certs\.js|@chainsafe\/blst|@noble\/curves/, category: 'bls' },
  // libsodium also does the project's small-input SHA-256 (crypto/hash.ts): hashing, not ed25519.
  { test: /sodium-native/, fn: /crypto_hash/, category: 'hashing-merkle' },
  { test: /crypto\/ed25519\/|sodium-native|\/validation\/|node_modules\/piscina/, category: 'ed25519-validation' },
  { test: /crypto\/hash\.js|crypto\/merkle\.js|node\/app\/state-tree\.js|node\/app\/log\.js|@noble\/hashes/, category: 'hashing-merkle' },
  { test: /network\/codec\.js|\/protocol\/|node\/storage\/codec\.js/, category: 'encode-decode' },
  { test: /node\/storage\/|node_modules\/lmdb|node_modules\/msgpackr/, category: 'storage' },
  { test: /node\/app\//, category: 'execution' },
  { test: /node\/consensus\/|node\/runtime\/validator-node\.js/, category: 'consensus-logic' },
  { test: /node\/observability\/|node_modules\/(pino|prom-client|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free|safe-stable-stringify|tdigest|bintrees)/, category: 'observability' },
  {
    test: /network\/|node\/runtime\/p2p-transport\.js|node\/runtime\/launch\.js|node_modules\/(@libp2p|libp2p|@chainsafe\/(libp2p|as-|netmask)|it-|uint8arraylist|uint8arrays|protons-runtime|@multiformats|multiformats|main-event|p-queue|p-event|race-signal|race-event|abort-error|progress-events|any-signal|weald|@noble\/ciphers|denque|@leichtgewicht|datastore|interface-datastore|mortice|get-iterator|byte-access|@achingbrain)|wasm:\/\//,
    category: 'messaging',
  },
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export type Breakdown = Record<Category, number>;

export function emptyBreakdown(): Breakdown {
  return Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Breakdown;
}

/** Category of a stack (leaf first), or 'idle'. */
function classify(stack: readonly ProfileNode[]): Category | 'idle' {
  const leaf = stack[0]!.callFrame.functionName;
  if (leaf === '(idle)') return 'idle';
  if (leaf === '(garbage collector)') return 'gc';
  if (leaf === '(program)') return 'unattributed';
  let sawNodeInternal = false;
  for (const n of stack) {
    const { url, functionName } = n.callFrame;
    // A piscina worker parked until the next task: waiting, not working.
    if (functionName === 'atomicsWaitLoop' && url.includes('piscina')) return 'idle';
    if (url === '') continue;
    if (url.startsWith('node:')) {
      sawNodeInternal = true;
      continue;
    }
    for (const r of RULES) if (r.test.test(url) && (r.fn === undefined || r.fn.test(functionName))) return r.category;
  }
  return sawNodeInternal ? 'node-runtime' : 'unattributed';
}

/** Busy sampled microseconds per category inside [fromUs, toUs] (V8 monotonic microseconds = hrtime / 1000). */
export function profileBusy(profile: CpuProfile, fromUs: number, toUs: number): { busy: Breakdown; idleUs: number } {
  const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Category | 'idle'>();
  const categoryOf = (id: number): Category | 'idle' => {
    let c = memo.get(id);
    if (c === undefined) {
      const stack: ProfileNode[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!);
      c = classify(stack);
      memo.set(id, c);
    }
    return c;
  };
  const busy = emptyBreakdown();
  let idleUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    // A sample stands for the interval up to the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t > toUs || dt <= 0) continue;
    const c = categoryOf(profile.samples[i]!);
    if (c === 'idle') idleUs += dt;
    else busy[c] += dt;
  }
  return { busy, idleUs };
}

export interface ProcessBreakdown {
  /** CPU seconds of the process in the window, split by the busy-sample shares. */
  readonly cpu: Breakdown;
  readonly cpuSeconds: number;
  /** Busy sampled seconds (all threads): above cpuSeconds when the machine was oversubscribed. */
  readonly sampledBusySeconds: number;
  readonly threads: number;
}

/** The V8 thread id in a profile's file name (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile): 0 is the main thread. */
export function profileThreadId(file: string): number | undefined {
  const parts = file.split('.');
  const id = Number(parts[parts.length - 3]);
  return parts.length >= 7 && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/** The category of a thread no profile samples, by its kernel name. */
export function helperThreadCategory(name: string): Category {
  // blst's own thread pool (proc-usage.ts NATIVE_FROM_MAIN): pairings for aggregate checks.
  if (name === NATIVE_FROM_MAIN) return 'bls';
  if (name === 'V8Worker' || name === 'DelayedTaskSche') return 'v8-background';
  if (name === 'v8:ProfEvntProc') return 'profiler';
  if (name === 'libuv-worker') return 'libuv-pool';
  return 'other-threads';
}

/**
 * Reads every .cpuprofile under `dir` (one per JavaScript thread of one process) and splits the
 * process's `cpuSeconds` over the categories. With `threads` (the CPU of the main thread and of
 * the worker threads, from /proc), each answers for its own: the main profile's shares are
 * applied to the main thread's CPU, the worker profiles' shares to the workers', and the other
 * threads' CPU (`helpers`, by kernel thread name) to what those threads are: V8's background
 * threads, libuv's pool, the profiler, or other-threads. Without it,
 * every profile's shares are applied to the whole process, which spreads the helpers' CPU over
 * the named categories in proportion.
 */
export async function processBreakdown(
  dir: string,
  fromUs: number,
  toUs: number,
  cpuSeconds: number,
  threads?: { readonly mainSeconds: number; readonly workersSeconds: number; readonly helpers: Readonly<Record<string, number>> },
): Promise<ProcessBreakdown> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const main = emptyBreakdown();
  const workers = emptyBreakdown();
  for (const f of files) {
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile;
    const r = profileBusy(p, fromUs, toUs);
    const into = profileThreadId(f) === 0 ? main : workers;
    for (const c of CATEGORIES) into[c] += r.busy[c];
  }
  const sum = (b: Breakdown) => CATEGORIES.reduce((a, c) => a + b[c], 0);
  const mainBusy = sum(main);
  const workersBusy = sum(workers);
  const cpu = emptyBreakdown();
  const sampledBusySeconds = (mainBusy + workersBusy) / 1e6;
  if (threads === undefined) {
    // No thread readings: every profile's shares of the whole process. With no usable profile at
    // all (the process was killed before writing it), all of its CPU is unattributed.
    if (mainBusy + workersBusy === 0) cpu.unattributed = cpuSeconds;
    else for (const c of CATEGORIES) cpu[c] = (cpuSeconds * (main[c] + workers[c])) / (mainBusy + workersBusy);
    return { cpu, cpuSeconds, sampledBusySeconds, threads: files.length };
  }
  const mainCpu = Math.min(threads.mainSeconds, cpuSeconds);
  const workersCpu = Math.min(threads.workersSeconds, cpuSeconds - mainCpu);
  // A main thread whose profile is missing (the process wrote the workers' and was killed
  // before its own) answers for nothing named.
  if (mainBusy > 0) for (const c of CATEGORIES) cpu[c] = (mainCpu * main[c]) / mainBusy;
  else cpu.unattributed += mainCpu;
  // Workers that ran but left no profile samples in the window: their CPU is not ours to name.
  if (workersBusy > 0) for (const c of CATEGORIES) cpu[c] += (workersCpu * workers[c]) / workersBusy;
  else cpu.unattributed += workersCpu;
  // The other threads by name, as far as the process's CPU goes; what no live thread accounts
  // for (threads that exited, rounding) is other-threads.
  let left = Math.max(0, cpuSeconds - mainCpu - workersCpu);
  for (const [name, seconds] of Object.entries(threads.helpers)) {
    const take = Math.min(Math.max(0, seconds), left);
    cpu[helperThreadCategory(name)] += take;
    left -= take;
  }
  cpu['other-threads'] += left;
  return { cpu, cpuSeconds, sampledBusySeconds, threads: files.length };
}
