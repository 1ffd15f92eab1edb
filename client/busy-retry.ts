import type { SubmitReply } from '../protocol/submit-reply.js';

/** How a client waits out "busy" answers: a validator's queues are full, nothing is wrong with the request. */
export interface BusyRetryOptions {
  /** performance.now() after which a busy answer is final. */
  readonly deadline: number;
  /** First pause after a busy answer (default 50 ms); it doubles per retry up to `maxBackoffMs`. */
  readonly firstBackoffMs?: number;
  /** Default 1 s. */
  readonly maxBackoffMs?: number;
  /** The clock and the pause; the real ones by default (tests pass fakes). */
  readonly now?: () => number;
  readonly wait?: (ms: number) => Promise<void>;
}

const isBusy = (r: SubmitReply) => r.status === 'ignored' && r.reason === 'busy';

/**
 * Sends one request until the answer is anything but busy, pausing between tries with
 * exponential backoff, so a loaded validator sheds load instead of having it resent at once.
 * The same bytes are resent, so a try that did get in is waited on, not committed twice. A busy
 * answer at the deadline is returned as it is.
 */
export async function submitUntilNotBusy(send: () => Promise<SubmitReply>, opts: BusyRetryOptions): Promise<{ reply: SubmitReply; busyRetries: number }> {
  const now = opts.now ?? (() => performance.now());
  const wait = opts.wait ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxBackoff = opts.maxBackoffMs ?? 1_000;
  let backoff = opts.firstBackoffMs ?? 50;
  let busyRetries = 0;
  for (;;) {
    const reply = await send();
    if (!isBusy(reply)) return { reply, busyRetries };
    const left = opts.deadline - now();
    if (left <= 0) return { reply, busyRetries };
    await wait(Math.min(backoff, left));
    backoff = Math.min(2 * backoff, maxBackoff);
    busyRetries++;
  }
}
