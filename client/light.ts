/**
 * The light client's network side: ask ONE replica for a proof bundle over the `query` protocol,
 * and follow the certificates validators gossip. Nothing a replica returns is used before
 * verifyBundle has checked it against the genesis.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { VerifiedQcCache } from '../crypto/qc/verified-cache.js';
import { createNetworkHost, type NetworkHost } from '../network/host.js';
import { BundleFormatError, bundleToJson, parseBundle, type ProofBundle } from '../protocol/bundle.js';
import type { Genesis } from '../protocol/genesis.js';
import { decodeQueryResponse, encodeQueryRequest, MAX_QUERY_RESPONSE_BYTES, QueryDecodeError, type QueryRequest } from '../protocol/query.js';
import { BundleVerifyError, type TrustAnchor, type VerifiedBundle, type VerifyOptions, verifyBundle } from './verify.js';

/** A replica to talk to: its libp2p peer id and dial address. */
export interface ReplicaAddress {
  readonly peerId: string;
  readonly multiaddr: string;
}

/** The replica could not or would not answer (as opposed to answering with a lie). */
export class QueryFailedError extends Error {
  constructor(
    readonly status: string,
    detail: string,
  ) {
    super(`query failed: ${status}: ${detail}`);
    this.name = 'QueryFailedError';
  }
}

/** Parses a /p2p/-terminated multiaddr into a replica address. */
export function replicaFromMultiaddr(addr: string): ReplicaAddress {
  const at = addr.lastIndexOf('/p2p/');
  if (at < 0) throw new Error(`${addr}: the address must end in /p2p/<peer id>`);
  return { peerId: addr.slice(at + 5), multiaddr: addr.slice(0, at) };
}

