import { maxFaulty } from '../../crypto/qc/quorum.js';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import { ValidationPool } from '../../validation/pool.js';
import { BlsCertificateOps, blsSigner } from '../consensus/bls-certs.js';
import { loadNodeConfig } from '../config/node-config.js';
import { ConfigError } from '../../protocol/config-error.js';
import { genesisHistoryDigest } from '../../protocol/genesis.js';
import { type ObservabilityServer, startObservabilityServer } from '../observability/http.js';
import { createLogger, type Logger } from '../observability/log.js';
import { createNodeMetrics } from '../observability/metrics.js';
import { NodeStore } from '../storage/lmdb-store.js';
import { claimDataDir, claimValidatorKey } from './single-instance.js';
import { SafetyBindingCheck, type StoreSite } from './safety-binding.js';
import { CONFIG_FILE } from '../config/node-config.js';
import { join } from 'node:path';
import { MAX_VALIDATION_WORKERS_PER_CORE, maxValidationWorkers } from '../config/validation-workers.js';
import { availableParallelism } from 'node:os';
import { decodeConsensus, p2pTransport } from './p2p-transport.js';
import { encodeSubmitReplies, type SubmitReply } from '../../protocol/submit-reply.js';
import { decodeRequestBatch, RequestBatchDecodeError } from '../../protocol/request-batch.js';
import { RequestBatcher, serveRequestBatches } from './request-relay.js';
import { timedCertificateOps } from './timed-certs.js';
import { serveSubmitSessions } from './submit-sessions.js';
import { isReceipt, type SubmitAnswer, ValidatorNode } from './validator-node.js';
import { ClientConduct } from './client-conduct.js';
import { ignore, reject } from '../../validation/verdict.js';
import { QueryService } from './query-service.js';
import { checkCertificateMessage } from '../../client/light.js';
import { MAX_MESSAGE_BYTES } from '../../network/codec.js';
import { serveSyncRequests } from './sync-service.js';
import { MAX_QUERY_REQUEST_BYTES } from '../../protocol/query.js';
import { MAX_REQUEST_BYTES } from '../../protocol/request.js';
import { MAX_BATCH_BYTES } from '../../protocol/request-batch.js';
import { type ByzantineRuntime, byzantineRuntime, checkByzantineName } from './byzantine-transport.js';
import { EvidenceRecorder } from './evidence-recorder.js';
import { ProposalCompactor, RequestStashes, type StashLimits } from './compact-proposals.js';
import { CompactProposalReceiver, serveRequestFetches } from './proposal-fetch.js';

/**
 * The stash covers what the mempool does not hold: requests still in validation (a proposal can
 * overtake its requests' relayed copies there) and requests a full mempool refused. One budget,
 * split evenly between the origins (the other validators and this node's clients), each of which
 * hands over about 1/n of the traffic: about two seconds of saturated traffic per origin at any
 * n. Kept small because every array it holds stays alive (and so does its entry in the
 * request-id memo), which costs the garbage collector.
 */
const STASH_BUDGET = Object.freeze({ maxRequests: 32_768, maxBytes: 64 * 1024 * 1024 });

function stashLimitsPerOrigin(validators: number): StashLimits {
  return { maxRequests: Math.ceil(STASH_BUDGET.maxRequests / validators), maxBytes: Math.ceil(STASH_BUDGET.maxBytes / validators) };
}

/** How long `submit` waits for the commit; its stream is served a little longer, so a slow commit gets its `timeout` answer rather than an aborted stream. */
const SUBMIT_WAIT_MS = 30_000;
/** What client conduct hears of an accepted copy: neither credit nor blame. */
const COPY = ignore('duplicate');
/** submit-batch exchanges served at once over all connections: each may hold a 1 MiB batch. */
const MAX_BATCH_EXCHANGES = 256;

export interface RunningValidator {
  readonly node: ValidatorNode;
  readonly host: NetworkHost;
  readonly logger: Logger;
  readonly metricsPort: number;
  /**
   * Settles with the error when the node stops itself on a fatal one (a storage write that
   * failed, a ledger that diverged); it serves nothing more, so its process should end and its
   * supervisor see it. Never settles otherwise.
   */
  readonly halted: Promise<Error>;
  stop(): Promise<void>;
}

