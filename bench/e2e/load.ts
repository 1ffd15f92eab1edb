/**
 * The benchmark's closed-loop load generator: C clients, each with its own ed25519 key and K
 * commands outstanding, spread round-robin over the validators; a client sends its next command
 * the moment one commits. With K > 1 a client sends its commands as `submit-batch` frames
 * (a few batches in flight, K commands across them) and sends the next batch when one is answered. Every loop is bounded by a command count and a deadline. Commands are
 * `put`s padded to exactly `commandBytes` bytes; in unsigned mode the signature is zero bytes
 * (the replicas were started with the unsafe switch and do not check it), so the load generator
 * spends nothing on signing either.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import { encodeCommand, MAX_VALUE_BYTES } from '../../protocol/command.js';
import type { Genesis } from '../../protocol/genesis.js';
import { encodeRequest, REQUEST_SIGNATURE_BYTES, signRequest } from '../../protocol/request.js';
import { encodeRequestBatch } from '../../protocol/request-batch.js';
import { decodeSubmitReplies, type SubmitReply } from '../../protocol/submit-reply.js';
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
  /** Called when the measured window opens and closes (CPU and profile snapshots). */
  readonly onWindow?: (edge: 'open' | 'close') => void | Promise<void>;
}

export interface LoadResult {
  /** Commits completed inside the measured window. */
  readonly committed: number;
  readonly submitted: number;
  readonly rejected: number;
  readonly timedOut: number;
  readonly failed: number;
  readonly windowS: number;
  /** Ascending latencies (ms, submit to committed reply) of the commits inside the window. */
  readonly latencies: number[];
  /** Longest time inside the window without any commit completing (ms): a stall shows here. */
  readonly maxGapMs: number;
  /** Why requests failed: error message (truncated) -> count. */
  readonly failures: Readonly<Record<string, number>>;
}

/**
 * libp2p caps a connection at 64 outbound streams per protocol (and the validator at 256 inbound):
 * every lane holds one stream open while it waits, so a load host carries at most this many.
 */
const MAX_STREAMS_PER_HOST = 48;
/** Batches a client keeps in flight when it has more than one command outstanding. */
const BATCH_LANES = 4;
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
  const lanesPerClient = opts.outstanding === 1 ? 1 : Math.min(BATCH_LANES, opts.outstanding);
  const perTarget = Array.from({ length: n }, (_, t) => Math.ceil((opts.clients - t) / n) * lanesPerClient).map((o) => Math.max(0, o));
  const hosts: NetworkHost[][] = [];
  try {
    for (let t = 0; t < n; t++) {
      const v = genesis.validators[t]!;
      const list: NetworkHost[] = [];
      for (let h = 0; h < Math.ceil(perTarget[t]! / MAX_STREAMS_PER_HOST); h++) {
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
    const edges = (async () => {
      await new Promise((r) => setTimeout(r, opts.warmupMs));
      windowOpened = true;
      await opts.onWindow?.('open');
      await new Promise((r) => setTimeout(r, Math.max(0, close - performance.now())));
      windowClosed = true;
      await opts.onWindow?.('close');
    })();

    const latencies: number[] = [];
    const commitTimes: number[] = [];
    let committed = 0;
    let submitted = 0;
    let rejected = 0;
    let timedOut = 0;
    let failed = 0;
    const failures: Record<string, number> = {};
    const zeroSig = new Uint8Array(REQUEST_SIGNATURE_BYTES);
    const clientLoop = async (c: number) => {
      const target = c % n;
      const key = ed25519KeypairFromSeed(randomBytes(32));
      const peerId = genesis.validators[target]!.peerId;
      let seq = 0;
      const nextRequest = (): Uint8Array => {
        const s = seq++;
        submitted++;
        const fields = { chainId: genesis.chainId, sequence: BigInt(s), expiry: 2n ** 62n, command: paddedPut(opts.commandBytes, s * opts.clients + c) };
        return opts.unsigned ? encodeRequest({ ...fields, clientKey: key.publicKey, signature: zeroSig }) : signRequest(fields, key.secretKey);
      };
      /** One reply, at t1 for a request sent at t0; true when the lane should back off. */
      const count = (reply: SubmitReply, t0: number, t1: number): boolean => {
        if (reply.status === 'committed') {
          if (t1 >= open && t1 <= close) {
            committed++;
            latencies.push(t1 - t0);
            commitTimes.push(t1);
          }
        } else if (reply.status === 'timeout') timedOut++;
        else {
          rejected++;
          return true;
        }
        return false;
      };
      const failedWith = async (err: unknown, requests: number) => {
        failed += requests;
        const why = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 120);
        failures[why] = (failures[why] ?? 0) + requests;
        await new Promise((r) => setTimeout(r, 100));
      };
      // Busy or refused: back off a little instead of hammering the validator.
      const backOff = () => new Promise((r) => setTimeout(r, 20));
      const timeoutMs = opts.requestTimeoutMs ?? 30_000;
      const lane = async (k: number, size: number) => {
        // Each lane of a client keeps to one host, so lanes spread over the connections.
        const slot = Math.floor(c / n) * lanesPerClient + k;
        const host = hosts[target]![Math.floor(slot / MAX_STREAMS_PER_HOST) % hosts[target]!.length]!;
        while (!windowClosed && submitted < opts.maxCommands) {
          if (size === 1) {
            const request = nextRequest();
            const t0 = performance.now();
            try {
              const reply = JSON.parse(new TextDecoder().decode(await host.request(peerId, 'submit', request, timeoutMs))) as SubmitReply;
              if (count(reply, t0, performance.now())) await backOff();
            } catch (err) {
              await failedWith(err, 1);
            }
            continue;
          }
          // Several in flight: one submit-batch frame, binary per-request replies.
          const batch = Array.from({ length: Math.min(size, opts.maxCommands - submitted) }, nextRequest);
          const t0 = performance.now();
          try {
            const replies = decodeSubmitReplies(await host.request(peerId, 'submit-batch', encodeRequestBatch(batch), timeoutMs));
            if (replies.length !== batch.length) throw new Error(`validator answered ${replies.length} of ${batch.length} requests`);
            const t1 = performance.now();
            let busy = false;
            for (const reply of replies) busy = count(reply, t0, t1) || busy;
            if (busy) await backOff();
          } catch (err) {
            await failedWith(err, batch.length);
          }
        }
      };
      // K outstanding: K single-request lanes when K is 1, else up to BATCH_LANES lanes of
      // batches (pipelined, so one block's wait does not idle the client) sharing the K.
      const lanes = opts.outstanding === 1 ? 1 : Math.min(BATCH_LANES, opts.outstanding);
      await Promise.all(
        Array.from({ length: lanes }, (_, k) => {
          const size = Math.floor(opts.outstanding / lanes) + (k < opts.outstanding % lanes ? 1 : 0);
          return lane(k, size);
        }),
      );
    };
    await Promise.all([edges, ...Array.from({ length: opts.clients }, (_, c) => clientLoop(c))]);
    latencies.sort((a, b) => a - b);
    commitTimes.sort((a, b) => a - b);
    return {
      maxGapMs: Math.round(longestGapMs(commitTimes, open, close)),
      failures,
      committed,
      submitted,
      rejected,
      timedOut,
      failed,
      windowS: windowOpened ? opts.durationMs / 1000 : 0,
      latencies,
    };
  } finally {
    await Promise.all(hosts.flat().map((h) => h.stop().catch(() => undefined)));
  }
}
