import assert from 'node:assert/strict';

/**
 * Waits until `cond` holds, polling every 10 ms; fails the test, naming `what`, after `ms`. For
 * conditions that real I/O (sockets, processes, timers) makes true later: no fixed sleeps.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
