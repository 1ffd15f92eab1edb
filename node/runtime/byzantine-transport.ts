import { ConfigError } from '../../protocol/config-error.js';
import type { Block, QuorumCert } from '../../protocol/types.js';
import type { ByzantineBehavior, ByzantineContext } from '../../sim/byzantine.js';
import { CATALOG } from '../../sim/behaviors/catalog.js';
import { composedInfo } from '../../sim/behaviors/registry.js';
import { Prng } from '../../sim/prng.js';
import type { CertificateOps } from '../consensus/certs.js';
import type { ConsensusAction, ConsensusEvent, ConsensusMessage } from '../consensus/messages.js';
import type { ConsensusSigner } from '../consensus/safety-rules.js';
import { type CompactProposal, encodeMessage, type PayloadRef } from '../../network/codec.js';
import type { Logger } from '../observability/log.js';
import { keyToId } from './compact-proposals.js';
import type { ConsensusTransport } from './ports.js';

/**
 * UNSAFE, for adversarial testing only (`vsmr start --unsafe-byzantine NAME`): turns a real
 * validator process into a Byzantine one. The honest core runs unchanged; what it sends passes
 * through a behaviour of the simulator's catalogue (sim/behaviors/catalog.ts) before it reaches
 * libp2p, and what it receives passes through the behaviour before it reaches the core. The
 * behaviours are transformations of ConsensusAction lists and events, so they are reused as they
 * are: the wrapper turns each transport call into a one-action list, lets the behaviour rewrite
 * it, and carries the result out over the real transport. Timers (`later`) are real timers, the
 * randomness a seeded Prng, and the only key is this validator's own (no colluders).
 *
 * What the simulator cannot do and this file adds, for `flood`: bytes that are not messages at
 * all. Garbage frames on the `consensus` and `vote` protocols, frames above the wire limit
 * (the receiving host drops them as framing errors and charges the peer's gossipsub score), and
 * garbage on the `request` and `certificate` gossip topics (REJECTed by whoever subscribes:
 * honest validators on `request`, following light clients on `certificate`, which validators
 * only guard; the REJECT is what gossipsub's invalid-delivery penalty counts). The simulator's own flood messages
 * that the wire codec cannot even encode (rounds of 1.5 or -1) go out as garbage frames instead.
 *
 * And `withhold-requests`, which has no simulator counterpart (see RUNTIME_ONLY_BEHAVIORS).
 *
 * Not offered here: `twins` (two instances of one key need a second process), `byzzfuzz` (its
 * partitions are over every link of the network) and `equivocate-unsafe` (needs colluders).
 */
/**
 * Behaviours of the real runtime only, with no counterpart in the simulator (which has no
 * compact proposals). `withhold-requests`: every proposal this node leads goes out compact, its
 * last request (or, in an empty block, an added one) replaced by one nobody holds. They go out
 * raw, not through the node's compactor, so its fetch server (which answers only about
 * proposals the compactor wrote) answers that it holds none of them: no honest replica can
 * rebuild its blocks (node/runtime/compact-proposals.ts).
 */
const RUNTIME_ONLY_BEHAVIORS: ReadonlySet<string> = new Set(['withhold-requests']);

export const REAL_BYZANTINE_BEHAVIORS: readonly string[] = [...CATALOG.map((b) => b.name), ...RUNTIME_ONLY_BEHAVIORS];

/** The catalogue behaviour that changes nothing, for a runtime-only behaviour on its own. */
const PASSTHROUGH: Omit<ByzantineBehavior, 'name'> = {
  outgoing: (actions) => [...actions],
  incoming: (event) => event,
  servesSync: true,
};

/** Where raw bytes can go: the libp2p host, addressed by validator index. */
export interface RawSink {
  publish(topic: 'certificate', bytes: Uint8Array): Promise<unknown>;
  /** Request ids of a payload (the node's digest memo), for compact proposals built here. */
  readonly requestKey?: (request: Uint8Array) => string;
  send(to: number, protocol: 'consensus' | 'vote' | 'requests', bytes: Uint8Array): Promise<unknown>;
  /** Bytes above this are refused by every honest receiver's frame decoder. */
  readonly maxMessageBytes: number;
}

