import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The metrics one validator exports. One registry per node (never prom-client's global one),
 * so several nodes in one process (tests, the simulator) do not mix their numbers.
 */
export interface NodeMetrics {
  readonly registry: Registry;
  readonly round: Gauge;
  readonly committedHeight: Gauge;
  readonly commits: Counter;
  readonly committedCommands: Counter;
  readonly viewChanges: Counter;
  readonly qcFormationSeconds: Histogram;
  /** Where this validator's own clients' requests spend their time, by stage (see ValidatorNode). */
  readonly requestStageSeconds: Histogram<'stage'>;
  readonly messageLatencySeconds: Histogram<'type'>;
  readonly validationQueueDepth: Gauge;
  readonly validationWorkers: Gauge;
  readonly validationTasks: Counter<'where'>;
  readonly mempoolSize: Gauge;
  readonly busyRequests: Counter<'queue'>;
  /** Client peers banned for rejected requests (runtime/client-conduct.ts). */
  readonly clientBans: Counter;
  /** Client requests answered busy unchecked: their peer had its allowance of requests in check spent (runtime/client-conduct.ts). */
  readonly clientRequestsUnchecked: Counter;
  readonly commitIntervalSeconds: Histogram;
  /**
   * `vsmr_seconds_since_last_commit`, computed when scraped from what the runtime registers here
   * (the commit-interval histogram only sees an interval once it ends, so a chain stalled at
   * the moment of a scrape shows only here). Unset until a source is registered.
   */
  readonly lastCommitAge: { source?: () => number | undefined };
  readonly replicationLag: Gauge;
  readonly bytesIn: Counter<'topic'>;
  readonly bytesOut: Counter<'topic'>;
  readonly blsVerifySeconds: Histogram<'kind'>;
  readonly durableFlushSeconds: Histogram;
  readonly proposalHoldSeconds: Histogram<'ended_by'>;
  readonly rejectedMessages: Counter<'reason'>;
  readonly peers: Gauge;
  readonly snapshotsTaken: Counter;
  readonly snapshotsInstalled: Counter;
  readonly snapshotSyncFailures: Counter<'reason'>;
  readonly blocksPruned: Counter;
  readonly equivocationEvidence: Counter<'kind'>;
  /** Requests of proposals this leader sent, by how they travelled (`id` or `bytes`). */
  readonly proposalRequestsSent: Counter<'as'>;
  /** Requests of compact proposals rebuilt here, by where they came from (`inline`, `local`, `fetched`). */
  readonly proposalRequestsRebuilt: Counter<'source'>;
  readonly peerScore: Gauge<'peer'>;
  readonly networkEvents: Counter<'event'>;
}

/** Sub-millisecond to tens of seconds: consensus steps on loopback up to slow-path timeouts. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Seconds; the bench reads the longest interval of a window off these bounds. */
export const COMMIT_INTERVAL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

export function createNodeMetrics(labels: { chainId: string; validator: number }, withProcessMetrics = true): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ chain_id: labels.chainId, validator: String(labels.validator) });
  if (withProcessMetrics) collectDefaultMetrics({ register: registry, prefix: 'vsmr_process_' });
  const registers = [registry];
  const lastCommitAge: { source?: () => number | undefined } = {};
  new Gauge({
    name: 'vsmr_seconds_since_last_commit',
    help: 'Seconds since this validator last committed a block, as of the scrape (0 before its first commit)',
    registers,
    collect() {
      const age = lastCommitAge.source?.();
      if (age === undefined) this.reset();
      else this.set(age);
    },
  });
  return {
    registry,
    round: new Gauge({ name: 'vsmr_round', help: 'Current consensus round', registers }),
    committedHeight: new Gauge({ name: 'vsmr_committed_height', help: 'Height of the last committed block', registers }),
    commits: new Counter({ name: 'vsmr_commits_total', help: 'Blocks committed', registers }),
    committedCommands: new Counter({ name: 'vsmr_committed_commands_total', help: 'Commands committed', registers }),
    viewChanges: new Counter({ name: 'vsmr_view_changes_total', help: 'Rounds left through a timeout certificate', registers }),
    qcFormationSeconds: new Histogram({
      name: 'vsmr_qc_formation_seconds',
      help: 'From entering a round to holding its QC',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    requestStageSeconds: new Histogram({
      name: 'vsmr_request_stage_seconds',
      help: "A committed request of this validator's own clients, by stage: validate (received to verdict), queued (verdict to the proposal that carries it reaching this validator), ordering (that proposal to its commit here), execute (commit to the receipt, after execution and flush); server is the whole stay, received to receipt, over the same requests as validate and execute",
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    messageLatencySeconds: new Histogram({
      name: 'vsmr_message_handling_seconds',
      help: 'Time to handle one consensus message, by type',
      labelNames: ['type'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    validationQueueDepth: new Gauge({ name: 'vsmr_validation_queue_depth', help: 'Requests waiting in the validation pool', registers }),
    validationWorkers: new Gauge({ name: 'vsmr_validation_workers', help: 'Worker threads of the validation pool (0: requests are checked on the main thread)', registers }),
    validationTasks: new Counter({
      name: 'vsmr_validation_tasks_total',
      help: 'Validation work units: "worker" tasks handed to a worker thread, "main" calls checked on the main thread',
      labelNames: ['where'],
      registers,
    }),
    mempoolSize: new Gauge({ name: 'vsmr_mempool_size', help: 'Validated requests waiting to be proposed', registers }),
    replicationLag: new Gauge({ name: 'vsmr_replication_lag_blocks', help: 'Highest certified height seen minus committed height', registers }),
    bytesIn: new Counter({ name: 'vsmr_bytes_in_total', help: 'Bytes received, by topic or protocol', labelNames: ['topic'], registers }),
    bytesOut: new Counter({ name: 'vsmr_bytes_out_total', help: 'Bytes sent, by topic or protocol', labelNames: ['topic'], registers }),
    blsVerifySeconds: new Histogram({
      name: 'vsmr_bls_verify_seconds',
      help: 'BLS verification time, by what was verified',
      labelNames: ['kind'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    durableFlushSeconds: new Histogram({
      name: 'vsmr_durable_flush_seconds',
      help: 'Time a durable group (one LMDB transaction) spent committing and flushing, beyond running its own writes',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    proposalHoldSeconds: new Histogram({
      name: 'vsmr_proposal_hold_seconds',
      help: 'How long this leader held an empty roots-only proposal (emptyProposalHoldMs), by what ended the hold: command, timer, other, or round (moved on without it)',
      labelNames: ['ended_by'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    rejectedMessages: new Counter({ name: 'vsmr_rejected_messages_total', help: 'Messages refused, by reason', labelNames: ['reason'], registers }),
    commitIntervalSeconds: new Histogram({
      name: 'vsmr_commit_interval_seconds',
      help: 'Time between consecutive block commits at this validator. Under load a stall shows as a long one; an idle chain commits nothing, so read it with the load',
      buckets: COMMIT_INTERVAL_BUCKETS,
      registers,
    }),
    lastCommitAge,
    clientBans: new Counter({
      name: 'vsmr_client_bans_total',
      help: 'Client peers banned (connections closed and refused for a while) after too many rejected requests: forged, malformed or another chain\'s',
      registers,
    }),
    clientRequestsUnchecked: new Counter({
      name: 'vsmr_client_requests_unchecked_total',
      help: 'Client requests answered busy unchecked because their peer had as many in check as its record allows (a few while new or after a rejected request, more per request accepted)',
      registers,
    }),
    busyRequests: new Counter({
      name: 'vsmr_busy_requests_total',
      help: 'Client requests answered busy (retry later), by the queue that was full: validation (the pool), mempool (requests waiting to be proposed), client-share (the client key\'s share of the mempool), or session (a client session\'s own bound on requests in flight)',
      labelNames: ['queue'],
      registers,
    }),
    peers: new Gauge({ name: 'vsmr_peers', help: 'Connected peers', registers }),
    snapshotsTaken: new Counter({ name: 'vsmr_snapshots_taken_total', help: 'Application snapshots written to the store', registers }),
    snapshotsInstalled: new Counter({ name: 'vsmr_snapshots_installed_total', help: 'Certified snapshots fetched from a peer and installed', registers }),
    snapshotSyncFailures: new Counter({
      name: 'vsmr_snapshot_sync_failures_total',
      help: 'Snapshots from peers refused or unavailable, by reason',
      labelNames: ['reason'],
      registers,
    }),
    blocksPruned: new Counter({ name: 'vsmr_blocks_pruned_total', help: 'Committed blocks dropped below a snapshot', registers }),
    equivocationEvidence: new Counter({
      name: 'vsmr_equivocation_evidence_total',
      help: 'Equivocation evidence recorded, by kind (double-vote: two signed votes; conflicting-proposals: two blocks straight from their author)',
      labelNames: ['kind'],
      registers,
    }),
    proposalRequestsSent: new Counter({
      name: 'vsmr_proposal_requests_sent_total',
      help: 'Requests of proposals this leader sent, by how they travelled: as an id (the others hold it) or as bytes',
      labelNames: ['as'],
      registers,
    }),
    proposalRequestsRebuilt: new Counter({
      name: 'vsmr_proposal_requests_rebuilt_total',
      help: 'Requests of compact proposals rebuilt here, by source: inline (sent as bytes), local (this node held it), fetched (asked of the sender)',
      labelNames: ['source'],
      registers,
    }),
    peerScore: new Gauge({ name: 'vsmr_peer_score', help: 'Gossipsub score this node gives each genesis validator, by validator index', labelNames: ['peer'], registers }),
    networkEvents: new Counter({
      name: 'vsmr_network_events_total',
      help: 'What the network host counted (network/host.ts NetworkStats), by event: gossip verdicts, direct streams dropped, frames timed out, exchanges refused, peers not allowed, clients evicted for room, handler errors, redials',
      labelNames: ['event'],
      registers,
    }),
  };
}

/** Longest reason label kept; the metric's series are few and named, never free text. */
const MAX_REASON_LABEL = 64;

/**
 * A rejection's reason as a metric label: its template, not its values. The core's reasons name
 * rounds, heights, senders and id prefixes that a peer chooses (`sender 3 is not the leader of
 * round 912`), and each distinct label value is a new series kept for the process's life: one
 * peer sending votes for ever-new rounds would grow memory and /metrics without bound. Numbers
 * and hex ids become N, the text is cut at its first colon and at MAX_REASON_LABEL characters.
 */
export function reasonLabel(reason: string): string {
  const head = reason.split(':')[0] ?? '';
  // A word of hex characters with a digit in it, or six or more of them, is a value: a number or an id prefix.
  const template = head
    .replace(/\b(?:0x)?[0-9a-f]+\b/gi, (word) => (/\d/.test(word) || word.length >= 6 ? 'N' : word))
    .trim()
    .slice(0, MAX_REASON_LABEL);
  return template.length > 0 ? template : 'other';
}
