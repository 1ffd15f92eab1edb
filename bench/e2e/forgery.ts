/**
 * Clients that send forged requests: well-formed, under a real ed25519 key, with signatures of
 * random bytes shaped to pass libsodium's cheap range check, so the validator they reach pays a
 * full signature check (~50 us) to refuse each one, while the sender pays nothing (no signing). Run beside the closed-loop load (`vsmr bench e2e
 * --forged-clients F`), it shows what such a flood takes from the honest clients.
 *
 * Each attacker keeps two frames of requests in flight on a `submit-session` to one validator
 * (spread round-robin) and sends a new frame as each is answered. When its session or connection
 * is cut, it comes back under a new identity (a new libp2p key: they cost nothing to make), as
 * often as the validator lets it connect. Bounded by the run's signal and by `maxRequests`.
 * The benchmark runs it in a child process (spawnForgedFlood), apart from the honest clients.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { createNetworkHost, type NetworkHost, type Session } from '../../network/host.js';
import type { Genesis } from '../../protocol/genesis.js';
import { encodeRequest, REQUEST_SIGNATURE_BYTES } from '../../protocol/request.js';
import { encodeRequestBatch } from '../../protocol/request-batch.js';
import { decodeSessionReplies, encodeSessionRequests } from '../../protocol/submit-session.js';
import { paddedPut } from './load.js';

export interface ForgeryOptions {
  readonly attackers: number;
  /** Forged requests per frame. */
  readonly frameRequests: number;
  readonly commandBytes: number;
  /** Hard cap on forged requests sent in all. */
  readonly maxRequests: number;
  /** Ends the flood. */
  readonly signal: AbortSignal;
}

export interface ForgeryResult {
  readonly attackers: number;
  /** Forged requests sent. */
  readonly sent: number;
  /** Answers refusing them, by status and reason (`rejected: bad-signature` is a checked forgery). */
  readonly answers: Readonly<Record<string, number>>;
  /** Identities the attackers used (a new one after every cut). */
  readonly identities: number;
  /** Sessions or connections the validators cut, or would not open. */
  readonly cut: number;
  /** CPU the flood's own process used, when it ran in one (spawnForgedFlood). */
  readonly cpuSeconds?: number;
}

const FRAMES_IN_FLIGHT = 2;

/**
 * Random bytes shaped to cost a full check: S (the second half, little-endian) below 2^252, so
 * below the group order. A random S is at or above it 15 times in 16, which libsodium refuses
 * before any curve arithmetic; R need not be a point (the check recomputes it and compares).
 */
function forgedSignature(): Uint8Array {
  const sig = randomBytes(REQUEST_SIGNATURE_BYTES);
  sig[REQUEST_SIGNATURE_BYTES - 1]! &= 0x0f;
  return sig;
}

export async function runForgedFlood(genesis: Genesis, opts: ForgeryOptions): Promise<ForgeryResult> {
  const n = genesis.validators.length;
  let sent = 0;
  let identities = 0;
  let cut = 0;
  const answers: Record<string, number> = {};
  // One real key, so a request's key decodes as a point and its check runs to the end.
  const victim = ed25519KeypairFromSeed(randomBytes(32)).publicKey;
  const stopped = new Promise<void>((r) => opts.signal.addEventListener('abort', () => r(), { once: true }));
  const pause = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopped, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  };
  let ordinal = 0;
  const forgedFrame = (tag: number): Uint8Array => {
    const requests = Array.from({ length: opts.frameRequests }, () =>
      encodeRequest({
        chainId: genesis.chainId,
        clientKey: victim,
        sequence: BigInt(ordinal),
        expiry: 2n ** 62n,
        command: paddedPut(opts.commandBytes, ordinal++ % 2 ** 24),
        signature: forgedSignature(),
      }),
    );
    sent += requests.length;
    return encodeSessionRequests(tag, encodeRequestBatch(requests));
  };

  const attacker = async (a: number) => {
    const target = genesis.validators[a % n]!;
    while (!opts.signal.aborted && sent < opts.maxRequests) {
      let host: NetworkHost | undefined;
      let session: Session | undefined;
      try {
        identities++;
        host = await createNetworkHost({
          chainId: genesis.chainId,
          privateKey: await generateKeyPair('Ed25519'),
          listen: ['/ip4/127.0.0.1/tcp/0'],
          peers: [{ peerId: target.peerId, multiaddr: target.address }],
          allowedPeers: new Set(),
        });
        let inFlight = 0;
        let wake: () => void = () => undefined;
        const opened = await Promise.race([
          host.openSession(
            target.peerId,
            'submit-session',
            (bytes) => {
              const r = decodeSessionReplies(bytes);
              for (const reply of r.replies) {
                const why = reply.status === 'rejected' || reply.status === 'ignored' ? `${reply.status}: ${reply.reason}` : reply.status;
                answers[why] = (answers[why] ?? 0) + 1;
              }
              if (r.indices.length === 0) answers['frame refused whole'] = (answers['frame refused whole'] ?? 0) + 1;
              // A frame's replies may come in parts; a frame is done once no part is owed (counted by requests).
              inFlight -= r.indices.length === 0 ? opts.frameRequests : r.indices.length;
              wake();
            },
            { timeoutMs: 5_000 },
          ),
          stopped.then(() => undefined),
        ]);
        if (opened === undefined) break;
        session = opened;
        session.onClose(() => wake());
        let tag = 0;
        while (!opts.signal.aborted && !session.closed && sent < opts.maxRequests) {
          while (inFlight < FRAMES_IN_FLIGHT * opts.frameRequests) {
            if (!session.send(forgedFrame(tag++ >>> 0))) throw new Error('session closed');
            inFlight += opts.frameRequests;
          }
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            stopped,
            new Promise<void>((r) => {
              wake = r;
              timer = setTimeout(r, 5_000);
            }),
          ]);
          clearTimeout(timer);
        }
        if (session.closed && !opts.signal.aborted) cut++;
      } catch {
        // Refused or cut: come back as someone else, after a moment.
        if (!opts.signal.aborted) cut++;
        await pause(50);
      } finally {
        await session?.close().catch(() => undefined);
        await host?.stop().catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.attackers }, (_, a) => attacker(a)));
  return { attackers: opts.attackers, sent, answers, identities, cut };
}

/** A flood running in a child process (forgery-child.ts); `stop` ends it and reads its result. */
export interface FloodProcess {
  readonly pid: number | undefined;
  /** Ends the flood (stdin closed; killed if it has not exited within 15 s) and returns its result, if it printed one. */
  stop(): Promise<ForgeryResult | undefined>;
}

export function spawnForgedFlood(genesisPath: string, opts: Omit<ForgeryOptions, 'signal'>): FloodProcess {
  const script = fileURLToPath(new URL('./forgery-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, genesisPath, String(opts.attackers), String(opts.frameRequests), String(opts.commandBytes), String(opts.maxRequests)], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let stopping: Promise<ForgeryResult | undefined> | undefined;
  return {
    pid: child.pid,
    stop: () => {
      stopping ??= (async () => {
        child.stdin.end();
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(kill);
        try {
          return JSON.parse(out.trim().split('\n').at(-1) ?? '') as ForgeryResult;
        } catch {
          return undefined;
        }
      })();
      return stopping;
    },
  };
}