/**
 * Starts one validator from its home directory: config, genesis and keys (checked against each
 * other), the LMDB store, the libp2p host, the validation pool, metrics, then the node. Any
 * configuration problem surfaces as a ConfigError with a one-line message naming the field.
 */
export async function startValidator(
  home: string,
  opts: {
    allowUnsafeUnsigned?: boolean;
    /** UNSAFE, adversarial testing only: run this Byzantine behaviour (byzantine-transport.ts). */
    unsafeByzantine?: string;
    /**
     * Start on a data directory that does not hold this key's safety state (its store was lost):
     * the key may sign again in rounds it signed in before (safety-binding.ts, DEPLOY.md §6).
     */
    freshSafetyState?: boolean;
  } = {},
): Promise<RunningValidator> {
  if (opts.unsafeByzantine !== undefined) checkByzantineName(opts.unsafeByzantine);
  const { config, genesis, keys } = await loadNodeConfig(home);
  if (config.unsafeUnsignedRequests && opts.allowUnsafeUnsigned !== true) {
    throw new ConfigError('config.unsafeUnsignedRequests', 'is true, which skips client signature checks (benchmarks only); refusing to start without --unsafe-unsigned');
  }
  if (config.validationWorkers !== undefined && config.validationWorkers > maxValidationWorkers()) {
    throw new ConfigError(
      'config.validationWorkers',
      `${config.validationWorkers} is more than this machine can use: at most ${maxValidationWorkers()} (${MAX_VALIDATION_WORKERS_PER_CORE} per core, ${availableParallelism()} cores)`,
    );
  }
  const chainId = genesis.chainId;
  const index = config.index;
  const logger = createLogger({ level: config.logLevel, chainId, validator: index });
  const metrics = createNodeMetrics({ chainId, validator: index });
  const genesisDigest = genesisHistoryDigest(genesis);
  const site: StoreSite = { chainId, genesis: genesisDigest, dataDir: config.dataDir, configFile: join(config.home, CONFIG_FILE) };
  // Before the store: a second process on this key or this directory must be refused before it
  // reads, let alone signs, anything (single-instance.ts).
  const keyClaim = await claimValidatorKey(chainId, keys.peerId);
  const { safetyBinding, dirClaim } = await (async () => {
    // A dataDir that holds no store, while the key signs from one elsewhere, is refused before
    // the directory's claim creates it: a typo must not become a directory.
    const check = await SafetyBindingCheck.open(config.home, site, opts.freshSafetyState === true, logger);
    check.beforeStore();
    return { safetyBinding: check, dirClaim: await claimDataDir(config.dataDir) };
  })().catch(async (err: unknown) => {
    await keyClaim.release();
    throw err;
  });
  if (!dirClaim.held) logger.warn({ dataDir: config.dataDir, platform: process.platform }, 'no single-instance claim on this platform: never start two validators on one directory or one key');
  // What has started so far, stopped in reverse if the start fails part way: a libp2p host or
  // worker threads left running kept the process alive after it had reported its error, so a
  // supervisor's restart never came. A started validator's stop() uses `shutdown` instead.
  const started: (() => unknown)[] = [() => keyClaim.release(), () => dirClaim.release()];
  try {
    const store = NodeStore.open(config.dataDir, { chainId, genesisDigest });
    started.push(() => store.close());
    await safetyBinding.afterStore(store.storeId);
    // The genesis's own backend instance: the signer and the certificate checks then share noble's
    // memo of hashed messages (a vote's digest is hashed once, for signing and for its QC).
    const backend = genesis.validatorSet.backend;
    const peerIds = genesis.validators.map((v) => v.peerId);
    const indexOf = new Map(peerIds.map((p, i) => [p, i]));
    let host: NetworkHost;
    try {
      host = await createNetworkHost({
        chainId,
        privateKey: keys.libp2pPrivateKey,
        listen: [config.listen],
        peers: genesis.validators.filter((v) => v.index !== index).map((v) => ({ peerId: v.peerId, multiaddr: v.address })),
        allowedPeers: new Set(peerIds),
        // Consensus travels on direct streams; gossip carries only certificates to light clients.
        topics: ['certificate'],
      });
    } catch (err) {
      throw listenFailure('config.listen', config.listen, err);
    }
    started.push(() => host.stop());
    const pool = new ValidationPool({
      chainId,
      bls: config.blsBackend,
      unsafeSkipSignatures: config.unsafeUnsignedRequests,
      ...(config.validationWorkers === undefined ? {} : { workers: config.validationWorkers }),
      onWork: (where) => metrics.validationTasks.inc({ where }),
    });
    started.push(() => pool.close({ drain: false }));
    // On a threshold chain votes are signed with the share (loadNodeConfig checked it).
    const signer = blsSigner(backend, index, keys.blsSecretKey, keys.thresholdShare);
    // Votes are checked per QC by the core and only on a conflict by the evidence watch; a QC is
    // checked once per process (BlsCertificateOps remembers it).
    const blsCerts = new BlsCertificateOps(chainId, genesis.validatorSet, genesis.quorumScheme);
    const certs = timedCertificateOps(blsCerts, metrics);
    // The core's round bounds what the watch remembers (messages arrive only once `node` exists).
    const evidence = new EvidenceRecorder(certs, chainId, metrics, logger, () => node.round, (round) => node.leaderOf(round));
    // Requests seen here, by id: compact proposals are written against the others' and rebuilt
    // from ours (the mempool's first, then the stash's; see STASH_BUDGET).
    const stash = new RequestStashes(stashLimitsPerOrigin(genesis.validators.length));
    const requestKey = (bytes: Uint8Array) => pool.requestIds.key(bytes);
    const compactor = new ProposalCompactor({ keyOf: requestKey, stash, now: () => performance.now() });
    const honestTransport = p2pTransport({ host, self: index, peerIds, metrics, logger, compactor });
    let byz: ByzantineRuntime | undefined;
    if (opts.unsafeByzantine !== undefined) {
      byz = byzantineRuntime({
        spec: opts.unsafeByzantine,
        inner: honestTransport,
        index,
        n: genesis.validators.length,
        chainId,
        signer,
        certs,
        baseTimeoutMs: genesis.consensus.baseTimeoutMs,
        logger,
        raw: {
          maxMessageBytes: MAX_MESSAGE_BYTES,
          publish: (topic, bytes) => host.publish(topic, bytes),
          send: (to, protocol, bytes) => host.send(peerIds[to]!, protocol, bytes),
          requestKey: (bytes) => pool.requestIds.key(bytes),
        },
      });
      logger.warn({ behavior: byz.name }, 'UNSAFE: running as a Byzantine validator (--unsafe-byzantine); for adversarial testing only');
      started.push(() => byz?.stop());
    }
    let onHalt: (err: Error) => void = () => undefined;
    const halted = new Promise<Error>((resolve) => {
      onHalt = resolve;
    });
    const node = new ValidatorNode({
      chainId,
      index,
      n: genesis.validators.length,
      signer,
      certs,
      onHalt: (err) => onHalt(err),
      store,
      transport: byz?.transport ?? honestTransport,
      validator: pool,
      consensus: genesis.consensus,
      app: { allowMint: genesis.app.allowMint, initialBalances: genesis.app.initialBalances },
      metrics,
      logger,
      snapshots: { interval: config.snapshotInterval, retainBlocks: config.retainBlocks },
      emptyProposalHoldMs: config.emptyProposalHoldMs,
      mempool: {
        maxRequests: config.maxPendingRequests,
        maxBytes: config.maxPendingBytes,
        ...(config.maxPendingPerClient === undefined ? {} : { perClient: config.maxPendingPerClient }),
      },
    });
    if (config.maxPendingRequests < genesis.consensus.maxBatchCommands) {
      // Allowed (an operator may want short queues), but blocks cannot fill from such a queue.
      logger.warn({ maxPendingRequests: config.maxPendingRequests, maxBatchCommands: genesis.consensus.maxBatchCommands }, 'mempool bound below the block size: blocks will not fill');
    }
    // The core resumes from its ledger and its certified tip before any peer or client can reach
    // it (the handlers are registered below): an event stepped into a core still rooted at
    // genesis would act, and keep nothing, before the restart had put it where it stands.
    node.start();
    started.push(() => node.stop());
    // A validator connected anew is greeted with this one's last timeout: on a quiet chain nothing
    // else would tell it, for up to the backed-off timer, where the others are (Replica.greetPeer).
    host.onPeerConnected((peerId) => {
      const peer = indexOf.get(peerId);
      if (peer !== undefined && peer !== index) node.peerConnected(peer);
    });
    /** Which queue is full, if one is: checked before a request costs any validation. */
    const fullQueue = (): 'validation' | 'mempool' | undefined =>
      !pool.canAcceptWork() ? 'validation' : node.acceptsRequests(pool.queuedRequests) ? undefined : 'mempool';

    const inbound = async (from: string, bytes: Uint8Array) => {
      const sender = indexOf.get(from);
      const decoded = decodeConsensus(bytes);
      metrics.bytesIn.inc({ topic: decoded?.type ?? 'garbage' }, bytes.length);
      if (sender === undefined || decoded === undefined) {
        metrics.rejectedMessages.inc({ reason: 'undecodable' });
        // Only validators reach these protocols, and none that is honest sends such bytes.
        host.penalise(from);
        return undefined;
      }
      // A compact proposal is rebuilt before anything looks at it. A fetch holds the stream it
      // came on (its later frames wait, in order) for at most FETCH_TIMEOUT_MS.
      const msg = decoded.type === 'compact-proposal' ? await proposals.rebuild(decoded, { peer: from, sender }) : decoded;
      if (msg === undefined) return undefined;
      evidence.observe(sender, msg);
      const delivered = byz ? byz.incoming(sender, msg) : msg;
      if (delivered) node.deliver(sender, delivered);
      return undefined;
    };
    const proposals = new CompactProposalReceiver({
      host,
      lookup: (key) => node.pendingRequest(key) ?? stash.get(key)?.bytes,
      keyOf: requestKey,
      currentRound: () => node.round,
      leaderOf: (round) => node.leaderOf(round),
      metrics,
      logger,
    });
    host.handle('consensus', inbound);
    host.handle('vote', inbound);
    // Answers only about proposals that went out through this compactor: a withholding Byzantine
    // node sends its own (withhold-requests), so it answers "none of these" about them.
    serveRequestFetches(host, compactor, metrics);
    serveSyncRequests(host, {
      blocksFrom: (fromHeight) => {
        const answer = node.serveSync(fromHeight);
        return byz && !('pruned' in answer) ? byz.syncAnswer(answer) : answer;
      },
      snapshotChunk: (height, offset) => node.serveSnapshot(height, offset),
      answers: () => !byz || byz.servesSync,
    });
    // Client requests go to every other validator, so whoever leads the round can propose them at
    // once; in batches (request-relay.ts): one frame per peer and one pool call per batch.
    const otherValidators = peerIds.filter((_, i) => i !== index);
    const requestRelay = new RequestBatcher({
      publish: (batch) => {
        metrics.bytesOut.inc({ topic: 'requests' }, batch.length * otherValidators.length);
        return Promise.all(otherValidators.map((p) => host.send(p, 'requests', batch)));
      },
      ready: () => otherValidators.length === 0 || host.peers().some((p) => otherValidators.includes(p)),
      onError: (err) => logger.debug({ err: String(err) }, 'request relay failed'),
    });
    started.push(() => requestRelay.stop());
    serveRequestBatches(host, {
      canAcceptWork: () => fullQueue() === undefined,
      onReceived: (requests, from) => {
        const now = performance.now();
        for (const r of requests) stash.add(from, requestKey(r), r, now);
      },
      admit: async (requests) => {
        const verdicts = await node.admit(requests);
        if (byz) byz.commands(requests.filter((_, i) => verdicts[i]!.kind === 'accept'));
        return verdicts;
      },
      onVerdict: (verdict) => {
        if (verdict === 'reject') metrics.rejectedMessages.inc({ reason: 'request-batch' });
      },
    });
    // Clients: a peer that sends what no honest client does is cut off, and a peer gets only as
    // many requests in check at once as its record allows (client-conduct.ts). A frame is checked
    // in pieces of what the allowance leaves; the allowance spent or a full queue ends it, and
    // what is left is answered busy, unchecked, for the client to send again.
    // Validators are never banned (host.ban refuses them): they keep no record, and a fixed cap.
    const conduct = new ClientConduct({}, undefined, new Set(peerIds));
    const onBan = (from: string) => {
      if (!host.ban(from, conduct.options.banMs)) return;
      metrics.clientBans.inc();
      logger.warn({ peer: from, banMs: conduct.options.banMs, rejectLimit: conduct.options.rejectLimit }, 'client banned: too many rejected requests (forged, malformed or another chain\'s)');
    };
    const submitFrom = async (from: string, requests: readonly Uint8Array[]): Promise<SubmitAnswer[]> => {
      const answers: SubmitAnswer[] = [];
      let at = 0;
      let full: 'validation' | 'mempool' | undefined;
      try {
        while (at < requests.length) {
          // The caller asked the queues before the first piece; later ones ask again.
          if (at > 0) {
            full = fullQueue();
            if (full !== undefined) break;
          }
          const take = Math.min(requests.length - at, conduct.allowance(from));
          if (take <= 0) break;
          const piece = take === requests.length ? requests : requests.slice(at, at + take);
          conduct.begin(from, take);
          let got: SubmitAnswer[];
          try {
            got = await node.submit(piece);
          } catch (err) {
            conduct.end(from, take, []);
            throw err;
          }
          // A copy of a request already in (accepted again, in no time: pool.ts merges copies in
          // check, and one checked is remembered) earns no allowance: one signature must not buy
          // the room to have thousands of forgeries checked.
          if (conduct.end(from, take, got.map((a) => (a.copy === true ? COPY : a.verdict)))) onBan(from);
          answers.push(...got);
          at += take;
        }
      } catch (err) {
        // Our own failure: the pieces already admitted will commit, but nobody here waits on them.
        for (const a of answers) a.cancel?.();
        throw err;
      }
      const left = requests.length - at;
      if (left > 0) {
        if (full !== undefined) metrics.busyRequests.inc({ queue: full }, left);
        else metrics.clientRequestsUnchecked.inc(left);
        for (let i = 0; i < left; i++) answers.push({ verdict: ignore('busy') });
      }
      return answers;
    };
    const malformedFrom = (from: string) => {
      conduct.begin(from, 1);
      if (conduct.end(from, 1, [reject('malformed')])) onBan(from);
    };

    host.handle('submit', async (from, bytes) => {
      // Back-pressure: a full validation queue or mempool answers busy, which a client retries later.
      const full = fullQueue();
      if (full !== undefined) {
        metrics.busyRequests.inc({ queue: full });
        return new TextEncoder().encode(JSON.stringify({ status: 'ignored', reason: 'busy' } satisfies SubmitReply));
      }
      const [answer] = await submitFrom(from, [bytes]);
      if (answer!.verdict.kind === 'accept') {
        byz?.commands([bytes]);
        stash.add('client', requestKey(bytes), bytes, performance.now());
        requestRelay.add(bytes);
      }
      const reply = await submitReply(answer!);
      return new TextEncoder().encode(JSON.stringify(reply));
    }, { timeoutMs: SUBMIT_WAIT_MS + 5_000, maxRequestBytes: MAX_REQUEST_BYTES });
    host.handle('submit-batch', async (from, bytes) => {
      let requests: Uint8Array[];
      try {
        requests = decodeRequestBatch(bytes);
      } catch (err) {
        // No replies at all: the client's decoder reports the frame as refused.
        if (err instanceof RequestBatchDecodeError) {
          malformedFrom(from);
          return encodeSubmitReplies([]);
        }
        throw err;
      }
      const full = fullQueue();
      if (full !== undefined) {
        metrics.busyRequests.inc({ queue: full }, requests.length);
        return encodeSubmitReplies(requests.map(() => ({ status: 'ignored', reason: 'busy' })));
      }
      const answers = await submitFrom(from, requests);
      const now = performance.now();
      answers.forEach((a, i) => {
        if (a.verdict.kind !== 'accept') return;
        byz?.commands([requests[i]!]);
        stash.add('client', requestKey(requests[i]!), requests[i]!, now);
        requestRelay.add(requests[i]!);
      });
      return encodeSubmitReplies(await Promise.all(answers.map(submitReply)));
    }, { timeoutMs: SUBMIT_WAIT_MS + 5_000, maxRequestBytes: MAX_BATCH_BYTES, maxExchanges: MAX_BATCH_EXCHANGES });

    // Client sessions: one stream per client, each request answered on it as it settles.
    serveSubmitSessions(host, {
      submit: submitFrom,
      onMalformed: malformedFrom,
      fullQueue,
      onBusy: (queue, count) => metrics.busyRequests.inc({ queue }, count),
      onAccepted: (accepted) => {
        byz?.commands(accepted);
        const now = performance.now();
        for (const r of accepted) {
          stash.add('client', requestKey(r), r, now);
          requestRelay.add(r);
        }
      },
      waitMs: SUBMIT_WAIT_MS,
      onError: (err) => logger.warn({ err: String(err) }, 'submit session failed'),
    });

    // Light clients: verifiable reads from this one replica, and certificates gossiped on commit.
    const queries = new QueryService({ chainId, node, store, host, logger, publisher: { index, n: genesis.validators.length, copies: maxFaulty(genesis.validators.length) + 1 } });
    started.push(() => queries.stop());
    host.handle('query', async (from, bytes) => queries.handle(bytes, from), { maxRequestBytes: MAX_QUERY_REQUEST_BYTES });
    // Certificates are for light clients: validators do not join the topic's mesh, so a header
    // published here reaches the clients subscribed to this validator and is never forwarded
    // validator to validator (which cost n-1 copies, and IDONTWANTs, per header). A client dials
    // every validator and f+1 of them publish each header, so one honest publisher suffices.
    // Whatever a peer sends on the topic anyway is still checked (normally a QC this node already
    // verified in a proposal, so the shared cache answers without a pairing) and scored.
    host.onGossip('certificate', (_from, bytes) => (checkCertificateMessage(bytes, genesis, { scheme: blsCerts.scheme }).ok ? 'accept' : 'reject'), () => undefined, { subscribe: false });


    const status = () => {
      metrics.peers.set(host.peers().length);
      return node.status(host.peers().length);
    };
    const health = () => (node.failure ? { ok: false, reason: node.failure.message } : { ok: true });
    let server: ObservabilityServer | undefined;
    let statusServer: ObservabilityServer | undefined;
    let sampler: NodeJS.Timeout | undefined;
    /** Stops everything this validator started, whatever of it has started; stop() and a failed start share it. */
    const shutdown = async (): Promise<void> => {
      if (sampler !== undefined) clearInterval(sampler);
      byz?.stop();
      requestRelay.stop();
      queries.stop();
      node.stop();
      await host.stop();
      await server?.close();
      await statusServer?.close();
      await pool.close({ drain: false }).catch(() => undefined);
      // After a fatal error the store is left to the process's end: every committed transaction
      // is already durable, and lmdb-js, after a write the system refused, can abort the process
      // in close (free(): invalid pointer, found by the storage-failure test).
      if (node.failure === undefined) await store.close();
      await dirClaim.release();
    await keyClaim.release();
    };
    let binding = { field: 'config.metricsPort', port: config.metricsPort };
    try {
      server = await startObservabilityServer({ port: config.metricsPort, registry: metrics.registry, status, health });
      // statusPort, when set, serves /status and /health without /metrics, so an operator can hand
      // status to tooling without exposing every metric; /status stays on metricsPort as well.
      binding = { field: 'config.statusPort', port: config.statusPort ?? 0 };
      statusServer = config.statusPort === undefined ? undefined : await startObservabilityServer({ port: config.statusPort, status, health });
    } catch (err) {
      // A port in use, say. The core already runs (it started before the handlers): everything
      // it holds is stopped below, so the process exits with the error instead of a validator
      // left running without its ports or handlers, its store still locked.
      await shutdown();
      throw new StartAbandoned(listenFailure(binding.field, `127.0.0.1:${binding.port}`, err));
    }
    const metricsServer = server;
    metrics.validationWorkers.set(pool.workers);
    // Both series from the start, so a dashboard's rate() has a zero to begin from.
    for (const where of ['worker', 'main'] as const) metrics.validationTasks.inc({ where }, 0);
    // The host keeps plain counters; the sampler moves what they gained into the metric.
    let networkSeen: Readonly<Record<string, number>> = {};
    for (const event of Object.keys(host.stats())) metrics.networkEvents.inc({ event }, 0);
    // Sampled rather than pushed: the pool's queue and the peer count change on their own.
    sampler = setInterval(() => {
      metrics.validationQueueDepth.set(pool.queuedRequests);
      metrics.peers.set(host.peers().length);
      const network = host.stats();
      for (const [event, count] of Object.entries(network)) {
        const seen = networkSeen[event] ?? 0;
        if (count > seen) metrics.networkEvents.inc({ event }, count - seen);
      }
      networkSeen = network;
      // The gossipsub score this node gives each validator: where a misbehaving peer shows up.
      peerIds.forEach((p, i) => {
        if (i !== index) metrics.peerScore.set({ peer: String(i) }, host.peerScore(p));
      });
    }, 1000);
    sampler.unref();
    logger.info({ peerId: host.peerId, listen: host.multiaddrs(), metricsPort: metricsServer.port }, 'validator started');

    let stopping: Promise<void> | undefined;
    return {
      node,
      host,
      logger,
      metricsPort: metricsServer.port,
      halted,
      stop() {
        stopping ??= (async () => {
          await shutdown();
          logger.info('validator stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    // `shutdown` already stopped everything when the observability servers failed.
    if (err instanceof StartAbandoned) throw err.cause;
    for (const stop of started.reverse()) await Promise.resolve().then(stop).catch(() => undefined);
    throw err;
  }
}

async function submitReply(answer: Awaited<ReturnType<ValidatorNode['submit']>>[number]): Promise<SubmitReply> {
  const v = answer.verdict;
  if (v.kind !== 'accept') return { status: v.kind === 'reject' ? 'rejected' : 'ignored', reason: v.reason };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<SubmitReply>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'timeout' }), SUBMIT_WAIT_MS);
  });
  // No receipt after a snapshot install (see NoReceipt): the client hears why at once rather
  // than waiting out its deadline.
  const committed = answer.committed!.then((r): SubmitReply => (isReceipt(r) ? { status: 'committed', ...r } : { status: 'ignored', reason: r.kind }));
  try {
    return await Promise.race([committed, timeout]);
  } finally {
    clearTimeout(timer);
    // Committed or not, nobody waits for this receipt any more.
    answer.cancel?.();
  }
}

