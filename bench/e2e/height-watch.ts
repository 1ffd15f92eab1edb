/**
 * Watches a validator's committed height during a measured window, so the report can tell a
 * chain that stopped committing from clients that saw a long gap while it committed (a gap
 * between replies can be latency: commands waiting in queues while blocks commit others). One
 * poll at a time, every `everyMs`, until stopped; a poll that fails counts as no change.
 */
export interface HeightWatch {
  /**
   * Stops polling; resolves with the times (performance.now()) at which a higher height was
   * first seen, and how many polls were answered.
   */
  stop(): Promise<{ increases: number[]; answered: number }>;
}

export function watchHeight(read: () => Promise<number | undefined>, everyMs: number, maxMs: number): HeightWatch {
  const increases: number[] = [];
  let answered = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const started = performance.now();
  const loop = (async () => {
    let last: number | undefined;
    // Bounded in time as well as by stop(): a caller that never stops it cannot leave it running.
    while (!stopped && performance.now() - started < maxMs) {
      const h = await read().catch(() => undefined);
      if (h !== undefined && last !== undefined && h > last) increases.push(performance.now());
      if (h !== undefined) {
        answered++;
        last = Math.max(last ?? h, h);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, everyMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      return { increases, answered };
    },
  };
}
