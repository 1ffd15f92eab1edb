import type { Prng } from './prng.js';

export interface LinkModel {
  /** Base one-way latency in virtual ms. */
  readonly delayMs: number;
  /** Uniform extra latency in [0, jitterMs); reordering follows from it. */
  readonly jitterMs: number;
  readonly drop: number;
  readonly dup: number;
}

/**
 * Per-link delivery: returns the delivery delays for one message (none when dropped or cut,
 * two when duplicated). The partition test is the caller's `cut` predicate, so the fault
 * schedule owns topology and this class owns only randomness.
 */
export class Network {
  private lossy = true;

  constructor(
    private readonly model: LinkModel,
    private readonly rng: Prng,
    private readonly cut: (from: number, to: number) => boolean,
  ) {}

  /** After GST links stop losing and duplicating messages; latency stays. */
  stabilise(): void {
    this.lossy = false;
  }

  get isLossy(): boolean {
    return this.lossy && (this.model.drop > 0 || this.model.dup > 0);
  }

  delays(from: number, to: number): number[] {
    if (this.cut(from, to)) return [];
    if (this.lossy && this.rng.chance(this.model.drop)) return [];
    const first = this.latency();
    if (this.lossy && this.rng.chance(this.model.dup)) return [first, this.latency()];
    return [first];
  }

  private latency(): number {
    return this.model.delayMs + this.rng.float() * this.model.jitterMs;
  }
}
