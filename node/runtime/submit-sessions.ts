/**
 * Serves `submit-session` (protocol/submit-session.ts): a client's requests arrive as tagged
 * frames on one long-lived stream, and each request is answered on it as soon as it settles:
 * refused or busy at once, committed when its block is durable here. Replies settled in the same
 * tick (a block's commit settles all of its requests at once) leave as one frame per tag.
 *
 * Bounds: a session may have MAX_SESSION_OUTSTANDING requests waiting for their commit and
 * MAX_SESSION_FRAMES frames open; a frame past either is answered busy whole, so the replies a
 * session is owed, and the state kept for it, stay bounded whatever the client sends. A frame
 * reusing the tag of one still open is refused (count 0). When the session ends, its waiters are
 * cancelled: the requests still commit, but nobody here is told.
 */
import type { NetworkHost, Session } from '../../network/host.js';
import { decodeRequestBatch, MAX_BATCH_BYTES, RequestBatchDecodeError } from '../../protocol/request-batch.js';
import { decodeSessionRequests, encodeSessionReplies, SubmitSessionDecodeError } from '../../protocol/submit-session.js';
import type { SubmitReply } from '../../protocol/submit-reply.js';
import type { Verdict } from '../../validation/verdict.js';
import { type CommitOutcome, isReceipt } from './validator-node.js';

/** A session frame is a u32 tag and one request batch: a larger one ends the session. */
const MAX_SESSION_FRAME_BYTES = 4 + MAX_BATCH_BYTES;

/** Requests one session may have waiting for their commit at once. */
export const MAX_SESSION_OUTSTANDING = 8192;
/** Frames one session may have open (not yet fully answered) at once. */
export const MAX_SESSION_FRAMES = 1024;

export interface SubmitSessionsOptions {
  /** ValidatorNode.submit for `from`'s requests: a verdict per request and, for accepted ones, the commit to wait for. */
  readonly submit: (from: string, requests: readonly Uint8Array[]) => Promise<{ verdict: Verdict; committed?: Promise<CommitOutcome>; cancel?: () => void }[]>;
  /** A frame from `from` that does not decode: what no honest client sends. */
  readonly onMalformed?: (from: string) => void;
  /** The queue that is full now, if any (back-pressure: the whole frame is answered busy). */
  readonly fullQueue: () => 'validation' | 'mempool' | undefined;
  readonly onBusy: (queue: 'validation' | 'mempool' | 'session', requests: number) => void;
  /** The requests of a frame that were accepted (relay them, remember them for compact proposals). */
  readonly onAccepted: (requests: readonly Uint8Array[]) => void;
  /** How long a request waits for its commit before it is answered `timeout`. */
  readonly waitMs: number;
  /** Our own failure (not the client's): logged by the caller. */
  readonly onError?: (err: unknown) => void;
}

/** What one session is owed. */
interface SessionState {
  outstanding: number;
  /** Open frames by tag: requests of the frame not yet answered. */
  readonly open: Map<number, number>;
  /** Replies settled in this tick, by tag, sent together at its end. */
  readonly settled: Map<number, { index: number; reply: SubmitReply }[]>;
  flushQueued: boolean;
  /** Cancels the waits of the session's requests still waiting, and their frames' timers (on close). */
  readonly cancels: Set<() => void>;
  readonly timers: Set<NodeJS.Timeout>;
}

const BUSY: SubmitReply = { status: 'ignored', reason: 'busy' };

function verdictReply(v: Verdict): SubmitReply {
  return v.kind === 'reject' ? { status: 'rejected', reason: v.reason } : { status: 'ignored', reason: v.kind === 'ignore' ? v.reason : 'accepted' };
}

