import { generateKeyPair } from '@libp2p/crypto/keys';
import { ed25519KeypairFromSeed } from '../crypto/ed25519/backends.js';
import { createNetworkHost } from '../network/host.js';
import { encodeCommand } from '../protocol/command.js';
import type { Genesis } from '../protocol/genesis.js';
import type { SubmitReply } from '../protocol/submit-reply.js';
import { signRequest } from '../protocol/request.js';
import { randomBytes } from 'node:crypto';

export interface SubmitSummary {
  readonly submitted: number;
  readonly committed: number;
  readonly rejected: number;
  readonly timedOut: number;
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly seconds: number;
}

/** The p-th percentile of an ascending list (nearest rank), 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(2));
}

/**
 * Submits `count` signed put commands to validator `target` over the submit protocol, as a
 * non-validator libp2p peer, at most `concurrency` in flight, and waits for each commit.
 */
export async function submitCommands(
  genesis: Genesis,
  opts: { count: number; target: number; concurrency?: number; timeoutMs?: number; untilMs?: number; onCommit?: (latencyMs: number) => void },
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
  const started = performance.now();
  const latencies: number[] = [];
  let committed = 0;
  let rejected = 0;
  let timedOut = 0;
  let failed = 0;
  let next = 0;
  const enc = new TextEncoder();
  const worker = async () => {
    while (next < opts.count && (opts.untilMs === undefined || performance.now() < opts.untilMs)) {
      const k = next++;
      const command = encodeCommand({ type: 'put', key: enc.encode(`client-${k}`), value: randomBytes(64) });
      const request = signRequest({ chainId: genesis.chainId, sequence: BigInt(k), expiry: 2n ** 62n, command }, client.secretKey);
      const t0 = performance.now();
      try {
        const reply = JSON.parse(new TextDecoder().decode(await host.request(validator.peerId, 'submit', request, opts.timeoutMs ?? 40_000))) as SubmitReply;
        if (reply.status === 'committed') {
          committed++;
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
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 16, opts.count) }, worker));
  } finally {
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
  };
}