/** A non-validator libp2p host connected to `peers`; resolves once at least one is connected. */
export async function connectLightHost(chainId: string, peers: readonly ReplicaAddress[], allowed: ReadonlySet<string>, timeoutMs = 15_000): Promise<NetworkHost> {
  const host = await createNetworkHost({
    chainId,
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers,
    allowedPeers: allowed,
    topics: ['certificate'],
  });
  const by = performance.now() + timeoutMs;
  while (!peers.some((p) => host.peers().includes(p.peerId))) {
    if (performance.now() > by) {
      await host.stop();
      throw new QueryFailedError('unreachable', `could not connect to ${peers.map((p) => p.multiaddr).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return host;
}

/** Asks `replica` over an open host; returns the parsed (not yet verified) bundle. */
export async function requestBundle(host: NetworkHost, replica: ReplicaAddress, query: QueryRequest, timeoutMs = 15_000): Promise<ProofBundle> {
  let bytes: Uint8Array;
  try {
    // Read no more than an answer can be: a replica's 32 MiB of anything cost the client its
    // memory before the decoder refused it, every poll of `follow`.
    bytes = await host.request(replica.peerId, 'query', encodeQueryRequest(query), timeoutMs, MAX_QUERY_RESPONSE_BYTES);
  } catch (err) {
    // A replica connected but silent is not unreachable: the operator looks for different causes.
    const status = host.peers().includes(replica.peerId) ? 'no answer' : 'unreachable';
    throw new QueryFailedError(status, err instanceof Error ? err.message : String(err));
  }
  const response = decodeQueryResponse(bytes);
  if (response.status !== 'ok') throw new QueryFailedError(response.status, response.reason);
  return parseBundle(response.bundleJson);
}

/** One query to one replica, verified: the bundle and what it proves, or a typed error. */
export async function fetchVerified(
  genesis: Genesis,
  replica: ReplicaAddress,
  query: QueryRequest,
): Promise<{ bundle: ProofBundle; verified: VerifiedBundle }> {
  const host = await connectLightHost(genesis.chainId, [replica], new Set(genesis.validators.map((v) => v.peerId)));
  try {
    const bundle = await requestBundle(host, replica, query);
    return { bundle, verified: verifyBundle(bundle, genesis) };
  } finally {
    await host.stop();
  }
}

/** Largest certificate message accepted from the topic: a header and a QC, no proofs. */
export const MAX_CERTIFICATE_MESSAGE_BYTES = 16 * 1024;

/**
 * The `certificate` topic's rule, for validators and light clients alike: a message is a proof
 * bundle without proofs; it is forwarded only if it verifies under the genesis.
 */
export function checkCertificateMessage(
  bytes: Uint8Array,
  anchor: TrustAnchor,
  options: VerifyOptions = {},
): { ok: true; verified: VerifiedBundle } | { ok: false; reason: string } {
  if (bytes.length > MAX_CERTIFICATE_MESSAGE_BYTES) return { ok: false, reason: `${bytes.length} bytes` };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const bundle = parseBundle(text);
    if (bundle.log || bundle.state) return { ok: false, reason: 'a certificate message carries no proofs' };
    // One text per certificate, as validators publish it: gossip tells messages apart by their
    // bytes, so a valid certificate re-spaced a thousand ways was a thousand new messages, each
    // checked, kept in the seen cache and forwarded.
    if (bundleToJson(bundle) !== text) return { ok: false, reason: 'not in the canonical form (bundleToJson)' };
    return { ok: true, verified: verifyBundle(bundle, anchor, options) };
  } catch (err) {
    if (err instanceof BundleFormatError || err instanceof BundleVerifyError || err instanceof TypeError) return { ok: false, reason: err.message };
    throw err;
  }
}

/**
 * How often a follower asks every validator for its newest certificate, from its start. A quiet
 * chain gossips none, so without asking a follower reported nothing until the next commit; the
 * answer also stands in for a certificate the gossip lost. Asking is activity by the connection
 * slots' measure (network/client-slots.ts), where a peer that only listens is the idlest. (Under
 * a flood that made each validator end 211 clients' connections, a follower that only listened
 * lost no certificate either: it redials. So that is a margin, not a repair.) An answer
 * is ready, so it holds none of a validator's waiting-query slots.
 */
export const FOLLOW_POLL_MS = 10_000;

export interface FollowOptions {
  readonly count?: number;
  readonly durationMs?: number;
  /** FOLLOW_POLL_MS unless told otherwise. */
  readonly pollMs?: number;
  readonly onCertificate: (v: VerifiedBundle) => void;
  readonly onRejected?: (reason: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Joins the mesh as a non-validator peer (dialling every genesis validator), verifies every
 * certificate on the topic and reports each new one (executed height strictly increasing; a
 * stale one is dropped). Stops after `count` certificates, `durationMs`, or on `signal`.
 * Resolves to the number reported.
 */
export async function followCertificates(genesis: Genesis, opts: FollowOptions): Promise<number> {
  const peers = genesis.validators.map((v) => ({ peerId: v.peerId, multiaddr: v.address }));
  const host = await connectLightHost(genesis.chainId, peers, new Set(peers.map((p) => p.peerId)));
  let seen = 0;
  let highest = -1;
  // The topic validator checks each certificate before gossipsub forwards it, and the handler
  // reads the verified result again: one remembering scheme makes the second check pairing-free.
  const scheme = new VerifiedQcCache(genesis.quorumScheme);
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let finished = false;
  const report = (verified: VerifiedBundle) => {
    if (finished || verified.executedHeight <= highest) return;
    highest = verified.executedHeight;
    seen++;
    opts.onCertificate(verified);
    if (opts.count !== undefined && seen >= opts.count) finish();
  };
  host.onGossip(
    'certificate',
    (_from, bytes) => {
      const r = checkCertificateMessage(bytes, genesis, { scheme });
      if (!r.ok) opts.onRejected?.(r.reason);
      // A true certificate this follower has gone past is neither news nor a fault: not passed on.
      return r.ok ? (r.verified.executedHeight > highest ? 'accept' : 'ignore') : 'reject';
    },
    (_from, bytes) => {
      const r = checkCertificateMessage(bytes, genesis, { scheme });
      if (r.ok) report(r.verified);
    },
  );
  const pollMs = opts.pollMs ?? FOLLOW_POLL_MS;
  const asking = new Set<string>();
  /** One question to each validator not still answering the last; settles when all have answered or failed. */
  const ask = (onAnswer: (v: VerifiedBundle) => void): Promise<unknown> =>
    Promise.allSettled(
      peers.map(async (replica) => {
        if (asking.has(replica.peerId)) return;
        asking.add(replica.peerId);
        try {
          // A replica answers the newest certified header that covers the height asked for.
          const bundle = await requestBundle(host, replica, { kind: 'certificate', height: Math.max(1, highest) }, pollMs);
          onAnswer(verifyBundle(bundle, genesis, { scheme }));
        } catch (err) {
          // Unreachable, busy or not there yet: the next round asks again. A bad answer is reported.
          if (err instanceof BundleFormatError || err instanceof BundleVerifyError || err instanceof QueryDecodeError) opts.onRejected?.(`from ${replica.peerId}: ${err.message}`);
        } finally {
          asking.delete(replica.peerId);
        }
      }),
    );
  // The first round reports only the newest of all answers: one replica may answer with a true
  // but old certificate, and reported first it would stand for the chain's state. Later rounds
  // report as answers come: each only fills in what the gossip did not bring.
  let first: VerifiedBundle | undefined;
  void ask((v) => {
    if (first === undefined || v.executedHeight > first.executedHeight) first = v;
  }).then(() => {
    if (first !== undefined) report(first);
  });
  const poller = setInterval(() => void ask(report), pollMs);
  const timer = opts.durationMs === undefined ? undefined : setTimeout(finish, opts.durationMs);
  opts.signal?.addEventListener('abort', finish, { once: true });
  try {
    await done;
  } finally {
    finished = true;
    clearInterval(poller);
    if (timer) clearTimeout(timer);
    await host.stop();
  }
  return seen;
}
