/**
 * Fault schedule keyed on the honest round (the highest round among honest live replicas):
 * partitions that cut a minority off from round `from` until `to` (the heal), and crashes of
 * replica i from round `from` with a restart at round `to`. Parsing is here too, so the CLI and
 * tests share one grammar: "FROM-TO" and "I@FROM-TO[,I@FROM-TO...]".
 */

export interface PartitionSpec {
  readonly fromRound: number;
  readonly toRound: number;
  /** Replicas on the minority side; default 0..f-1. */
  readonly minority?: readonly number[];
}

export interface CrashSpec {
  readonly replica: number;
  readonly fromRound: number;
  readonly toRound: number;
}

export type FaultTransition =
  | { readonly kind: 'partition'; readonly minority: readonly number[] }
  | { readonly kind: 'heal'; readonly minority: readonly number[] }
  | { readonly kind: 'crash'; readonly replica: number }
  | { readonly kind: 'restart'; readonly replica: number };

type Phase = 'pending' | 'active' | 'done';

export class FaultSchedule {
  private readonly partitions: { spec: PartitionSpec; minority: Set<number>; phase: Phase }[];
  private readonly crashes: { spec: CrashSpec; phase: Phase }[];

  constructor(partitions: readonly PartitionSpec[], crashes: readonly CrashSpec[], defaultMinority: readonly number[]) {
    this.partitions = partitions.map((spec) => ({ spec, minority: new Set(spec.minority ?? defaultMinority), phase: 'pending' }));
    this.crashes = crashes.map((spec) => ({ spec, phase: 'pending' }));
  }

  /** Transitions due at honest round `round`, in a fixed order. */
  update(round: number): FaultTransition[] {
    const out: FaultTransition[] = [];
    for (const p of this.partitions) {
      if (p.phase === 'pending' && round >= p.spec.fromRound) {
        p.phase = 'active';
        out.push({ kind: 'partition', minority: [...p.minority] });
      }
      if (p.phase === 'active' && round >= p.spec.toRound) {
        p.phase = 'done';
        out.push({ kind: 'heal', minority: [...p.minority] });
      }
    }
    for (const c of this.crashes) {
      if (c.phase === 'pending' && round >= c.spec.fromRound) {
        c.phase = 'active';
        out.push({ kind: 'crash', replica: c.spec.replica });
      }
      if (c.phase === 'active' && round >= c.spec.toRound) {
        c.phase = 'done';
        out.push({ kind: 'restart', replica: c.spec.replica });
      }
    }
    return out;
  }

  /** Ends every fault now (drain phase, or a stall): active ones heal, pending ones never start. */
  endAll(): FaultTransition[] {
    const out: FaultTransition[] = [];
    for (const p of this.partitions) {
      if (p.phase === 'active') out.push({ kind: 'heal', minority: [...p.minority] });
      p.phase = 'done';
    }
    for (const c of this.crashes) {
      if (c.phase === 'active') out.push({ kind: 'restart', replica: c.spec.replica });
      c.phase = 'done';
    }
    return out;
  }

  get allDone(): boolean {
    return this.partitions.every((p) => p.phase === 'done') && this.crashes.every((c) => c.phase === 'done');
  }

  get anyActive(): boolean {
    return this.partitions.some((p) => p.phase === 'active') || this.crashes.some((c) => c.phase === 'active');
  }

  isCut(a: number, b: number): boolean {
    for (const p of this.partitions) if (p.phase === 'active' && p.minority.has(a) !== p.minority.has(b)) return true;
    return false;
  }
}

const RANGE = /^(\d+)-(\d+)$/;

/** "FROM-TO" with FROM < TO, both positive integers; throws a message naming the problem. */
export function parseRoundRange(text: string): { fromRound: number; toRound: number } {
  const m = RANGE.exec(text.trim());
  if (!m) throw new Error(`expected FROM-TO (rounds), got ${JSON.stringify(text)}`);
  const fromRound = Number(m[1]);
  const toRound = Number(m[2]);
  if (!Number.isSafeInteger(fromRound) || !Number.isSafeInteger(toRound) || fromRound < 1 || toRound <= fromRound) {
    throw new Error(`expected 1 <= FROM < TO, got ${JSON.stringify(text)}`);
  }
  return { fromRound, toRound };
}

/** "I@FROM-TO" entries, comma separated; replica indices must be < n. */
export function parseCrashSpec(text: string, n: number): CrashSpec[] {
  return text.split(',').map((part) => {
    const at = part.indexOf('@');
    if (at < 0) throw new Error(`expected I@FROM-TO, got ${JSON.stringify(part)}`);
    const idx = part.slice(0, at).trim();
    if (!/^\d+$/.test(idx) || Number(idx) >= n) throw new Error(`replica index must be an integer in [0, ${n - 1}], got ${JSON.stringify(idx)}`);
    return { replica: Number(idx), ...parseRoundRange(part.slice(at + 1)) };
  });
}
