import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as lp from 'it-length-prefixed';
import { FrameClock, type FrameTimers } from '../../network/frame-clock.js';

/** Manual time for the clock: nothing fires until the test advances it. */
class FakeTimers implements FrameTimers {
  private t = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  set(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  private readonly deferred: (() => void)[] = [];
  afterPendingInput(fn: () => void): void {
    this.deferred.push(fn);
  }
  /**
   * Lets `ms` pass, firing the timers due. With `inputArrives`, input comes in meanwhile (this
   * side's loop was busy, say) and is delivered before the checks deferred until after pending
   * input: they run at the next `flushDeferred`. Otherwise they run now, as nothing is pending.
   */
  advance(ms: number, inputArrives = false): void {
    this.t += ms;
    for (const [id, p] of [...this.pending]) {
      if (p.at <= this.t) {
        this.pending.delete(id);
        p.fn();
      }
    }
    if (!inputArrives) this.flushDeferred();
  }
  flushDeferred(): void {
    for (const fn of this.deferred.splice(0)) fn();
  }
  /** Milliseconds left on the one armed timer, or undefined when none is armed. */
  armed(): number | undefined {
    assert.ok(this.pending.size <= 1, 'at most one timer armed');
    const [p] = this.pending.values();
    return p === undefined ? undefined : p.at - this.t;
  }
}

interface Pull {
  readonly inFrame: boolean;
  readonly armed: number | undefined;
}

/**
 * Decodes `chunks` through a clock on fake time. Before each chunk arrives the reader "waits"
 * `waitMs[i]` (or its loop stalls `stalledMs[i]`, the chunk arriving meanwhile); each frame takes
 * the reader `handleMs` to handle. Returns what the clock showed at each pull, the frames, and
 * whether it ran late.
 */
async function run(chunks: readonly Uint8Array[], opts: { timeoutMs: number; waitMs?: readonly number[]; stalledMs?: readonly number[]; handleMs?: number }) {
  const timers = new FakeTimers();
  let late = 0;
  const clock = new FrameClock(opts.timeoutMs, () => late++, timers);
  const pulls: Pull[] = [];
  async function* source() {
    for (let i = 0; i < chunks.length; i++) {
      timers.flushDeferred();
      pulls.push({ inFrame: clock.inFrame, armed: timers.armed() });
      timers.advance(opts.waitMs?.[i] ?? 0);
      // This side's loop stalled for this long, and the chunk came in meanwhile.
      if (opts.stalledMs?.[i]) timers.advance(opts.stalledMs[i], true);
      yield chunks[i]!;
    }
  }
  const frames: Uint8Array[] = [];
  try {
    for await (const frame of lp.decode(source(), clock.decodeOptions)) {
      frames.push(new Uint8Array(frame.subarray()));
      timers.advance(opts.handleMs ?? 0);
    }
    timers.flushDeferred();
  } finally {
    clock.stop();
  }
  return { pulls, frames, late, armedAfter: timers.armed() };
}

function encoded(frames: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(frames.map((f) => lp.encode.single(f).subarray()));
}

function cut(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) chunks.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return chunks;
}

