/**
 * The benchmark's closed-loop load generator: C clients, each with its own ed25519 key, its own
 * `submit-session` to one validator (spread round-robin) and K commands outstanding. A client
 * sends its first K commands in one frame and then, whenever replies arrive (a block's commit
 * answers its requests together), as many new commands as were answered, in one frame: the next
 * command leaves the moment one commits, and each command's latency is its own (submit to its
 * own reply), not that of a batch. A command answered busy is sent again, the same signed bytes,
 * after a short back-off and before any new one, and its latency runs from its first
 * submission. Every loop is bounded by a command count and a deadline.
 * Commands are `put`s padded to exactly `commandBytes` bytes; in unsigned mode the signature is
 * zero bytes (the replicas were started with the unsafe switch and do not check it), so the load
 * generator spends nothing on signing either.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { createNetworkHost, type NetworkHost, type Session } from '../../network/host.js';
import { encodeCommand, MAX_VALUE_BYTES } from '../../protocol/command.js';
import type { Genesis } from '../../protocol/genesis.js';
import { encodeRequest, REQUEST_SIGNATURE_BYTES, signRequest } from '../../protocol/request.js';
import { encodeRequestBatch, MAX_BATCH_REQUESTS } from '../../protocol/request-batch.js';
import { decodeSessionReplies, encodeSessionRequests } from '../../protocol/submit-session.js';
import { Result } from '../../protocol/result.js';
import type { SubmitReply } from '../../protocol/submit-reply.js';
import { longestGapMs } from './gaps.js';

export interface LoadOptions {
  readonly clients: number;
  readonly outstanding: number;
  readonly commandBytes: number;
  readonly unsigned: boolean;
  /** Load runs from now for warmupMs + durationMs; only commits inside the measured part count. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Hard cap on commands submitted in total. */
  readonly maxCommands: number;
  readonly requestTimeoutMs?: number;
  /**
   * Called when the measured window opens and closes (CPU and profile snapshots). It returns
   * the instant (performance.now()) its readings were taken: the window is measured between
   * those instants, which a busy event loop can put well after the planned ones. Without one the
   * call's own start counts.
   */
  readonly onWindow?: (edge: 'open' | 'close') => number | undefined | Promise<number | undefined>;
  /** Ends the load early: clients leave as at the window's end, and the run throws LoadInterruptedError. */
  readonly signal?: AbortSignal;
  /**
   * All clients sign under one key (sequences interleaved so none repeats): one client with
   * clients x outstanding requests in flight over several sessions (a session's first burst of
   * a thousand requests is about all its stream takes unread). Default: a key per client.
   */
  readonly oneKey?: boolean;
}

/** The load was stopped by its signal before its window ended: its figures mean nothing. */
export class LoadInterruptedError extends Error {
  constructor() {
    super('load interrupted');
    this.name = 'LoadInterruptedError';
  }
}

export interface LoadResult {
  /** Commits completed inside the measured window. */
  readonly committed: number;
  /** Distinct requests made (signed); one sent again after a busy answer is not counted again. */
  readonly submitted: number;
  /** Refusing answers over the whole run, busy ones included: one request can collect several. */
  readonly rejected: number;
  readonly timedOut: number;
  readonly failed: number;
  /** The measured window: from the open edge's readings to the close edge's. */
  readonly windowS: number;
  /** The window as planned (durationMs); a measured one much longer says the load generator fell behind. */
  readonly plannedWindowS: number;
  /**
   * Blocks from the lowest to the highest height among the window's commits, both counted (0
   * without a commit): the chain's blocks over the window, empty ones included, read off the
   * receipts themselves. (Heights read from a validator's status at the window's edges came
   * back tens of seconds late when the load generator was swamped, as at the overload point.)
   */
  readonly blockSpan: number;
  /** Ascending latencies (ms, first submission to committed reply, busy retries included) of the commits inside the window. */
  readonly latencies: number[];
  /** Longest time inside the window without any commit completing (ms): a stall shows here. */
  readonly maxGapMs: number;
  /** Why requests failed: error message (truncated) -> count. */
  readonly failures: Readonly<Record<string, number>>;
  /**
   * Answers that refused a request, by status and reason, over the whole run (warm-up
   * included): `ignored: busy` is back-pressure, and the request is sent again; any other is
   * final (the request counts neither as committed nor as failed).
   */
  readonly refusals: Readonly<Record<string, number>>;
}

/**
 * Sessions one load host opens to its validator: the validator serves at most 16 sessions per
 * connection (network/host.ts), so clients beyond this get another host; a few to spare, so
 * that a session reopened after a failure is not refused while the old one is torn down.
 */