/** The system error codes a failed listen reports, in the words an operator acts on. */
const LISTEN_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is in use (another validator, or another program, listens there)',
  EADDRNOTAVAIL: 'no interface of this host has that address',
  EACCES: 'not permitted (a port below 1024 needs privileges)',
};

/**
 * A libp2p host that could not listen on `config.listen` fails with a paragraph of advice about
 * libp2p's own options and a stack (libp2p 3's UnsupportedListenAddressesError, which carries
 * the system's error only in its text); the operator needs the address and the reason, in one
 * line; so does a metrics or status port in use. `field` is the config field that named
 * `address`. Errors that are not about listening pass through unchanged.
 */
function listenFailure(field: string, address: string, err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const code = /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(err.message)?.[1] ?? (err as NodeJS.ErrnoException).code;
  if (code !== undefined && code in LISTEN_FAILURES) return new ConfigError(field, `cannot listen on ${address}: ${LISTEN_FAILURES[code]} (${code})`);
  if (err.name !== 'UnsupportedListenAddressesError') return err;
  // Another reason (no IPv6 on this host, say): the system's own words, from the address's line.
  const reason = /^\s*\/\S+: (?:\w*Error: )?(.+)$/m.exec(err.message)?.[1] ?? err.message.split('\n')[0];
  return new ConfigError(field, `cannot listen on ${address}: ${reason}`);
}

/** A start whose `shutdown` already ran: only its cause is the caller's. */
class StartAbandoned extends Error {
  constructor(override readonly cause: unknown) {
    super('start abandoned', { cause });
  }
}
