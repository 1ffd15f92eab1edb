/**
 * The libp2p host of a validator: TCP + noise + yamux, identify, ping, gossipsub for broadcast
 * traffic and length-prefixed direct protocols for point-to-point traffic.
 *
 * Everything a peer sends is untrusted: decoders, validators and handlers run inside try/catch,
 * failures are counted and the input dropped, so no peer input can throw out of the event loop.
 */
import { LRUCache } from 'lru-cache';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, type GossipSub, type GossipsubMessage, TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score';
import { identify, type Identify } from '@libp2p/identify';
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { type Ping, ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { createLibp2p, type Libp2p } from 'libp2p';
import { sha256 } from '../crypto/hash.js';
import { MAX_MESSAGE_BYTES, MAX_SYNC_RESPONSE_BYTES } from './codec.js';
import { ClientSlots } from './client-slots.js';
import { DrainWaits, SendProgressWatch, untilAborted } from './drain.js';
import { FrameClock } from './frame-clock.js';
import { sodiumNoiseCrypto } from './noise-crypto.js';
import { withCoalescedWrites } from './socket-writes.js';
import { setYamuxWindowUpdates, type YamuxWindowUpdates } from './yamux-window.js';

export type GossipTopicName = 'proposal' | 'certificate' | 'timeout' | 'request';
/** `consensus` carries proposals and timeouts sent straight to each validator (sender authenticated by noise). */
/** `submit-batch` carries many client requests in one frame and answers per request (protocol/request-batch.ts). */
/** `fetch` asks a proposal's sender for requests its compact proposal named by id (node/runtime/compact-proposals.ts). */
/** `submit-session` keeps one stream per client and answers each request on it as it settles (protocol/submit-session.ts). */
export type DirectProtocolName = 'vote' | 'consensus' | 'requests' | 'sync' | 'fetch' | 'submit' | 'submit-batch' | 'submit-session' | 'query';
export type ValidationResult = 'accept' | 'reject' | 'ignore';

/** Topics and protocols that only genesis validators may use; clients may use the others. */
const CONSENSUS_TOPICS: ReadonlySet<GossipTopicName> = new Set(['proposal', 'certificate', 'timeout']);
const CONSENSUS_PROTOCOLS: ReadonlySet<DirectProtocolName> = new Set(['vote', 'consensus', 'requests', 'sync', 'fetch']);
const ALL_PROTOCOLS: readonly DirectProtocolName[] = ['vote', 'consensus', 'requests', 'sync', 'fetch', 'submit', 'submit-batch', 'submit-session', 'query'];
/**
 * One-way protocols ride one long-lived stream per peer: a frame after the other, never a new
 * stream (and a multistream-select negotiation) per vote or proposal. Request/response
 * protocols keep a stream per exchange, which is what ties an answer to its question.
 */
const CHANNEL_PROTOCOLS: ReadonlySet<DirectProtocolName> = new Set(['vote', 'consensus', 'requests']);
/** Duplex protocols: frames both ways on one long-lived stream, served by handleSession. */
const SESSION_PROTOCOLS: ReadonlySet<DirectProtocolName> = new Set(['submit-session']);
/** Bytes a session may have queued for its peer, unsent; past it the peer is not reading and the session ends. */
const MAX_SESSION_UNSENT_BYTES = 1 << 20;
/** Length-prefix errors: the peer sent bytes that are not a frame (a reset or EOF is not its fault). */
const FRAMING_ERRORS: ReadonlySet<string> = new Set(['InvalidMessageLengthError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError']);

export function topicId(chainId: string, name: GossipTopicName): string {
  return `/vsmr/${chainId}/${name}/1`;
}

export function protocolId(chainId: string, name: DirectProtocolName): string {
  return `/vsmr/${chainId}/${name}/1`;
}

export interface PeerAddress {
  readonly peerId: string;
  readonly multiaddr: string;
}

export interface GossipOptions {
  /** Mesh degree; the defaults (6/4/12) already cover every validator of a small set. */
  readonly D?: number;
  readonly Dlo?: number;
  readonly Dhi?: number;
  readonly heartbeatIntervalMs?: number;
}

export interface NetworkHostOptions {
  readonly chainId: string;
  readonly privateKey: PrivateKey;
  readonly listen: readonly string[];
  /** Genesis peers: dialled at start and redialled with exponential backoff when they drop. */
  readonly peers?: readonly PeerAddress[];
  /** Validator peer ids from genesis; consensus topics and protocols from anyone else are rejected. */
  readonly allowedPeers: ReadonlySet<string>;
  /**
   * The gossip topics this host serves (default: none). Messages on any other topic are dropped
   * before gossipsub keeps anything of them; on a topic served here, every message is rejected
   * (and its sender scored down) until onGossip gives the topic its validator, so nothing is
   * cached, delivered or forwarded unchecked.
   */
  readonly topics?: readonly GossipTopicName[];
  readonly gossip?: GossipOptions;
  /** First redial delay; doubles per failure up to redialMaxMs. */
  readonly redialBaseMs?: number;
  readonly redialMaxMs?: number;
  /** A direct-protocol request must arrive (and a response be read) within this. */
  readonly streamTimeoutMs?: number;
  /**
   * A frame begun on a channel or session stream must arrive whole within this much waiting, and
   * a request/response exchange's request within this of the stream's opening, or the exchange's
   * own timeout if shorter (default: three stream timeouts, 30 s). Without it a peer could start
   * frames it never finishes and pin their buffers.
   */
  readonly frameTimeoutMs?: number;
  /**
   * When yamux streams grant receive credit back (process-wide, see yamux-window.ts): default
   * `half-window`; `every-frame` is the library's own rule, for the benchmark that compares them.
   */
  readonly yamuxWindowUpdates?: YamuxWindowUpdates;
  /**
   * Connections of peers outside `allowedPeers` held at once (default DEFAULT_MAX_CLIENT_CONNECTIONS).
   * One more ends the connections of the client least recently active (ClientSlots); libp2p's
   * own limit is set above it, so a connection is never refused for want of room.
   */
  readonly maxClientConnections?: number;
}

/** Client connections a host holds at once, by default (libp2p's own default limit was 300 in all). */
export const DEFAULT_MAX_CLIENT_CONNECTIONS = 256;
/** Room above the clients' and validators' connections, so libp2p's limit is never what refuses one. */
const CONNECTION_HEADROOM = 64;

export interface SessionServeOptions {
  /** Sessions one connection may hold open (default 16). */
  readonly maxInboundStreams?: number;
  /**
   * Sessions of this protocol open at once over all connections (default DEFAULT_MAX_SESSIONS);
   * a new one past it ends the least recently active. Connections are cheap to open, so the
   * per-connection bound alone let a client pin a frame buffer per session on every connection
   * libp2p admits.
   */
  readonly maxSessions?: number;
  /** Largest frame a session may send (default MAX_MESSAGE_BYTES); a larger one ends it. */
  readonly maxFrameBytes?: number;
}

/** Sessions of one protocol open at once over all connections, by default. */
export const DEFAULT_MAX_SESSIONS = 512;

export interface ServeOptions {
  /** Bounds one exchange on a served stream (default: the host's stream timeout). */
  readonly timeoutMs?: number;
  /** Streams of this protocol one connection may have open at once (default 256). */
  readonly maxInboundStreams?: number;
  /**
   * Exchanges of this protocol served at once over all connections (default
   * DEFAULT_MAX_EXCHANGES). Past it a new stream ends the oldest exchange still waiting for its
   * request, or is refused at once when every exchange is in its handler. The per-connection
   * bound alone lets a peer multiply what it holds here by the connections it opens. Channel
   * protocols are not exchanges: they keep one stream per peer.
   */
  readonly maxExchanges?: number;
  /** Largest request frame (default MAX_MESSAGE_BYTES); a larger one is dropped unread and penalised. */
  readonly maxRequestBytes?: number;
}

/** Exchanges of one request/response protocol served at once over all connections, by default. */
export const DEFAULT_MAX_EXCHANGES = 1024;

export type GossipValidator = (from: string, bytes: Uint8Array) => ValidationResult | Promise<ValidationResult>;
export type GossipHandler = (from: string, bytes: Uint8Array) => void | Promise<void>;
// biome-ignore lint/suspicious/noConfusingVoidType: a one-way handler is a plain `async () => {}`
export type DirectHandler = (from: string, bytes: Uint8Array) => Promise<Uint8Array | undefined | void>;

/** Counters of dropped or failed input: the things a peer's bad behaviour shows up in. */
export interface NetworkStats {
  gossipAccepted: number;
  gossipRejected: number;
  gossipIgnored: number;
  /** Gossip or direct traffic on a consensus topic/protocol from a non-validator. */
  notAllowed: number;
  /** Our own validator or handler threw: counted, never blamed on the peer. */
  handlerErrors: number;
  /** Direct-protocol streams dropped: oversize or malformed frames, timeouts, resets. */
  directDropped: number;
  directHandled: number;
  /** Dial attempts to genesis peers after the first. */
  redials: number;
  /** Streams ended because a frame begun on them, or an exchange's request, did not arrive whole in time (also in directDropped). */
  framesTimedOut: number;
  /** Request/response streams refused because their protocol's exchanges were at their limit, every one in its handler. */
  exchangesRefused: number;
  /** Request/response streams ended, still without their request, to make room for a new one at the limit. */
  exchangesEvicted: number;
  /** Connections and streams refused because their peer is banned (ban). */
  bannedRefused: number;
  /** Clients whose connections were ended to make room for another's (ClientSlots). */
  clientsEvicted: number;
}

export interface NetworkHost {
  readonly peerId: string;
  readonly chainId: string;
  multiaddrs(): string[];
  /** Publishes on the chain's topic. Resolves to the number of peers it was sent to. */
  publish(topic: GossipTopicName, bytes: Uint8Array): Promise<number>;
  /**
   * Subscribes; `validator` decides before gossipsub forwards, `handler` gets accepted messages.
   * With `subscribe: false` the host only guards the topic: it does not join the topic's mesh, so
   * it neither receives nor forwards what others publish there (a peer that sends anyway is still
   * checked, and scored), and its own publications go to the peers subscribed to it.
   */
  onGossip(topic: GossipTopicName, validator: GossipValidator, handler: GossipHandler, opts?: { subscribe?: boolean }): void;
  /** Calls `handler` each time a peer of `allowedPeers` (a validator) is connected anew: its first connection after none. */
  onPeerConnected(handler: (peerId: string) => void): void;
  /** One-way message on a direct protocol (a vote to the next leader). */
  send(peerId: string, protocol: DirectProtocolName, bytes: Uint8Array, timeoutMs?: number): Promise<void>;
  /**
   * Serves a direct protocol; a returned Uint8Array is sent back as the response. A handler that
   * waits for a commit needs a longer `timeoutMs` than a sync answer; see ServeOptions.
   */
  handle(protocol: DirectProtocolName, handler: DirectHandler, opts?: ServeOptions): void;
  /**
   * Serves a session protocol: `handler` sees each frame of a stream in order, with the session,
   * and answers on it whenever it likes, as often as it likes. A session ends when the peer closes
   * its side or the stream fails; its close listeners run then, and later sends are dropped.
   */
  handleSession(protocol: DirectProtocolName, handler: SessionHandler, opts?: SessionServeOptions): void;
  /**
   * Opens a session to a peer; `onFrame` gets each frame the peer sends, in order. A frame above
   * `maxFrameBytes` (default: the message cap) ends the session.
   */
  openSession(peerId: string, protocol: DirectProtocolName, onFrame: (bytes: Uint8Array) => void, opts?: { timeoutMs?: number; maxFrameBytes?: number }): Promise<Session>;
  /** One request and its response; a response above `maxResponseBytes` (default: the sync cap) fails the exchange unread. */
  request(peerId: string, protocol: DirectProtocolName, bytes: Uint8Array, timeoutMs: number, maxResponseBytes?: number): Promise<Uint8Array>;
  /** Connected peer ids. */
  peers(): string[];
  /** Subscribers of a topic among connected peers. */
  topicPeers(topic: GossipTopicName): string[];
  /** Gossipsub score of a peer (0 when unknown). */
  peerScore(peerId: string): number;
  /**
   * Lowers a peer's score for a direct-protocol message the application found invalid (a forged
   * request in a batch): the same penalty as a bad frame, so misbehaviour on a direct stream
   * counts like misbehaviour in gossip.
   */
  penalise(peerId: string): void;
  /**
   * Cuts a client peer off for `ms`: its connections are closed, and new ones (and any stream it
   * still opens) refused until then. For a peer that sends what no honest client would, when a
   * lower score would not stop it (a client joins no mesh). A genesis validator is never banned
   * (its misconduct is scored, and consensus needs its connection): false then, true otherwise.
   */
  ban(peerId: string, ms: number): boolean;
  /** Whether `peerId` is banned now. */
  isBanned(peerId: string): boolean;
  stats(): Readonly<NetworkStats>;
  dial(addr: string): Promise<void>;
  /** Closes every connection to a peer (a genesis peer is then redialled with backoff). */
  disconnect(peerId: string): Promise<void>;
  stop(): Promise<void>;
}

/** One end of a session (handleSession, openSession): frames both ways on one stream. */
export interface Session {
  /** Queues a frame to the other end; false, and the frame dropped, once the session is over. */
  send(bytes: Uint8Array): boolean;
  /** Runs `listener` once the session is over (at once if it already is). */
  onClose(listener: () => void): void;
  readonly closed: boolean;
  /** Ends the session from this side. */
  close(): Promise<void>;
}

/** Serves one frame of a session; throwing counts as a handler error and ends nothing. */
export type SessionHandler = (from: string, frame: Uint8Array, session: Session) => void;

type Services = { identify: Identify; ping: Ping; pubsub: GossipSub };

/**
 * Score parameters for consensus traffic among a small, known validator set:
 *  - IP colocation is off: devnets run every validator on 127.0.0.1, and validators are
 *    admitted by peer id from genesis anyway, not by address diversity.
 *  - Mesh-delivery and mesh-failure penalties are off: consensus traffic is bursty (one proposal
 *    per round, timeouts only on a view change), so an honest idle validator would otherwise
 *    fall below the delivery threshold and be pruned.
 *  - Invalid deliveries (validator REJECT) dominate: weight -10, squared counter, so one bad
 *    message costs -10 (below gossipThreshold) and three graylist the peer; decay 0.99/s gives
 *    a half-life of about 70 s, so a transient bug heals but a spammer stays out.
 *  - A small reward for first deliveries and time in mesh keeps honest forwarders preferred.
 *  - Direct-protocol garbage feeds appSpecificScore, so it also costs gossip standing.
 */
function topicScore(): TopicScoreParams {
  return {
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 10,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.9,
    meshMessageDeliveriesCap: 10,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.9,
    invalidMessageDeliveriesWeight: -10,
    invalidMessageDeliveriesDecay: 0.99,
  };
}

const SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 5,
};

