import assert from 'node:assert/strict';
import { submitUntilNotBusy } from '../../client/busy-retry.js';
import type { SubmitReply } from '../../protocol/submit-reply.js';

const busy: SubmitReply = { status: 'ignored', reason: 'busy' };
const committed: SubmitReply = { status: 'committed', height: 3, position: 7, result: 0, resultName: 'OK' };

/** A fake clock that moves only when the code under test waits on it. */
function fakeClock() {
  let t = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    wait: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
  };
}

/** A fake validator that gives these answers in turn, counting what it was sent. */
function fakeSend(answers: SubmitReply[]) {
  let sent = 0;
  return {
    get sent() {
      return sent;
    },
    send: async () => answers[Math.min(sent++, answers.length - 1)]!,
  };
}

describe('client: waiting out busy answers', () => {
  it('resends after each busy answer with doubling pauses, up to the cap, and returns the first other answer', async () => {
    const clock = fakeClock();
    const v = fakeSend([busy, busy, busy, busy, busy, committed]);
    const r = await submitUntilNotBusy(v.send, { deadline: 10_000, firstBackoffMs: 50, maxBackoffMs: 300, ...clock });
    assert.deepEqual(r, { reply: committed, busyRetries: 5 });
    assert.equal(v.sent, 6);
    assert.deepEqual(clock.waits, [50, 100, 200, 300, 300]);
  });

  it('returns any other answer at once, a rejection or a timeout included', async () => {
    for (const answer of [committed, { status: 'rejected', reason: 'bad-signature' }, { status: 'ignored', reason: 'replayed' }, { status: 'timeout' }] as SubmitReply[]) {
      const clock = fakeClock();
      const v = fakeSend([answer]);
      assert.deepEqual(await submitUntilNotBusy(v.send, { deadline: 10_000, ...clock }), { reply: answer, busyRetries: 0 });
      assert.equal(v.sent, 1);
      assert.deepEqual(clock.waits, []);
    }
  });

  it('gives up at the deadline with the busy answer, never pausing past it', async () => {
    const clock = fakeClock();
    const v = fakeSend([busy]);
    const r = await submitUntilNotBusy(v.send, { deadline: 1_000, firstBackoffMs: 50, maxBackoffMs: 1_000, ...clock });
    assert.deepEqual(r.reply, busy);
    assert.equal(clock.now(), 1_000, 'the last pause ends exactly at the deadline');
    assert.deepEqual(clock.waits, [50, 100, 200, 400, 250]);
    assert.equal(r.busyRetries, clock.waits.length);
    assert.equal(v.sent, clock.waits.length + 1);
  });
});
