import { createHash, type Hash } from 'node:crypto';

/**
 * Per-seed counters and the trace: a SHA-256 over every delivered event (time, from, to, type,
 * round) in delivery order, so two runs agree on the hash exactly when they agree on the
 * schedule; and a ring of the last events, printed with a violation.
 */
export class TraceRecorder {
  private readonly hash: Hash = createHash('sha256');
  private readonly tail: string[] = [];
  private next = 0;

  constructor(private readonly tailSize: number) {}

  delivered(time: number, from: number, to: number, type: string, round: number): void {
    const line = `${time.toFixed(3)} ${from}->${to} ${type} r${round}`;
    this.hash.update(`${line}\n`);
    this.note(line);
  }

  /** Context (faults, phases) for the tail only: not part of the hash. */
  note(line: string): void {
    if (this.tail.length < this.tailSize) this.tail.push(line);
    else this.tail[this.next] = line;
    this.next = (this.next + 1) % this.tailSize;
  }

  lastEvents(): string[] {
    return this.tail.length < this.tailSize ? [...this.tail] : [...this.tail.slice(this.next), ...this.tail.slice(0, this.next)];
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

export interface TrafficCounters {
  /** Point to point: a broadcast counts n - 1. Counted when sent, dropped or not. */
  messages: number;
  /** Estimated (sim/message-size.ts) until the wire codec lands. */
  bytes: number;
  byType: Record<string, number>;
}

export function perBlock(total: number, blocks: number): number {
  return blocks === 0 ? 0 : Math.round((total / blocks) * 100) / 100;
}