describe('network/frame-clock', () => {
  it('is in a frame exactly while one whose length has arrived is partly read, whatever the sizes and cuts', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Sizes on both sides of 128, where the length prefix grows from one byte to two.
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (sizes, cuts) => {
          const frames = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
          const bytes = encoded(frames);
          const chunks = cut(bytes, cuts);
          const { pulls, frames: got, late } = await run(chunks, { timeoutMs: 1000 });
          assert.deepEqual(got, frames);
          assert.equal(late, 0);
          // Independently: where each frame's data starts and ends in the byte stream.
          const spans: { dataAt: number; end: number }[] = [];
          let at = 0;
          for (const f of frames) {
            const prefix = lp.encode.single(f).byteLength - f.length;
            spans.push({ dataAt: at + prefix, end: at + prefix + f.length });
            at += prefix + f.length;
          }
          let received = 0;
          pulls.forEach((pull, i) => {
            // In a frame: its whole length arrived (and it has data to wait for), not yet its end.
            const inFrame = spans.some((sp) => received >= sp.dataAt && received < sp.end);
            assert.equal(pull.inFrame, inFrame, `pull ${i} at byte ${received}`);
            received += chunks[i]!.byteLength;
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cuts a frame whose bytes take longer than the budget from its length to its end', async () => {
    const bytes = encoded([new Uint8Array(100)]);
    const chunks = [bytes.subarray(0, 31), bytes.subarray(31, 61), bytes.subarray(61)];
    // 60 ms for the second part and 39 for the third: 99 of 100.
    const inTime = await run(chunks, { timeoutMs: 100, waitMs: [0, 60, 39] });
    assert.equal(inTime.late, 0);
    assert.equal(inTime.pulls[1]!.armed, 100, 'armed when the frame began');
    const tooSlow = await run(chunks, { timeoutMs: 100, waitMs: [0, 60, 41] });
    assert.equal(tooSlow.late, 1);
  });

  it('does not blame the peer when the rest arrived while this side’s own loop was stalled past the budget', async () => {
    const bytes = encoded([new Uint8Array(100)]);
    const chunks = [bytes.subarray(0, 40), bytes.subarray(40)];
    const stalled = await run(chunks, { timeoutMs: 100, stalledMs: [0, 150] });
    assert.equal(stalled.late, 0);
    assert.equal(stalled.frames.length, 1);
  });

  it('gives every whole frame a fresh budget and never counts the reader’s own time', async () => {
    const a = encoded([new Uint8Array(50)]);
    const b = encoded([new Uint8Array(50)]);
    // Each frame arrives in two parts 80 ms apart (160 ms in all against 100), and the reader
    // spends 10 s handling each frame and 10 s idle between them: nothing is late.
    const chunks = [a.subarray(0, 20), a.subarray(20), b.subarray(0, 20), b.subarray(20)];
    const res = await run(chunks, { timeoutMs: 100, waitMs: [0, 80, 10_000, 80], handleMs: 10_000 });
    assert.equal(res.late, 0);
    assert.equal(res.frames.length, 2);
    assert.equal(res.armedAfter, undefined, 'no timer left behind');
  });

  it('gives a frame that begins while an earlier one’s timer is armed its own whole budget', async () => {
    const a = encoded([new Uint8Array(50)]);
    const b = encoded([new Uint8Array(50)]);
    // A begins at 0 (the timer is set for 100) and ends at 90, when B begins; B ends at 150,
    // 60 after its own start: the timer firing at 100 must move on to B's deadline, not cut it.
    const chunks = [a.subarray(0, 20), Uint8Array.from([...a.subarray(20), ...b.subarray(0, 20)]), b.subarray(20)];
    const res = await run(chunks, { timeoutMs: 100, waitMs: [0, 90, 60] });
    assert.equal(res.late, 0);
    assert.equal(res.frames.length, 2);
    const slow = await run(chunks, { timeoutMs: 100, waitMs: [0, 90, 101] });
    assert.equal(slow.late, 1, 'B itself is still cut when it overruns');
  });

  it('leaves no timer behind when the stream fails half way through a frame and is stopped', async () => {
    const timers = new FakeTimers();
    let late = 0;
    const clock = new FrameClock(100, () => late++, timers);
    const bytes = encoded([new Uint8Array(10), new Uint8Array(50)]);
    let armedAtFailure: number | undefined;
    async function* source() {
      yield bytes.subarray(0, 30);
      // The reader waits for the rest of the second frame when the stream is reset.
      armedAtFailure = timers.armed();
      throw new Error('stream reset');
    }
    const frames: number[] = [];
    await assert.rejects(async () => {
      try {
        for await (const frame of lp.decode(source(), clock.decodeOptions)) frames.push(frame.byteLength);
      } finally {
        clock.stop();
      }
    }, /stream reset/);
    assert.deepEqual(frames, [10]);
    assert.equal(armedAtFailure, 100, 'the clock ran while the frame was partial');
    assert.equal(timers.armed(), undefined, 'and stopped with the stream');
    timers.advance(1000);
    assert.equal(late, 0);
  });

  it('refuses a budget that is not positive', () => {
    assert.throws(() => new FrameClock(0, () => undefined), RangeError);
    assert.throws(() => new FrameClock(Number.NaN, () => undefined), RangeError);
  });
});
