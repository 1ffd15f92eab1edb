import assert from 'node:assert/strict';
import { SubmitSession, SubmitSessionError } from '../../client/session.js';
import type { NetworkHost, Session } from '../../network/host.js';
import { Result, resultName } from '../../protocol/result.js';
import { encodeSessionReplies } from '../../protocol/submit-session.js';
import type { SubmitReply } from '../../protocol/submit-reply.js';

/** A fake host whose sessions record what is sent and let the test answer with any frame. */
function fakeHost() {
  const sessions: { onFrame: (bytes: Uint8Array) => void; sent: Uint8Array[]; closed: boolean }[] = [];
  const host = {
    openSession: async (_peer: string, _protocol: string, onFrame: (bytes: Uint8Array) => void): Promise<Session> => {
      const s = { onFrame, sent: [] as Uint8Array[], closed: false };
      sessions.push(s);
      const listeners: (() => void)[] = [];
      return {
        send: (bytes) => {
          if (s.closed) return false;
          s.sent.push(bytes);
          return true;
        },
        onClose: (l) => {
          if (s.closed) l();
          else listeners.push(l);
        },
        get closed() {
          return s.closed;
        },
        close: async () => {
          s.closed = true;
          for (const l of listeners.splice(0)) l();
        },
      };
    },
  };
  return { host: host as unknown as NetworkHost, sessions };
}

const committed: SubmitReply = { status: 'committed', height: 3, position: 4, result: Result.OK, resultName: resultName(Result.OK) };

/** Waits until the session client has sent `n` frames (its submit opens the session first). */
async function sentFrames(sessions: ReturnType<typeof fakeHost>['sessions'], n: number): Promise<void> {
  for (let i = 0; i < 1000 && (sessions[0]?.sent.length ?? 0) < n; i++) await new Promise((r) => setImmediate(r));
  assert.equal(sessions[0]?.sent.length, n);
}

describe('client/session.ts: the submit-session client', () => {
  it('takes the reply at index 0 of its tag as the answer to its one request', async () => {
    const { host, sessions } = fakeHost();
    const sc = new SubmitSession(host, 'validator');
    const reply = sc.submit(Uint8Array.of(1, 2, 3), 5_000);
    await sentFrames(sessions, 1);
    sessions[0]!.onFrame(encodeSessionReplies({ tag: 0, indices: [0], replies: [committed] }));
    assert.deepEqual(await reply, committed);
    await sc.close();
  });

  it('ends the session, failing its waits, on a reply about an index its one-request frame does not have', async () => {
    for (const indices of [[5], [0, 1]]) {
      const { host, sessions } = fakeHost();
      const sc = new SubmitSession(host, 'validator');
      const reply = sc.submit(Uint8Array.of(1, 2, 3), 5_000);
      await sentFrames(sessions, 1);
      sessions[0]!.onFrame(encodeSessionReplies({ tag: 0, indices, replies: indices.map(() => committed) }));
      await assert.rejects(reply, (err: unknown) => err instanceof SubmitSessionError && /indices/.test(err.message), `indices ${indices}`);
      for (let i = 0; i < 1000 && !sessions[0]!.closed; i++) await new Promise((r) => setImmediate(r));
      assert.equal(sessions[0]!.closed, true, 'the session is closed');
      await sc.close();
    }
  });
});