export interface ByzantineRuntime {
  readonly name: string;
  /** The transport the core sends through. */
  readonly transport: ConsensusTransport;
  /** A decoded message from validator `from`, as the behaviour lets it reach the core. */
  incoming(from: number, message: ConsensusMessage): ConsensusMessage | undefined;
  /** Client commands this node admitted (material for equivocation twins). */
  commands(commands: readonly Uint8Array[]): void;
  /** Whether the node answers peers' sync requests at all. */
  readonly servesSync: boolean;
  /** Rewrites a sync answer (lying-sync). */
  syncAnswer(answer: { blocks: readonly Block[]; highQc: QuorumCert }): { blocks: readonly Block[]; highQc: QuorumCert };
  /** Raw frames sent so far by the flood extras (for tests and logs). */
  readonly rawSent: number;
  stop(): void;
}

/** Checks a `--unsafe-byzantine` value ("a" or "a,b"); a ConfigError names the valid ones. */
export function checkByzantineName(spec: string): string[] {
  // Every comma-separated part must name a behaviour: an empty one ("equivocate,,") is a typo,
  // refused as the devnet refuses it.
  const names = spec.split(',').map((s) => s.trim());
  const bad = names.find((n) => !REAL_BYZANTINE_BEHAVIORS.includes(n));
  if (bad !== undefined) {
    throw new ConfigError('--unsafe-byzantine', `unknown behaviour ${JSON.stringify(bad)} (known: ${REAL_BYZANTINE_BEHAVIORS.join(', ')})`);
  }
  return names;
}

/** Flood extras per second at most: enough to sink a score, bounded so the flooder stays up. */
const RAW_PER_SECOND = 12;
const OVERSIZED_EVERY_MS = 1000;