export function serveSubmitSessions(host: NetworkHost, opts: SubmitSessionsOptions): void {
  const states = new WeakMap<Session, SessionState>();

  const stateOf = (session: Session): SessionState => {
    let s = states.get(session);
    if (s === undefined) {
      const state: SessionState = { outstanding: 0, open: new Map(), settled: new Map(), flushQueued: false, cancels: new Set(), timers: new Set() };
      states.set(session, state);
      session.onClose(() => {
        for (const cancel of state.cancels) cancel();
        state.cancels.clear();
        for (const timer of state.timers) clearTimeout(timer);
        state.timers.clear();
      });
      s = state;
    }
    return s;
  };

  const flush = (session: Session, s: SessionState) => {
    s.flushQueued = false;
    try {
      for (const [tag, entries] of s.settled) {
        entries.sort((a, b) => a.index - b.index);
        session.send(encodeSessionReplies({ tag, indices: entries.map((e) => e.index), replies: entries.map((e) => e.reply) }));
      }
    } catch (err) {
      // Ours, not the client's (the replies are our own values): the session cannot go on.
      opts.onError?.(err);
      void session.close();
    } finally {
      s.settled.clear();
    }
  };

  /** Queues the reply of request `index` of frame `tag`; the frame closes with its last reply. */
  const answer = (session: Session, s: SessionState, tag: number, index: number, reply: SubmitReply) => {
    const left = (s.open.get(tag) ?? 1) - 1;
    if (left > 0) s.open.set(tag, left);
    else s.open.delete(tag);
    let list = s.settled.get(tag);
    if (list === undefined) {
      list = [];
      s.settled.set(tag, list);
    }
    list.push({ index, reply });
    if (!s.flushQueued) {
      s.flushQueued = true;
      queueMicrotask(() => flush(session, s));
    }
  };

  host.handleSession('submit-session', (from, frame, session) => {
    let tag: number;
    let batch: Uint8Array;
    try {
      ({ tag, batch } = decodeSessionRequests(frame));
    } catch (err) {
      // Not even a tag to answer to: the client does not speak the protocol.
      if (err instanceof SubmitSessionDecodeError) {
        opts.onMalformed?.(from);
        void session.close();
      }
      return;
    }
    const s = stateOf(session);
    // Its replies could not be told from those of the frame still open under that tag.
    if (s.open.has(tag)) {
      void session.close();
      return;
    }
    const refuse = () => session.send(encodeSessionReplies({ tag, indices: [], replies: [] }));
    let requests: Uint8Array[];
    try {
      requests = decodeRequestBatch(batch);
    } catch (err) {
      if (err instanceof RequestBatchDecodeError) {
        opts.onMalformed?.(from);
        refuse();
      } else opts.onError?.(err);
      return;
    }
    const allBusy = () => session.send(encodeSessionReplies({ tag, indices: requests.map((_, i) => i), replies: requests.map(() => BUSY) }));
    const full = opts.fullQueue();
    if (full !== undefined || s.outstanding + requests.length > MAX_SESSION_OUTSTANDING || s.open.size >= MAX_SESSION_FRAMES) {
      opts.onBusy(full ?? 'session', requests.length);
      allBusy();
      return;
    }
    s.open.set(tag, requests.length);
    s.outstanding += requests.length;
    opts.submit(from, requests).then(
      (answers) => {
        try {
          settleAnswers(answers);
        } catch (err) {
          // Our own failure past the verdicts: nothing is left to promise this session.
          opts.onError?.(err);
          void session.close();
        }
      },
      (err: unknown) => {
        opts.onError?.(err);
        s.outstanding -= requests.length;
        for (let i = 0; i < requests.length; i++) answer(session, s, tag, i, { status: 'ignored', reason: 'internal-error' });
      },
    );
    function settleAnswers(answers: Awaited<ReturnType<SubmitSessionsOptions['submit']>>): void {
      const accepted: Uint8Array[] = [];
      const waits: { index: number; committed: Promise<CommitOutcome>; cancel: () => void }[] = [];
      answers.forEach((a, i) => {
        if (a.verdict.kind === 'accept' && a.committed !== undefined) {
          accepted.push(requests[i]!);
          waits.push({ index: i, committed: a.committed, cancel: a.cancel ?? (() => undefined) });
          return;
        }
        s.outstanding--;
        answer(session, s, tag, i, verdictReply(a.verdict));
      });
      if (accepted.length > 0) opts.onAccepted(accepted);
      if (waits.length === 0) return;
      // One timer per frame, not per request: what is still waiting at its end times out.
      const pending = new Set(waits);
      const settle = (w: (typeof waits)[number], reply: SubmitReply) => {
        if (!pending.delete(w)) return;
        s.outstanding--;
        s.cancels.delete(w.cancel);
        if (pending.size === 0) {
          clearTimeout(timer);
          s.timers.delete(timer);
        }
        if (!session.closed) answer(session, s, tag, w.index, reply);
      };
      const timer = setTimeout(() => {
        s.timers.delete(timer);
        for (const w of [...pending]) {
          w.cancel();
          settle(w, { status: 'timeout' });
        }
      }, opts.waitMs);
      s.timers.add(timer);
      for (const w of waits) {
        s.cancels.add(w.cancel);
        w.committed.then(
          (r) => settle(w, isReceipt(r) ? { status: 'committed', ...r } : { status: 'ignored', reason: r.kind }),
          (err: unknown) => {
            opts.onError?.(err);
            settle(w, { status: 'ignored', reason: 'internal-error' });
          },
        );
      }
      // A session that closed while the verdicts were computed: nobody is left to tell.
      if (session.closed) {
        clearTimeout(timer);
        s.timers.delete(timer);
        for (const w of waits) w.cancel();
      }
    }
  }, { maxFrameBytes: MAX_SESSION_FRAME_BYTES });
}
