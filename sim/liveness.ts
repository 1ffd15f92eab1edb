import type { Violation } from './invariants.js';

/**
 * Liveness after GST: a command submitted at honest round s must be committed by every honest
 * live replica by round max(s, GST round) + bound. Before GST (a fault still scheduled or
 * active, or lossy links) nothing is promised, so nothing is checked.
 */
export class LivenessTracker {
  /** Command -> honest round at submission, while some honest live replica lacks it. */
  private readonly outstanding = new Map<string, number>();
  private gst: number | undefined;
  private maxAfterGst: number | undefined;

  constructor(private readonly boundRounds: number) {}

  get gstRound(): number | undefined {
    return this.gst;
  }

  get pending(): number {
    return this.outstanding.size;
  }

  setGst(round: number | undefined): void {
    this.gst = round;
  }

  submitted(command: string, round: number): void {
    this.outstanding.set(command, round);
  }

  /** Forgets commands every replica in `live` has committed, noting how long they took after GST. */
  prune(live: readonly number[], hasCommitted: (replica: number, command: string) => boolean, round?: number): void {
    for (const [cmd, at] of this.outstanding) {
      if (!live.every((i) => hasCommitted(i, cmd))) continue;
      this.outstanding.delete(cmd);
      if (round !== undefined && this.gst !== undefined) this.maxAfterGst = Math.max(this.maxAfterGst ?? 0, round - Math.max(at, this.gst));
    }
  }

  /**
   * Forgets the commands `isLost` says no replica keeps durably (a total outage: every replica
   * down, so the mempools are gone). Nothing promises those: a real client resubmits a request
   * it got no receipt for, and the simulator's client does not. Returns how many.
   */
  forgetLost(isLost: (command: string) => boolean): number {
    let n = 0;
    for (const cmd of [...this.outstanding.keys()]) {
      if (!isLost(cmd)) continue;
      this.outstanding.delete(cmd);
      n++;
    }
    return n;
  }

  /** Most rounds a command took to commit everywhere, from max(submission, GST); undefined before any. */
  get maxRoundsAfterGst(): number | undefined {
    return this.maxAfterGst;
  }

  /** The first overdue command at honest round `round`, if any. */
  check(round: number): Violation | undefined {
    if (this.gst === undefined) return undefined;
    for (const [cmd, at] of this.outstanding) {
      const deadline = Math.max(at, this.gst) + this.boundRounds;
      if (round > deadline) {
        return { invariant: 'liveness', detail: `command ${JSON.stringify(cmd.slice(0, 40))} submitted in round ${at} (GST round ${this.gst}) not committed everywhere by round ${deadline}` };
      }
    }
    return undefined;
  }

  /** At the end of a run that reached GST: whatever is still outstanding was never committed. */
  final(round: number): Violation | undefined {
    if (this.gst === undefined || this.outstanding.size === 0) return undefined;
    const [cmd, at] = this.outstanding.entries().next().value!;
    return {
      invariant: 'liveness',
      detail: `${this.outstanding.size} command(s) never committed by every honest live replica (first: ${JSON.stringify(cmd.slice(0, 40))}, submitted in round ${at}, GST round ${this.gst}, run ended at round ${round})`,
    };
  }
}