export function byzantineRuntime(opts: {
  readonly spec: string;
  readonly inner: ConsensusTransport;
  readonly index: number;
  readonly n: number;
  readonly chainId: string;
  readonly signer: ConsensusSigner;
  readonly certs: CertificateOps;
  readonly baseTimeoutMs: number;
  readonly seed?: number;
  readonly raw?: RawSink;
  readonly logger?: Logger;
  readonly now?: () => number;
}): ByzantineRuntime {
  const names = checkByzantineName(opts.spec);
  const { inner, index, n } = opts;
  const now = opts.now ?? Date.now;
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const rng = new Prng(opts.seed ?? index + 1);
  const flood = names.includes('flood');
  const withhold = names.includes('withhold-requests');
  const catalogNames = names.filter((x) => !RUNTIME_ONLY_BEHAVIORS.has(x));
  if (withhold && !opts.raw?.requestKey) throw new Error('withhold-requests needs a raw sink with request ids (RawSink.requestKey)');
  let rawSent = 0;
  let bucket = { second: -1, used: 0 };
  let lastOversized = -Infinity;

  const garbageBytes = (len: number): Uint8Array => {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = rng.int(0, 255);
    return b;
  };
  const peers = Array.from({ length: n }, (_, i) => i).filter((i) => i !== index);
  const fail = (what: string) => (err: unknown) => opts.logger?.debug({ err: String(err) }, `byzantine ${what} failed`);
  const allowRaw = (): boolean => {
    const s = Math.floor(now() / 1000);
    if (bucket.second !== s) bucket = { second: s, used: 0 };
    if (bucket.used >= RAW_PER_SECOND) return false;
    bucket.used++;
    rawSent++;
    return true;
  };

  /** Raw-byte flood: garbage frames (consensus, votes, request batches), an oversized frame now and then, garbage gossip. */
  const floodRaw = (): void => {
    const raw = opts.raw;
    if (!flood || !raw || stopped) return;
    const to = peers[rng.int(0, peers.length - 1)]!;
    if (allowRaw()) raw.send(to, rng.chance(0.5) ? 'consensus' : 'vote', garbageBytes(rng.int(1, 200))).catch(fail('garbage frame'));
    if (allowRaw()) raw.send(to, 'requests', garbageBytes(rng.int(1, 300))).catch(fail('garbage request batch'));
    if (allowRaw()) raw.publish('certificate', garbageBytes(rng.int(1, 300))).catch(fail('garbage certificate gossip'));
    if (now() - lastOversized >= OVERSIZED_EVERY_MS && allowRaw()) {
      lastOversized = now();
      raw.send(to, 'consensus', new Uint8Array(raw.maxMessageBytes + 1)).catch(fail('oversized frame'));
    }
  };

  const deliver = (to: number | 'all', message: ConsensusMessage): void => {
    try {
      if (to === 'all' && withhold && message.type === 'proposal' && sendWithheld(message)) return;
      if (to === 'all') inner.broadcast(message);
      else inner.send(to, message);
    } catch (err) {
      // The simulator's flood builds messages the codec refuses to encode: send bytes instead.
      opts.logger?.debug({ err: String(err) }, 'byzantine message not encodable; sending garbage instead');
      const raw = opts.raw;
      if (!raw || !allowRaw()) return;
      const target = to === 'all' ? peers[rng.int(0, peers.length - 1)]! : to;
      raw.send(target, 'consensus', garbageBytes(rng.int(1, 400))).catch(fail('garbage frame'));
    }
  };

  const carryOut = (actions: readonly ConsensusAction[]): void => {
    if (stopped) return;
    for (const a of actions) {
      if (a.type === 'broadcast') deliver('all', a.message);
      else if (a.type === 'send') deliver(a.to, a.message);
      // Other actions (timers, commits, sync requests) are the core's own: the runtime carries
      // those out itself; a behaviour only ever adds or removes messages here.
    }
  };

  const ctx: ByzantineContext = {
    index,
    n,
    chainId: opts.chainId,
    seed: opts.seed ?? index + 1,
    rng,
    members: [index],
    memberSigner: (i) => {
      if (i !== index) throw new Error(`a real Byzantine node holds only its own key (${index}), not ${i}`);
      return opts.signer;
    },
    certs: opts.certs,
    baseTimeoutMs: opts.baseTimeoutMs,
    shared: new Map(),
    emit: (actions) => carryOut(actions),
    emitAs: (_instance, actions) => carryOut(actions),
    later: (delayMs, fn) => {
      if (stopped) return;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) fn();
      }, delayMs);
      timers.add(t);
    },
    newCore: () => {
      throw new Error('a real Byzantine node runs one core');
    },
  };
  const behavior: ByzantineBehavior = catalogNames.length > 0 ? composedInfo(catalogNames.join(',')).create(ctx) : { name: names.join(','), ...PASSTHROUGH };

  /**
   * withhold-requests: the proposal as a compact one whose every request goes by id, the last
   * replaced by the id of a request that exists nowhere; replicas fetch it from us and hear that
   * we hold none.
   */
  const sendWithheld = (message: Extract<ConsensusMessage, { type: 'proposal' }>): boolean => {
    const raw = opts.raw;
    if (!raw?.requestKey) return false;
    const refs: PayloadRef[] = message.block.payload.map((bytes) => ({ id: keyToId(raw.requestKey!(bytes)) }));
    // One request nobody holds: in place of the last (a block at the payload limit stays within
    // it), or as the only one of an empty block.
    const phantom = { id: garbageBytes(32) };
    if (refs.length > 0) refs[refs.length - 1] = phantom;
    else refs.push(phantom);
    const compact: CompactProposal = { type: 'compact-proposal', block: { ...message.block, payload: refs }, ...(message.tc ? { tc: message.tc } : {}) };
    const bytes = encodeMessage(compact);
    for (const to of peers) raw.send(to, 'consensus', bytes).catch(fail('withheld proposal'));
    return true;
  };

  const outgoing = (action: ConsensusAction): void => {
    let out: ConsensusAction[];
    try {
      out = behavior.outgoing([action], ctx);
    } catch (err) {
      // A behaviour that cannot transform this message (say, no material yet) sends it as is.
      opts.logger?.debug({ err: String(err) }, 'byzantine behaviour failed; message sent unchanged');
      out = [action];
    }
    carryOut(out);
    floodRaw();
  };

  const transport: ConsensusTransport = {
    broadcast: (message) => outgoing({ type: 'broadcast', message }),
    send: (to, message) => outgoing({ type: 'send', to, message }),
    requestSync: (to, fromHeight) => inner.requestSync(to, fromHeight),
    requestSnapshotChunk: (to, height, offset) => inner.requestSnapshotChunk(to, height, offset),
  };

  return {
    name: behavior.name,
    transport,
    servesSync: behavior.servesSync,
    get rawSent() {
      return rawSent;
    },
    incoming(from, message) {
      let ev: ConsensusEvent | undefined;
      try {
        ev = behavior.incoming({ ...message, from } as ConsensusEvent, ctx, { fromInstance: 0 });
      } catch {
        ev = { ...message, from } as ConsensusEvent;
      }
      if (!ev || (ev.type !== 'proposal' && ev.type !== 'vote' && ev.type !== 'timeout')) return undefined;
      const { from: _from, ...rest } = ev;
      return rest as ConsensusMessage;
    },
    commands(commands) {
      try {
        behavior.incoming({ type: 'commands', commands }, ctx, { fromInstance: 0 });
      } catch {
        // Only bookkeeping for the behaviour; nothing to do if it fails.
      }
    },
    syncAnswer(answer) {
      if (!behavior.syncResponse) return answer;
      try {
        return behavior.syncResponse(answer.blocks, answer.highQc, ctx);
      } catch {
        return answer;
      }
    },
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
