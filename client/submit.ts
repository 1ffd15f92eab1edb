import { generateKeyPair } from '@libp2p/crypto/keys';
import { nearestRank } from './percentile.js';
import { ed25519KeypairFromSeed } from '../crypto/ed25519/backends.js';
import { createNetworkHost } from '../network/host.js';
import { encodeCommand } from '../protocol/command.js';
import type { Genesis } from '../protocol/genesis.js';
import { signRequest } from '../protocol/request.js';
import { randomBytes } from 'node:crypto';
import type { ProofBundle } from '../protocol/bundle.js';
import type { CommitReceipt } from '../protocol/submit-reply.js';
import { submitUntilNotBusy } from './busy-retry.js';
import { SubmitSession } from './session.js';
import { requestBundle } from './light.js';
import { type VerifiedBundle, verifyBundle, verifyCommitOf } from './verify.js';

/** Commits waiting for verification at most; beyond it a commit is counted but not verified. */
const MAX_VERIFY_QUEUE = 100_000;

export interface SubmitSummary {
  readonly submitted: number;
  readonly committed: number;
  readonly rejected: number;
  readonly timedOut: number;
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly seconds: number;
  /** Commits whose log entry the client fetched and verified (certificate + inclusion proof). */
  readonly verified: number;
  /** Times a command was sent again after a busy answer (the validator's queues were full). */
  readonly busyRetries: number;
}

/** A committed command whose commit the client has verified from the genesis alone. */
export interface VerifiedCommit {
  /** Index of the command in this run. */
  readonly index: number;
  readonly receipt: CommitReceipt;
  readonly bundle: ProofBundle;
  readonly verified: VerifiedBundle;
}

export interface VerifyCommitsOptions {
  /** Verifications in flight at once (default 2). */
  readonly concurrency?: number;
  /** How long to keep verifying queued commits after the load ends (default 15 s). */
  readonly drainMs?: number;
  readonly onVerified?: (v: VerifiedCommit) => void | Promise<void>;
  readonly onFailed?: (index: number, err: Error) => void;
}

/** The p-th percentile of an ascending list (nearest rank), to 2 decimals; 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  return Number(nearestRank(sorted, p).toFixed(2));
}

/**
 * Submits `count` signed put commands to validator `target` on one client session
 * (client/session.ts), as a non-validator libp2p peer, at most `concurrency` in flight, and
 * waits for each commit.
 */
export async function submitCommands(
  genesis: Genesis,
  opts: {
    count: number;
    target: number;
    concurrency?: number;
    timeoutMs?: number;
    untilMs?: number;
    /** Stops sending new commands once aborted (those in flight still settle). */
    signal?: AbortSignal;
    onCommit?: (latencyMs: number) => void;
    /** Also fetch each commit's log entry from the same validator and verify it against the genesis. */
    verify?: VerifyCommitsOptions;
  },
): Promise<SubmitSummary> {
  const validator = genesis.validators[opts.target];
  if (!validator) throw new Error(`no validator ${opts.target} in the genesis`);
  const host = await createNetworkHost({
    chainId: genesis.chainId,
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [{ peerId: validator.peerId, multiaddr: validator.address }],
    allowedPeers: new Set(),
  });
  // Requests before the connection is up fail at once; wait for it rather than spin.
  const connectBy = performance.now() + 15_000;
  while (!host.peers().includes(validator.peerId)) {
    if (performance.now() > connectBy) {
      await host.stop();
      throw new Error(`could not connect to validator ${opts.target} at ${validator.address}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const client = ed25519KeypairFromSeed(randomBytes(32));
  // One session for all of this client's requests: pipelined on one stream, each answered alone.
  const session = new SubmitSession(host, validator.peerId);
  const started = performance.now();
  const latencies: number[] = [];
  let committed = 0;
  let rejected = 0;
  let timedOut = 0;
  let failed = 0;
  let next = 0;
  let verified = 0;
  let busyRetries = 0;
  let loadDone = false;
  let loadEndedAt = Number.POSITIVE_INFINITY;
  const queue: { index: number; receipt: CommitReceipt; request: Uint8Array }[] = [];
  const replica = { peerId: validator.peerId, multiaddr: validator.address };
  const verifier = async (v: VerifyCommitsOptions) => {
    while (!loadDone || (queue.length > 0 && performance.now() < loadEndedAt + (v.drainMs ?? 15_000))) {
      const item = queue.shift();
      if (!item) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        const bundle = await requestBundle(host, replica, { kind: 'log', position: item.receipt.position });
        const check = verifyBundle(bundle, genesis);
        verifyCommitOf(check, item.request, item.receipt);
        verified++;
        await v.onVerified?.({ index: item.index, receipt: item.receipt, bundle, verified: check });
      } catch (err) {
        v.onFailed?.(item.index, err instanceof Error ? err : new Error(String(err)));
      }
    }
  };
  const enc = new TextEncoder();
  const worker = async () => {
    while (next < opts.count && (opts.untilMs === undefined || performance.now() < opts.untilMs) && opts.signal?.aborted !== true) {
      const k = next++;
      const command = encodeCommand({ type: 'put', key: enc.encode(`client-${k}`), value: randomBytes(64) });
      const request = signRequest({ chainId: genesis.chainId, sequence: BigInt(k), expiry: 2n ** 62n, command }, client.secretKey);
      const t0 = performance.now();
      const timeoutMs = opts.timeoutMs ?? 40_000;
      try {
        const sent = await submitUntilNotBusy(() => session.submit(request, Math.max(1, Math.round(t0 + timeoutMs - performance.now()))), { deadline: t0 + timeoutMs });
        busyRetries += sent.busyRetries;
        const reply = sent.reply;
        if (reply.status === 'committed') {
          committed++;
          if (opts.verify && queue.length < MAX_VERIFY_QUEUE) queue.push({ index: k, receipt: reply, request });
          const ms = performance.now() - t0;
          latencies.push(ms);
          opts.onCommit?.(ms);
        } else if (reply.status === 'timeout') timedOut++;
        else rejected++;
      } catch {
        failed++;
        // A failing connection must not turn the loop into a busy spin.
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const v = opts.verify;
  const verifiers = v ? Array.from({ length: Math.max(1, v.concurrency ?? 2) }, () => verifier(v)) : [];
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 16, opts.count) }, worker));
    loadDone = true;
    loadEndedAt = performance.now();
    await Promise.all(verifiers);
  } finally {
    loadDone = true;
    await session.close();
    await host.stop();
  }
  latencies.sort((a, b) => a - b);
  return {
    submitted: Math.min(next, opts.count),
    committed,
    rejected,
    timedOut,
    failed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    verified,
    busyRetries,
  };
}