/** Per bad direct-protocol frame; capped so a long-lived peer's record cannot overflow. */
const DIRECT_PENALTY = 10;
const DIRECT_PENALTY_CAP = 1000;
/** Peers whose direct-protocol penalty is remembered at once. */
const MAX_PENALISED_PEERS = 4096;
/**
 * Banned peers remembered at once. Peer ids cost nothing to make, so the list is bounded and the
 * oldest ban goes first; what bounds an attacker with fresh ids is libp2p's inbound connection
 * threshold (5 a second per remote host by default) and what each id may do before its ban.
 */
const MAX_BANNED_PEERS = 8192;
/** Gossip messages one inbound RPC may carry; an RPC with more is dropped whole. */
const MAX_GOSSIP_MESSAGES_PER_RPC = 512;
/** Subscription changes one inbound RPC may carry (there are four topics). */
const MAX_GOSSIP_SUBSCRIPTIONS_PER_RPC = 64;

function isConsensusTopic(name: GossipTopicName): boolean {
  return CONSENSUS_TOPICS.has(name);
}

function withPeer(addr: string, peerId: string): string {
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`;
}

/** Copies out of the frame list: callers get a plain Uint8Array that owns its memory. */
function toBytes(frame: { subarray(): Uint8Array }): Uint8Array {
  return new Uint8Array(frame.subarray());
}

async function writeFrame(stream: Stream, bytes: Uint8Array, signal: AbortSignal, drains: DrainWaits): Promise<void> {
  if (!stream.send(lp.encode.single(bytes))) await drains.wait(stream, signal);
}

/** Reads exactly one length-prefixed frame, or throws. */
async function readFrame(stream: Stream, maxDataLength: number): Promise<Uint8Array> {
  for await (const frame of lp.decode(stream, { maxDataLength })) return toBytes(frame);
  throw new Error('stream ended before a frame');
}

/** A stream cut because a frame begun on it did not arrive whole in time (FrameClock). */
export class FrameTimeoutError extends Error {
  override readonly name = 'FrameTimeoutError';
  constructor(timeoutMs: number) {
    super(`a frame did not arrive whole within ${timeoutMs} ms`);
  }
}

/** Aborts `stream` if `signal` fires; returns the cleanup. */
function abortOn(stream: Stream, signal: AbortSignal): () => void {
  const onAbort = () => stream.abort(new Error('stream timeout'));
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

export async function createNetworkHost(opts: NetworkHostOptions): Promise<NetworkHost> {
  const { chainId, allowedPeers } = opts;
  setYamuxWindowUpdates(opts.yamuxWindowUpdates ?? 'half-window');
  const streamTimeoutMs = opts.streamTimeoutMs ?? 10_000;
  // Longer than one exchange: a 4 MiB proposal sent to many peers at once over a modest link
  // takes seconds per frame, and cutting an honest leader's channel loses what is queued on it.
  const frameTimeoutMs = opts.frameTimeoutMs ?? 3 * streamTimeoutMs;
  for (const [what, ms] of [['streamTimeoutMs', streamTimeoutMs], ['frameTimeoutMs', frameTimeoutMs]] as const) {
    if (!(Number.isFinite(ms) && ms > 0)) throw new RangeError(`${what} must be a positive number of milliseconds, got ${ms}`);
  }
  const drains = new DrainWaits();
  const redialBaseMs = opts.redialBaseMs ?? 500;
  const redialMaxMs = opts.redialMaxMs ?? 30_000;
  const stats: NetworkStats = {
    gossipAccepted: 0,
    gossipRejected: 0,
    gossipIgnored: 0,
    notAllowed: 0,
    handlerErrors: 0,
    directDropped: 0,
    directHandled: 0,
    redials: 0,
    framesTimedOut: 0,
    exchangesRefused: 0,
    exchangesEvicted: 0,
    bannedRefused: 0,
    clientsEvicted: 0,
  };

  /**
   * The frames of a long-lived stream, in order, each to arrive whole within frameTimeoutMs of
   * its length (FrameClock); the caller stops the clock when it is done with the stream.
   */
  function framesOf(stream: Stream, maxDataLength: number): { frames: AsyncIterable<{ subarray(): Uint8Array }>; clock: FrameClock } {
    const clock = new FrameClock(frameTimeoutMs, () => {
      stats.framesTimedOut++;
      stream.abort(new FrameTimeoutError(frameTimeoutMs));
    });
    return { frames: lp.decode(stream, { maxDataLength, ...clock.decodeOptions }), clock };
  }
  // Bounded: every peer id that touches a consensus protocol may get an entry, and peer ids cost
  // nothing to make. Least recently used first out: gossipsub reads the validators' entries each
  // scoring interval, so a stream of fresh ids evicts each other rather than them.
  const directPenalty = new LRUCache<string, number>({ max: MAX_PENALISED_PEERS });
  const penalise = (peer: string) => directPenalty.set(peer, Math.min(DIRECT_PENALTY_CAP, (directPenalty.get(peer) ?? 0) + DIRECT_PENALTY));
  // Each entry expires at its own ban's end (ttl per entry; an expired one reads as absent).
  const banned = new LRUCache<string, true>({ max: MAX_BANNED_PEERS, ttl: 1, allowStale: false });
  const isBanned = (peer: string) => banned.has(peer);

  const topicNames = new Map<string, GossipTopicName>([...new Set(opts.topics ?? [])].map((t) => [topicId(chainId, t), t]));
  const scoreParams: Partial<PeerScoreParams> = {
    topics: Object.fromEntries([...topicNames.keys()].map((t) => [t, topicScore()])),
    topicScoreCap: 100,
    appSpecificScore: (p: string) => -(directPenalty.get(p) ?? 0),
    appSpecificWeight: 1,
    IPColocationFactorWeight: 0,
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: 0.9,
    decayInterval: 1000,
    decayToZero: 0.01,
    retainScore: 3_600_000,
  };

  const slots = new ClientSlots(opts.maxClientConnections ?? DEFAULT_MAX_CLIENT_CONNECTIONS);
  const node: Libp2p<Services> = await createLibp2p<Services>({
    privateKey: opts.privateKey,
    connectionManager: { maxConnections: slots.limit + allowedPeers.size + CONNECTION_HEADROOM },
    addresses: { listen: [...opts.listen] },
    transports: [tcp()],
    connectionEncrypters: [withCoalescedWrites(noise({ crypto: sodiumNoiseCrypto }))],
    // A banned peer is refused once its identity is known (after the handshake, before any stream).
    connectionGater: {
      denyInboundEncryptedConnection: (peerId) => {
        if (!isBanned(peerId.toString())) return false;
        stats.bannedRefused++;
        return true;
      },
    },
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        // Our payloads carry their own BLS/ed25519 signatures; signing the envelope again costs
        // 4.6x throughput (DESIGN.md), and content ids make duplicates from any forwarder collapse.
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (msg) => sha256(msg.data),
        emitSelf: false,
        // Validators run before forwarding: a rejected message never leaves this node.
        asyncValidation: false,
        allowPublishToZeroTopicPeers: true,
        doPX: false,
        allowedTopics: [...topicNames.keys()],
        maxInboundDataLength: MAX_MESSAGE_BYTES + 64 * 1024,
        // Each message of an RPC costs an entry in the seen cache before its validator runs, and
        // a peer is graylisted only between RPCs: the library's 5,000 per RPC let each fresh peer
        // id leave thousands of entries behind. A publication is one message per RPC; an answer
        // to IWANT carries what was asked of the last three heartbeats' gossip, which at a few
        // hundred certificates a second stays under the cap.
        // The control limits are the library's defaults (which the package does not export).
        decodeRpcLimits: {
          maxMessages: MAX_GOSSIP_MESSAGES_PER_RPC,
          maxSubscriptions: MAX_GOSSIP_SUBSCRIPTIONS_PER_RPC,
          maxIhaveMessageIDs: 5000,
          maxIwantMessageIDs: 5000,
          maxControlMessages: 5000,
          maxIdontwantMessageIDs: 512,
          maxPeerInfos: 16,
        },
        scoreParams,
        scoreThresholds: SCORE_THRESHOLDS,
        ...(opts.gossip?.D === undefined ? {} : { D: opts.gossip.D }),
        ...(opts.gossip?.Dlo === undefined ? {} : { Dlo: opts.gossip.Dlo }),
        ...(opts.gossip?.Dhi === undefined ? {} : { Dhi: opts.gossip.Dhi }),
        ...(opts.gossip?.heartbeatIntervalMs === undefined ? {} : { heartbeatInterval: opts.gossip.heartbeatIntervalMs }),
      }),
    },
  });
  const pubsub = node.services.pubsub;
  const selfId = node.peerId.toString();
  // A topic this host serves rejects everything until onGossip registers its validator: with no
  // validator gossipsub would accept, keep and forward whatever anyone sent on it.
  for (const id of topicNames.keys()) {
    pubsub.topicValidators.set(id, () => {
      stats.gossipRejected++;
      return TopicValidatorResult.Reject;
    });
  }

  // ------------------------------------------------------------ gossip
  const gossipHandlers = new Map<string, GossipHandler>();

  const onMessage = (evt: CustomEvent<GossipsubMessage>) => {
    const { propagationSource, msg } = evt.detail;
    const handler = gossipHandlers.get(msg.topic);
    if (handler === undefined) return;
    const from = propagationSource.toString();
    try {
      Promise.resolve(handler(from, msg.data)).catch(() => {
        stats.handlerErrors++;
      });
    } catch {
      stats.handlerErrors++;
    }
  };
  pubsub.addEventListener('gossipsub:message', onMessage);

  function onGossip(topic: GossipTopicName, validator: GossipValidator, handler: GossipHandler, gossipOpts?: { subscribe?: boolean }): void {
    const id = topicId(chainId, topic);
    if (!topicNames.has(id)) throw new RangeError(`gossip topic ${topic} is not one this host serves (NetworkHostOptions.topics)`);
    const consensus = isConsensusTopic(topic);
    pubsub.topicValidators.set(id, async (peer: PeerId, msg) => {
      const from = peer.toString();
      if (consensus && !allowedPeers.has(from)) {
        stats.notAllowed++;
        stats.gossipRejected++;
        return TopicValidatorResult.Reject;
      }
      let result: ValidationResult;
      try {
        result = await validator(from, msg.data);
      } catch {
        // Our validator failing is our bug, not evidence against the peer: drop, do not penalise.
        stats.handlerErrors++;
        stats.gossipIgnored++;
        return TopicValidatorResult.Ignore;
      }
      switch (result) {
        case 'accept':
          stats.gossipAccepted++;
          return TopicValidatorResult.Accept;
        case 'reject':
          stats.gossipRejected++;
          return TopicValidatorResult.Reject;
        default:
          stats.gossipIgnored++;
          return TopicValidatorResult.Ignore;
      }
    });
    gossipHandlers.set(id, handler);
    if (gossipOpts?.subscribe !== false) pubsub.subscribe(id);
  }

  async function publish(topic: GossipTopicName, bytes: Uint8Array): Promise<number> {
    const res = await pubsub.publish(topicId(chainId, topic), bytes);
    return res.recipients.length;
  }

  // ------------------------------------------------------------ direct protocols
  const protocolNames = new Map<string, DirectProtocolName>(ALL_PROTOCOLS.map((p) => [protocolId(chainId, p), p]));

  function handle(name: DirectProtocolName, handler: DirectHandler, handleOpts?: ServeOptions): void {
    if (SESSION_PROTOCOLS.has(name)) throw new Error(`${name} is a session protocol: serve it with handleSession`);
    const exchangeTimeoutMs = handleOpts?.timeoutMs ?? streamTimeoutMs;
    const requestTimeoutMs = Math.min(frameTimeoutMs, exchangeTimeoutMs);
    const maxExchanges = handleOpts?.maxExchanges ?? DEFAULT_MAX_EXCHANGES;
    const maxRequestBytes = handleOpts?.maxRequestBytes ?? MAX_MESSAGE_BYTES;
    let exchanges = 0;
    /** Exchanges still reading their request, oldest first. */
    const reading = new Set<Stream>();
    const id = protocolId(chainId, name);
    const consensus = CONSENSUS_PROTOCOLS.has(name);
    const channel = CHANNEL_PROTOCOLS.has(name);
    const serve = async (stream: Stream, connection: Connection): Promise<void> => {
      const from = connection.remotePeer.toString();
      if (consensus && !allowedPeers.has(from)) {
        stats.notAllowed++;
        stats.directDropped++;
        penalise(from);
        stream.abort(new Error('not a validator'));
        return;
      }
      if (channel) return serveChannel(stream, from);
      if (exchanges >= maxExchanges) {
        // At the limit, the oldest exchange still waiting for its request makes room: a peer
        // that opens streams and sends nothing cannot hold the protocol's slots against those
        // that ask (the same reasoning as sessions). When every exchange is in its handler, the
        // new one is refused.
        const idlest = reading.values().next().value;
        if (idlest === undefined) {
          stats.exchangesRefused++;
          stream.abort(new Error(`busy: ${maxExchanges} ${name} exchanges open`));
          return;
        }
        reading.delete(idlest);
        stats.exchangesEvicted++;
        idlest.abort(new Error(`ended: the oldest ${name} exchange still without its request, exchanges at their limit`));
      }
      const signal = AbortSignal.timeout(exchangeTimeoutMs);
      const release = abortOn(stream, signal);
      exchanges++;
      try {
        let request: Uint8Array;
        // Its own deadline only when shorter than the exchange's (submit); otherwise the same one.
        const readSignal = requestTimeoutMs < exchangeTimeoutMs ? AbortSignal.timeout(requestTimeoutMs) : signal;
        const releaseRead = readSignal === signal ? () => undefined : abortOn(stream, readSignal);
        reading.add(stream);
        try {
          request = await readFrame(stream, maxRequestBytes);
        } catch (err) {
          stats.directDropped++;
          // Slow or gone is not proof of malice; bytes that are not a frame are.
          if (readSignal.aborted) stats.framesTimedOut++;
          else if (err instanceof Error && FRAMING_ERRORS.has(err.name)) penalise(from);
          stream.abort(new Error('bad frame'));
          return;
        } finally {
          reading.delete(stream);
          releaseRead();
        }
        let response: unknown;
        try {
          response = await handler(from, request);
          stats.directHandled++;
        } catch {
          stats.handlerErrors++;
          stream.abort(new Error('handler failed'));
          return;
        }
        if (response instanceof Uint8Array) await writeFrame(stream, response, signal, drains);
        await stream.close({ signal });
      } catch {
        stats.directDropped++;
        stream.abort(new Error('stream failed'));
      } finally {
        release();
        exchanges--;
      }
    };
    /** Frames in order until the peer closes the stream; the handler sees one at a time. */
    const serveChannel = async (stream: Stream, from: string): Promise<void> => {
      const { frames, clock } = framesOf(stream, MAX_MESSAGE_BYTES);
      try {
        for await (const frame of frames) {
          try {
            await handler(from, toBytes(frame));
            stats.directHandled++;
          } catch {
            stats.handlerErrors++;
          }
        }
      } catch (err) {
        stats.directDropped++;
        if (err instanceof Error && FRAMING_ERRORS.has(err.name)) penalise(from);
        stream.abort(new Error('bad frame'));
      } finally {
        clock.stop();
      }
    };
    serveProtocol(id, serve, handleOpts?.maxInboundStreams ?? 256);
  }

  /**
   * Registers `serve` for protocol `id`; its failures, and the registration's, are counted as
   * our own handler errors. Per connection, a peer opening more than `maxInboundStreams` streams
   * of the protocol at once is refused.
   */
  function serveProtocol(id: string, serve: (stream: Stream, connection: Connection) => Promise<void>, maxInboundStreams: number): void {
    void node
      .handle(
        id,
        (stream, connection) => {
          const from = connection.remotePeer.toString();
          // Streams a banned peer opened before its connection closed.
          if (isBanned(from)) {
            stats.bannedRefused++;
            stream.abort(new Error('banned'));
            return;
          }
          if (!allowedPeers.has(from)) slots.touch(from);
          return serve(stream, connection).catch(() => {
            stats.handlerErrors++;
          });
        },
        { maxInboundStreams, force: true },
      )
      .catch(() => {
        stats.handlerErrors++;
      });
  }

  /**
   * A session over `stream`: sends are queued on it synchronously (what a session sends is
   * bounded by what its peer asked, see the handlers), and its end, whatever the cause, runs the
   * close listeners once.
   */
  function sessionOver(stream: Stream): Session & { end(err?: Error): void } {
    const listeners: (() => void)[] = [];
    // Replies that make no progress for the stream timeout end the session.
    const progress = new SendProgressWatch(stream, streamTimeoutMs, () => session.end(new Error('session frames not drained in time')));
    const session = {
      closed: false,
      send(bytes: Uint8Array): boolean {
        if (session.closed || stream.writeStatus !== 'writable') return false;
        try {
          const frame = lp.encode.single(bytes);
          progress.sent(frame.byteLength, stream.send(frame));
        } catch {
          return false;
        }
        // A peer that leaves what it is sent unread is cut off rather than buffered for.
        if (stream.writeBufferLength > MAX_SESSION_UNSENT_BYTES) {
          session.end(new Error('session frames left unread'));
          return false;
        }
        return true;
      },
      onClose(listener: () => void): void {
        if (session.closed) listener();
        else listeners.push(listener);
      },
      end(err?: Error): void {
        if (session.closed) return;
        session.closed = true;
        progress.stop();
        if (err) stream.abort(err);
        else stream.close({ signal: AbortSignal.timeout(streamTimeoutMs) }).catch(() => stream.abort(new Error('session close failed')));
        for (const listener of listeners.splice(0)) {
          try {
            listener();
          } catch {
            stats.handlerErrors++;
          }
        }
      },
      async close(): Promise<void> {
        session.end();
      },
    };
    stream.addEventListener('close', () => session.end(), { once: true });
    return session;
  }

  function handleSession(name: DirectProtocolName, handler: SessionHandler, handleOpts?: SessionServeOptions): void {
    if (!SESSION_PROTOCOLS.has(name)) throw new Error(`${name} is not a session protocol`);
    const id = protocolId(chainId, name);
    const maxSessions = handleOpts?.maxSessions ?? DEFAULT_MAX_SESSIONS;
    const maxFrameBytes = handleOpts?.maxFrameBytes ?? MAX_MESSAGE_BYTES;
    // Open sessions, least recently active first (a frame moves its session to the end). At the
    // limit a new session ends the idlest one rather than being refused: otherwise a few peers
    // holding idle sessions open could lock every client out.
    const live = new Set<Stream>();
    const serve = async (stream: Stream, connection: Connection): Promise<void> => {
      if (live.size >= maxSessions) {
        const idlest = live.values().next().value;
        if (idlest !== undefined) {
          live.delete(idlest);
          stats.directDropped++;
          idlest.abort(new Error('ended: the idlest session, sessions at their limit'));
        }
      }
      live.add(stream);
      try {
        const from = connection.remotePeer.toString();
        const client = !allowedPeers.has(from);
        await serveSession(stream, connection, () => {
          if (live.delete(stream)) live.add(stream);
          if (client) slots.touch(from);
        });
      } finally {
        live.delete(stream);
      }
    };
    const serveSession = async (stream: Stream, connection: Connection, active: () => void): Promise<void> => {
      const from = connection.remotePeer.toString();
      const session = sessionOver(stream);
      const { frames, clock } = framesOf(stream, maxFrameBytes);
      try {
        for await (const frame of frames) {
          if (session.closed) break;
          active();
          try {
            handler(from, toBytes(frame), session);
            stats.directHandled++;
          } catch {
            stats.handlerErrors++;
          }
          if (session.closed) break;
          // A peer that sends and does not read gets nothing more read here until it does:
          // paused, the stream grants no more window, so its frames back up at its own end
          // (what it sends on credit already granted stops at libp2p's read-buffer bound).
          if (stream.writableNeedsDrain && stream.readStatus === 'readable') {
            stream.pause();
            await drains.wait(stream, AbortSignal.timeout(streamTimeoutMs));
            stream.resume();
          }
        }
        session.end();
      } catch (err) {
        stats.directDropped++;
        if (err instanceof Error && FRAMING_ERRORS.has(err.name)) penalise(from);
        session.end(new Error('session failed'));
      } finally {
        clock.stop();
      }
    };
    serveProtocol(id, serve, handleOpts?.maxInboundStreams ?? 16);
  }

  async function openSession(peerId: string, name: DirectProtocolName, onFrame: (bytes: Uint8Array) => void, sessionOpts?: { timeoutMs?: number; maxFrameBytes?: number }): Promise<Session> {
    if (!SESSION_PROTOCOLS.has(name)) throw new Error(`${name} is not a session protocol`);
    const stream = await openStream(peerId, name, AbortSignal.timeout(sessionOpts?.timeoutMs ?? streamTimeoutMs));
    const session = sessionOver(stream);
    void (async () => {
      const { frames, clock } = framesOf(stream, sessionOpts?.maxFrameBytes ?? MAX_MESSAGE_BYTES);
      try {
        for await (const frame of frames) {
          try {
            onFrame(toBytes(frame));
          } catch {
            stats.handlerErrors++;
          }
        }
        session.end();
      } catch {
        stats.directDropped++;
        session.end(new Error('session failed'));
      } finally {
        clock.stop();
      }
    })();
    return { send: (bytes) => session.send(bytes), onClose: (l) => session.onClose(l), close: () => session.close(), get closed() { return session.closed; } };
  }

  async function openStream(peerId: string, name: DirectProtocolName, signal: AbortSignal): Promise<Stream> {
    const id = protocolId(chainId, name);
    if (!protocolNames.has(id)) throw new Error(`unknown protocol ${name}`);
    return node.dialProtocol(peerIdFromString(peerId), id, { signal });
  }

  /** Open outbound channel streams by `peerId protocol`; a closed one is forgotten and reopened. */
  const channels = new Map<string, { readonly opening: Promise<Stream>; stream?: Stream }>();

  /**
   * The channel `key`, opened if need be. The open has its own deadline, not the first writer's
   * (which may be nearly spent): each writer waits for it only as long as its own signal allows.
   */
  function channelTo(key: string, peerId: string, name: DirectProtocolName, signal: AbortSignal): Promise<Stream> {
    const cached = channels.get(key);
    if (cached !== undefined) return untilAborted(cached.opening, signal);
    const entry: { readonly opening: Promise<Stream>; stream?: Stream } = { opening: openStream(peerId, name, AbortSignal.timeout(streamTimeoutMs)) };
    channels.set(key, entry);
    const forget = () => {
      if (channels.get(key) === entry) channels.delete(key);
    };
    entry.opening.then((stream) => {
      entry.stream = stream;
      stream.addEventListener('close', forget, { once: true });
    }, forget);
    return untilAborted(entry.opening, signal);
  }

  /** Forgets the channel `key` if it is still `stream`: a newer one, opened by another writer, stays. */
  function dropChannel(key: string, stream: Stream): void {
    if (channels.get(key)?.stream === stream) channels.delete(key);
  }

  /**
   * Writers of each channel still waiting for its stream (opening, or a retry): while any is, a
   * new frame waits its turn behind them, so the channel keeps its frames in order.
   */
  const waitingWriters = new Map<string, number>();

  /**
   * A frame on the channel to `peerId`. When the channel's stream is open and nobody waits for
   * it, the frame goes to the stream now, in this call: the caller is a consensus step that
   * sends its messages before it executes the blocks it committed, and a frame queued behind an
   * await would leave only after that execution and its flush.
   */
  function sendOnChannel(peerId: string, name: DirectProtocolName, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
    const key = `${peerId} ${name}`;
    const open = channels.get(key)?.stream;
    if (open === undefined || open.writeStatus !== 'writable' || signal.aborted || (waitingWriters.get(key) ?? 0) > 0) {
      return sendOnChannelAwaiting(key, peerId, name, bytes, signal, 0);
    }
    return writeFrame(open, bytes, signal, drains).catch((err: unknown) => {
      failChannel(key, open, err);
      if (signal.aborted) throw err;
      // The one retry, on a fresh stream: the open one may have died with its connection.
      return sendOnChannelAwaiting(key, peerId, name, bytes, signal, 1);
    });
  }

  /** Forgets and aborts a channel stream that failed a writer. */
  function failChannel(key: string, stream: Stream, err: unknown): void {
    dropChannel(key, stream);
    stream.abort(err instanceof Error ? err : new Error(String(err)));
  }

  async function sendOnChannelAwaiting(key: string, peerId: string, name: DirectProtocolName, bytes: Uint8Array, signal: AbortSignal, firstAttempt: number): Promise<void> {
    // One retry on a fresh stream: the cached one may have died with a connection since last
    // use. None once this frame's own deadline has passed: a retry would open a stream only to
    // have it fail.
    for (let attempt = firstAttempt; ; attempt++) {
      let stream: Stream;
      // Counted only across the await: from its end to writeFrame's stream.send nothing else
      // runs, so the frame has taken its turn by the time the next writer looks.
      waitingWriters.set(key, (waitingWriters.get(key) ?? 0) + 1);
      try {
        stream = await channelTo(key, peerId, name, signal);
      } catch (err) {
        if (attempt > 0 || signal.aborted) throw err;
        continue;
      } finally {
        const left = (waitingWriters.get(key) ?? 1) - 1;
        if (left > 0) waitingWriters.set(key, left);
        else waitingWriters.delete(key);
      }
      if (stream.writeStatus !== 'writable') {
        failChannel(key, stream, new Error(`channel is ${stream.writeStatus}`));
        if (attempt === 0 && !signal.aborted) continue;
        throw new Error(`channel to ${peerId} is ${stream.writeStatus}`);
      }
      try {
        await writeFrame(stream, bytes, signal, drains);
        return;
      } catch (err) {
        failChannel(key, stream, err);
        if (attempt > 0 || signal.aborted) throw err;
      }
    }
  }

  async function send(peerId: string, name: DirectProtocolName, bytes: Uint8Array, timeoutMs = streamTimeoutMs): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    if (CHANNEL_PROTOCOLS.has(name)) return sendOnChannel(peerId, name, bytes, signal);
    const stream = await openStream(peerId, name, signal);
    const release = abortOn(stream, signal);
    try {
      await writeFrame(stream, bytes, signal, drains);
      await stream.close({ signal });
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      release();
    }
  }

  async function request(peerId: string, name: DirectProtocolName, bytes: Uint8Array, timeoutMs: number, maxResponseBytes = MAX_SYNC_RESPONSE_BYTES): Promise<Uint8Array> {
    const signal = AbortSignal.timeout(timeoutMs);
    const stream = await openStream(peerId, name, signal);
    const release = abortOn(stream, signal);
    try {
      await writeFrame(stream, bytes, signal, drains);
      const response = await readFrame(stream, Math.min(maxResponseBytes, MAX_SYNC_RESPONSE_BYTES));
      await stream.close({ signal }).catch(() => undefined);
      return response;
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      release();
    }
  }

  // ------------------------------------------------------------ genesis peers, redial
  const genesis = new Map<string, string>();
  for (const p of opts.peers ?? []) if (p.peerId !== selfId) genesis.set(p.peerId, withPeer(p.multiaddr, p.peerId));
  const backoff = new Map<string, number>();
  const timers = new Map<string, NodeJS.Timeout>();
  let stopped = false;

  const scheduleDial = (peerId: string, delayMs: number) => {
    if (stopped || timers.has(peerId)) return;
    const t = setTimeout(() => {
      timers.delete(peerId);
      stats.redials++;
      void dialGenesis(peerId);
    }, delayMs);
    t.unref();
    timers.set(peerId, t);
  };

  async function dialGenesis(peerId: string): Promise<void> {
    const addr = genesis.get(peerId);
    if (stopped || addr === undefined) return;
    if (node.getConnections(peerIdFromString(peerId)).length > 0) {
      backoff.delete(peerId);
      return;
    }
    try {
      await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(streamTimeoutMs) });
      backoff.delete(peerId);
    } catch {
      const attempt = backoff.get(peerId) ?? 0;
      backoff.set(peerId, attempt + 1);
      scheduleDial(peerId, Math.min(redialMaxMs, redialBaseMs * 2 ** attempt));
    }
  }

  const onDisconnect = (evt: CustomEvent<PeerId>) => {
    const id = evt.detail.toString();
    slots.forget(id);
    if (genesis.has(id)) scheduleDial(id, Math.min(redialMaxMs, redialBaseMs * 2 ** (backoff.get(id) ?? 0)));
  };
  node.addEventListener('peer:disconnect', onDisconnect);
  // A client's new connection past the clients' limit ends those of the least recently active.
  const onConnectionOpen = (evt: CustomEvent<Connection>) => {
    const peer = evt.detail.remotePeer.toString();
    if (allowedPeers.has(peer)) return;
    slots.connected(peer);
    const clients = node.getConnections().filter((c) => !allowedPeers.has(c.remotePeer.toString()));
    if (clients.length <= slots.limit) return;
    const held = new Map<string, number>();
    for (const c of clients) held.set(c.remotePeer.toString(), (held.get(c.remotePeer.toString()) ?? 0) + 1);
    for (const victim of slots.toEvict(clients.length, (p) => held.get(p) ?? 0, peer)) {
      stats.clientsEvicted++;
      slots.forget(victim);
      node.hangUp(peerIdFromString(victim)).catch(() => undefined);
    }
  };
  node.addEventListener('connection:open', onConnectionOpen);
  const connectedHandlers: ((peerId: string) => void)[] = [];
  const onPeerConnect = (evt: CustomEvent<PeerId>) => {
    const peer = evt.detail.toString();
    if (!allowedPeers.has(peer)) return;
    for (const h of connectedHandlers) h(peer);
  };
  node.addEventListener('peer:connect', onPeerConnect);
  for (const id of genesis.keys()) void dialGenesis(id);

  return {
    peerId: selfId,
    chainId,
    multiaddrs: () => node.getMultiaddrs().map((m) => m.toString()),
    publish,
    onGossip,
    onPeerConnected: (handler) => {
      connectedHandlers.push(handler);
    },
    send,
    handle,
    handleSession,
    openSession,
    request,
    peers: () => node.getPeers().map((p) => p.toString()),
    topicPeers: (topic) => pubsub.getSubscribers(topicId(chainId, topic)).map((p) => p.toString()),
    peerScore: (peerId) => (pubsub as unknown as { getScore?: (p: string) => number }).getScore?.(peerId) ?? 0,
    penalise,
    ban: (peerId, ms) => {
      if (allowedPeers.has(peerId) || !(ms > 0)) return false;
      banned.set(peerId, true, { ttl: ms });
      // Closed on the next turn of the event loop: the answers to what brought the ban, sent
      // in this one, leave first, so the client can tell why its connection went.
      setTimeout(() => {
        try {
          node.hangUp(peerIdFromString(peerId)).catch(() => undefined);
        } catch {
          // Not a peer id libp2p can parse: there is no connection of it to close.
        }
      }, 0).unref();
      return true;
    },
    isBanned,
    stats: () => ({ ...stats }),
    dial: async (addr) => {
      await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(streamTimeoutMs) });
    },
    disconnect: async (peerId) => {
      await node.hangUp(peerIdFromString(peerId));
    },
    stop: async () => {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      node.removeEventListener('peer:disconnect', onDisconnect);
      node.removeEventListener('connection:open', onConnectionOpen);
      node.removeEventListener('peer:connect', onPeerConnect);
      pubsub.removeEventListener('gossipsub:message', onMessage);
      await node.stop();
    },
  };
}