const SESSIONS_PER_HOST = 12;
/** A put's bytes besides its key and value: tag, key length, value length. */
const PUT_FRAMING = 1 + 2 + 2;
/** Widest key a padded put uses; narrower keys only when the command is too small for it. */
const MAX_PUT_KEY_BYTES = 8;
/**
 * The smallest command (the 8-byte commands other BFT systems order in their
 * benchmarks): a put with a 3-byte key and no value, so up to 2^24 distinct keys.
 */
export const MIN_COMMAND_BYTES = 8;
/** The largest put: the widest key and the largest value the application takes. */
const MAX_PUT_BYTES = PUT_FRAMING + MAX_PUT_KEY_BYTES + MAX_VALUE_BYTES;

/**
 * A `put` command of exactly `bytes` bytes (MIN_COMMAND_BYTES..4109), the `ordinal`-th of the
 * run. Its key is the ordinal, big-endian, in min(8, bytes - 5) bytes, then the value pads the
 * rest: distinct ordinals give distinct keys (an ordinal that does not fit the key is refused:
 * 2^24 commands at 8 bytes, far more than any bounded run submits), so the state grows by one
 * key per command at every size.
 */
export function paddedPut(bytes: number, ordinal: number): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_COMMAND_BYTES || bytes > MAX_PUT_BYTES) {
    throw new RangeError(`a padded put has ${MIN_COMMAND_BYTES}..${MAX_PUT_BYTES} bytes, not ${bytes}`);
  }
  const keyBytes = Math.min(MAX_PUT_KEY_BYTES, bytes - PUT_FRAMING);
  if (!Number.isSafeInteger(ordinal) || ordinal < 0 || ordinal >= 256 ** keyBytes) {
    throw new RangeError(`command ordinal ${ordinal} does not fit a ${keyBytes}-byte key`);
  }
  const key = new Uint8Array(keyBytes);
  let rest = ordinal;
  for (let i = keyBytes - 1; i >= 0; i--) {
    key[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return encodeCommand({ type: 'put', key, value: new Uint8Array(bytes - PUT_FRAMING - keyBytes).fill(0x61) });
}

export async function runClosedLoop(genesis: Genesis, opts: LoadOptions): Promise<LoadResult> {
  const n = genesis.validators.length;
  const perTarget = Array.from({ length: n }, (_, t) => Math.max(0, Math.ceil((opts.clients - t) / n)));
  const hosts: NetworkHost[][] = [];
  try {
    for (let t = 0; t < n; t++) {
      const v = genesis.validators[t]!;
      const list: NetworkHost[] = [];
      for (let h = 0; h < Math.ceil(perTarget[t]! / SESSIONS_PER_HOST); h++) {
        list.push(
          await createNetworkHost({
            chainId: genesis.chainId,
            privateKey: await generateKeyPair('Ed25519'),
            listen: ['/ip4/127.0.0.1/tcp/0'],
            peers: [{ peerId: v.peerId, multiaddr: v.address }],
            allowedPeers: new Set(),
          }),
        );
      }
      hosts.push(list);
    }
    const connectBy = performance.now() + 20_000;
    while (!hosts.every((list, t) => list.every((h) => h.peers().includes(genesis.validators[t]!.peerId)))) {
      if (performance.now() > connectBy) throw new Error('load generator could not connect to every validator within 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }

    const start = performance.now();
    const open = start + opts.warmupMs;
    const close = open + opts.durationMs;
    let windowOpened = false;
    let windowClosed = false;
    let measuredOpen = open;
    let measuredClose = close;
    /** Wakes every client when the window closes, so none waits out a reply it no longer needs. */
    let wakeAll: () => void = () => undefined;
    const closed = new Promise<void>((r) => {
      wakeAll = r;
    });
    /** Sleeps `ms`, or less if the run is interrupted; true when it was. */
    const sleep = async (ms: number): Promise<boolean> => {
      const signal = opts.signal;
      if (signal?.aborted) return true;
      let timer: NodeJS.Timeout | undefined;
      let onAbort: () => void = () => undefined;
      await new Promise<void>((r) => {
        timer = setTimeout(r, ms);
        onAbort = () => r();
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return signal?.aborted === true;
    };
    const edges = (async () => {
      // Interrupted, the clients leave as at the window's end, and no window edge is reported.
      const leave = () => {
        windowClosed = true;
        wakeAll();
      };
      if (await sleep(opts.warmupMs)) return leave();
      windowOpened = true;
      const opening = performance.now();
      measuredOpen = (await opts.onWindow?.('open')) ?? opening;
      if (await sleep(Math.max(0, close - performance.now()))) return leave();
      windowClosed = true;
      wakeAll();
      const closing = performance.now();
      measuredClose = (await opts.onWindow?.('close')) ?? closing;
    })();

    /** Every commit from the planned open on, as [reply time, latency, block height]: the measured window picks its own at the end. */
    const commits: [number, number, number][] = [];
    let submitted = 0;
    let rejected = 0;
    let timedOut = 0;
    let failed = 0;
    const failures: Record<string, number> = {};
    const refusals: Record<string, number> = {};
    const zeroSig = new Uint8Array(REQUEST_SIGNATURE_BYTES);
    const sharedKey = opts.oneKey ? ed25519KeypairFromSeed(randomBytes(32)) : undefined;
    const timeoutMs = opts.requestTimeoutMs ?? 30_000;
    const clientLoop = async (c: number) => {
      const target = c % n;
      const list = hosts[target]!;
      const host = list[Math.floor(c / n / SESSIONS_PER_HOST) % list.length]!;
      const key = sharedKey ?? ed25519KeypairFromSeed(randomBytes(32));
      const peerId = genesis.validators[target]!.peerId;
      let seq = 0;
      const nextRequest = (): Uint8Array => {
        const s = seq++;
        submitted++;
        const fields = { chainId: genesis.chainId, sequence: BigInt(sharedKey ? s * opts.clients + c : s), expiry: 2n ** 62n, command: paddedPut(opts.commandBytes, s * opts.clients + c) };
        return opts.unsigned ? encodeRequest({ ...fields, clientKey: key.publicKey, signature: zeroSig }) : signRequest(fields, key.secretKey);
      };
      const failedWith = (err: unknown, requests: number) => {
        failed += requests;
        const why = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 120);
        failures[why] = (failures[why] ?? 0) + requests;
      };
      /** Waits `ms`, or less if the window closes; the timer goes either way. */
      const pause = async (ms: number) => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, ms)))]);
        clearTimeout(timer);
      };

      /** A request as sent, and when it was first sent (its latency runs from there, retries included). */
      type Outgoing = { readonly bytes: Uint8Array; readonly since: number };
      /** Frames in flight by tag: when each was sent, its requests, which are answered, how many are not. */
      const inFlight = new Map<number, { sentAt: number; left: number; requests: Outgoing[]; answered: Uint8Array }>();
      /**
       * Requests answered busy, sent again as they were (the signed bytes) before any new one, as
       * a real client retries: signing a fresh request for every refused one had the load
       * generator, sharing the cores with the cluster, spend most of its CPU on signatures under
       * overload and fall tens of seconds behind its own window. Never longer than K, since a
       * request waits here only after its answer freed its place.
       */
      const retry: Outgoing[] = [];
      const isBusy = (reply: SubmitReply) => reply.status === 'ignored' && reply.reason === 'busy';
      let outstanding = 0;
      let nextTag = 0;
      /** Whether a reply since the last refill said busy or refused. */
      let backOff = false;
      let wake: () => void = () => undefined;
      const count = (reply: SubmitReply, t0: number, t1: number) => {
        if (reply.status === 'committed' && reply.result === Result.OK) {
          if (t1 >= open) commits.push([t1, t1 - t0, reply.height]);
        } else if (reply.status === 'committed') {
          // Committed as a failure (REPLAYED: a sequence past the replay window of one key with
          // more in flight than it holds): ordered, but no command of the load took effect.
          const why = `committed: ${reply.resultName}`;
          refusals[why] = (refusals[why] ?? 0) + 1;
        } else if (reply.status === 'timeout') timedOut++;
        else {
          rejected++;
          const why = `${reply.status}: ${reply.reason}`.slice(0, 120);
          refusals[why] = (refusals[why] ?? 0) + 1;
          backOff = true;
        }
      };
      const onFrame = (bytes: Uint8Array) => {
        const t1 = performance.now();
        const r = decodeSessionReplies(bytes);
        const frame = inFlight.get(r.tag);
        if (frame === undefined) throw new Error(`reply for unknown tag ${r.tag}`);
        // Count 0: the validator refused the frame whole. Never more than the frame has left,
        // whatever the validator says, so the client never goes past K outstanding.
        const settled = r.indices.length === 0 ? frame.left : Math.min(r.indices.length, frame.left);
        if (r.indices.length === 0) {
          // Refused whole: the validator could not decode the frame (a frame refused as busy
          // comes back busy request by request). Sending those bytes again would not help.
          rejected += settled;
          refusals['frame refused whole'] = (refusals['frame refused whole'] ?? 0) + settled;
          backOff = true;
        } else {
          for (let i = 0; i < settled; i++) {
            const index = r.indices[i]!;
            const reply = r.replies[i]!;
            // A request is sent again once at most per answer, however a validator repeats itself.
            const first = frame.answered[index] === 0;
            frame.answered[index] = 1;
            const request = frame.requests[index];
            if (first && isBusy(reply) && request !== undefined) retry.push(request);
            count(reply, request?.since ?? frame.sentAt, t1);
          }
        }
        frame.left -= settled;
        if (frame.left <= 0) inFlight.delete(r.tag);
        outstanding -= settled;
        wake();
      };
      let session: Session | undefined;
      const send = (k: number) => {
        const requests = retry.splice(0, k);
        const fresh = Array.from({ length: k - requests.length }, nextRequest);
        // Taken after signing, as a client's clock starts once its request exists.
        const now = performance.now();
        for (const bytes of fresh) requests.push({ bytes, since: now });
        const tag = nextTag++ >>> 0;
        inFlight.set(tag, { sentAt: now, left: k, requests, answered: new Uint8Array(k) });
        outstanding += k;
        if (!session!.send(encodeSessionRequests(tag, encodeRequestBatch(requests.map((r) => r.bytes))))) throw new Error('session closed');
      };
      // The window's end and the session's end both wake the client's wait below.
      void closed.then(() => wake());
      while (!windowClosed) {
        try {
          if (session === undefined) {
            // Raced against the window's end: a client does not wait out an open nobody needs.
            const opening = host.openSession(peerId, 'submit-session', onFrame, { timeoutMs });
            const opened = await Promise.race([opening, closed.then(() => undefined)]);
            if (opened === undefined) {
              void opening.then((s) => s.close(), () => undefined);
              break;
            }
            session = opened;
            session.onClose(() => wake());
            // The window may have closed while the session opened: its wake-up found no one.
            if (windowClosed) break;
          }
          if (session.closed) throw new Error('session closed');
          // Keep K outstanding: refill what was answered, in one frame (split at the batch cap).
          // Requests waiting to go again take room before new ones, which stop at maxCommands.
          let room = Math.min(opts.outstanding - outstanding, retry.length + Math.max(0, opts.maxCommands - submitted));
          while (room > 0) {
            const k = Math.min(room, MAX_BATCH_REQUESTS);
            send(k);
            room -= k;
          }
          if (outstanding === 0 && retry.length === 0) break; // maxCommands reached and all answered
          // Woken by a reply, the session's end or the window's, or when the oldest frame is
          // overdue: the validator answers every request within the requests' own timeout, so a
          // frame still unanswered past it is lost, and the session with it.
          let oldest = Number.POSITIVE_INFINITY;
          for (const f of inFlight.values()) oldest = Math.min(oldest, f.sentAt);
          const dueIn = oldest + timeoutMs + 5_000 - performance.now();
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((r) => {
            wake = r;
            // Clamped: a delay past 2^31 - 1 ms (or Infinity) would fire at once.
            timer = setTimeout(r, Math.min(Math.max(0, dueIn), 2 ** 31 - 1));
          });
          clearTimeout(timer);
          wake = () => undefined;
          if (windowClosed) break;
          if (session.closed) throw new Error('session closed');
          for (const f of inFlight.values()) if (performance.now() - f.sentAt > timeoutMs + 5_000) throw new Error('no reply within the request timeout');
          if (backOff) {
            backOff = false;
            await pause(20);
          }
        } catch (err) {
          // A failure after the window closed is not the run's: the client was leaving.
          if (!windowClosed) failedWith(err, Math.max(1, outstanding));
          inFlight.clear();
          outstanding = 0;
          await session?.close().catch(() => undefined);
          session = undefined;
          await pause(100);
        }
      }
      await session?.close().catch(() => undefined);
    };
    await Promise.all([edges, ...Array.from({ length: opts.clients }, (_, c) => clientLoop(c))]);
    if (opts.signal?.aborted) throw new LoadInterruptedError();
    const inWindow = commits.filter(([t1]) => t1 >= measuredOpen && t1 <= measuredClose);
    const latencies = inWindow.map(([, ms]) => ms).sort((a, b) => a - b);
    const commitTimes = inWindow.map(([t1]) => t1).sort((a, b) => a - b);
    let lowest = Number.POSITIVE_INFINITY;
    let highest = Number.NEGATIVE_INFINITY;
    for (const [, , height] of inWindow) {
      if (height < lowest) lowest = height;
      if (height > highest) highest = height;
    }
    return {
      maxGapMs: Math.round(longestGapMs(commitTimes, measuredOpen, measuredClose)),
      failures,
      refusals,
      committed: inWindow.length,
      blockSpan: inWindow.length === 0 ? 0 : highest - lowest + 1,
      submitted,
      rejected,
      timedOut,
      failed,
      windowS: windowOpened ? (measuredClose - measuredOpen) / 1000 : 0,
      plannedWindowS: opts.durationMs / 1000,
      latencies,
    };
  } finally {
    await Promise.all(hosts.flat().map((h) => h.stop().catch(() => undefined)));
  }
}
