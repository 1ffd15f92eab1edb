/**
 * Serves light clients (protocol/query.ts) and publishes certificates on the `certificate` topic.
 *
 * A proof is only worth something against roots that a QC certifies, so every answer is built
 * around a CERTIFIED HEADER: a block this replica holds together with a QC on it. Those are the
 * committed blocks in the ledger (block k's QC is block k+1's parent QC) and the certified chain
 * above the committed root (Replica.syncChain: each block's QC is the next one's parent QC, the
 * last one's is the highest QC).
 *
 * The state subtlety: the application holds only its CURRENT state, but a header carries the
 * executed state of an earlier block, so a state proof is possible only once some certified
 * header carries the current roots. Design:
 *  - the consensus core keeps proposing empty blocks while the leader's latest executed roots
 *    are not yet in a certified header (replica.ts, needsCertifiedRoots), so an idle chain always
 *    ends with one; empty blocks change no roots, so the current state stays provable;
 *  - under load the state moves every block; a state query takes the proof against the current
 *    state and waits (bounded, QUERY_WAIT_MS) for a certified header with exactly those roots,
 *    re-proving if the state moved on meanwhile, and answers `unavailable` at the deadline.
 * Log entries have no such problem: the log only grows, and CommandLog proves a position against
 * the root of any earlier size, so any certified header whose executed log covers it will do.
 */
import { bytesEqual, toHex } from '../../crypto/bytes.js';
import type { NetworkHost } from '../../network/host.js';
import { bundleToJson, makeBundle, type ProofBundle } from '../../protocol/bundle.js';
import { decodeQueryRequest, encodeQueryResponse, QueryDecodeError, type QueryRequest, type QueryResponse } from '../../protocol/query.js';
import type { Block, QuorumCert } from '../../protocol/types.js';
import type { Logger } from '../observability/log.js';
import type { LedgerStore } from './ports.js';
import type { ValidatorNode } from './validator-node.js';

/** How long a query waits for a header that certifies what it asks about. */
export const QUERY_WAIT_MS = 5_000;
/**
 * Committed blocks searched below the top for a certified header. The newest one covers every
 * height and log position below it, so a few suffice (a state query may need an older one
 * whose roots match while the newest is being certified).
 */
const LEDGER_WINDOW = 8;
/**
 * Queries waiting at once for what they ask about to be certified; more are answered `busy`. A
 * query whose answer is ready is answered at once and takes no slot: peer ids cost nothing, so
 * a few of them can always fill these slots with queries just past the chain's top, and that
 * must not keep anyone from what is already committed.
 */
export const MAX_WAITING = 64;
/** Queries waiting at once from one peer, so that one client cannot take every slot. */
export const MAX_WAITING_PER_PEER = 8;
/**
 * Heights above the committed top that a certificate query may wait for. A chain commits a few
 * tens of blocks a second, so a height further ahead cannot be certified within QUERY_WAIT_MS:
 * answered `unavailable` at once instead of holding a slot for the whole wait.
 */
export const QUERY_LOOKAHEAD_HEIGHTS = 256;

export interface CertifiedHeader {
  readonly block: Block;
  readonly qc: QuorumCert;
}

export interface QueryServiceOptions {
  readonly chainId: string;
  readonly node: ValidatorNode;
  readonly store: LedgerStore;
  readonly host?: NetworkHost;
  readonly logger?: Logger;
  readonly waitMs?: number;
  /** Publish certificates on the gossip topic when blocks commit (default true with a host). */
  readonly publish?: boolean;
  /**
   * Share the publishing among the validators: the header at height h is published by the
   * `copies` validators h, h+1, ... (mod n). Every validator sees the same certified header at
   * about the same moment, so without this each header went out n times, each copy received and
   * checked by everyone. With copies = f + 1, some honest validator that is up publishes every
   * header, the idle chain's last one (its final roots) included. Default: publish every header.
   */
  readonly publisher?: { readonly index: number; readonly n: number; readonly copies: number };
}

/** Whether the validator `share.index` is one of the `copies` publishers of the header at `height`. */
export function publishesHeader(share: { readonly index: number; readonly n: number; readonly copies: number }, height: number): boolean {
  return (((share.index - height) % share.n) + share.n) % share.n < share.copies;
}

export class QueryService {
  private readonly waiters = new Set<() => void>();
  private waiting = 0;
  private stopped = false;
  private readonly waitingByPeer = new Map<string, number>();
  /** What answers depend on, as of the last wake-up: the committed height and the highest QC. */
  private answeredAt = { height: -1, qc: undefined as QuorumCert | undefined };
  private lastPublished = -1;
  private lastPublishedId = '';
  private lastCommitted = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: QueryServiceOptions) {
    this.unsubscribe = opts.node.onProgress(() => this.onProgress());
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Decodes, answers and encodes one request of peer `from` (its id); never throws. */
  async handle(bytes: Uint8Array, from = ''): Promise<Uint8Array> {
    let request: QueryRequest;
    try {
      request = decodeQueryRequest(bytes);
    } catch (err) {
      if (err instanceof QueryDecodeError) return encodeQueryResponse({ status: 'bad-request', reason: err.message });
      throw err;
    }
    const now = this.answerNow(request);
    if (typeof now !== 'string') return encodeQueryResponse(now);
    const mine = this.waitingByPeer.get(from) ?? 0;
    if (mine >= MAX_WAITING_PER_PEER) return encodeQueryResponse({ status: 'busy', reason: `${mine} queries of this peer waiting` });
    if (this.waiting >= MAX_WAITING) return encodeQueryResponse({ status: 'busy', reason: `${this.waiting} queries waiting` });
    this.waiting++;
    this.waitingByPeer.set(from, mine + 1);
    try {
      return encodeQueryResponse(await this.answer(request));
    } finally {
      this.waiting--;
      const left = (this.waitingByPeer.get(from) ?? 1) - 1;
      if (left > 0) this.waitingByPeer.set(from, left);
      else this.waitingByPeer.delete(from);
    }
  }

  /** The answer to `q`, waiting (bounded) for what it asks about to be certified. */
  async answer(q: QueryRequest): Promise<QueryResponse> {
    const deadline = performance.now() + (this.opts.waitMs ?? QUERY_WAIT_MS);
    for (;;) {
      const out = this.answerNow(q);
      if (typeof out !== 'string') return out;
      const left = deadline - performance.now();
      if (left <= 0) return { status: 'unavailable', reason: out };
      if (this.stopped) return { status: 'unavailable', reason: 'the validator is stopping' };
      await this.nextProgress(Math.min(left, 500));
    }
  }

  /** The answer to `q` as of now, or the reason to wait for one. */
  private answerNow(q: QueryRequest): QueryResponse | string {
    const top = this.opts.store.committedHeight();
    if (q.kind === 'certificate' && q.height > top + QUERY_LOOKAHEAD_HEIGHTS) {
      return { status: 'unavailable', reason: `height ${q.height} is more than ${QUERY_LOOKAHEAD_HEIGHTS} above the committed height ${top}` };
    }
    const out = this.tryAnswer(q);
    return typeof out === 'string' ? out : { status: 'ok', bundleJson: bundleToJson(out) };
  }

  /** A bundle, or the reason there is none yet. */
  tryAnswer(q: QueryRequest): ProofBundle | string {
    const { chainId, node } = this.opts;
    const app = node.app;
    const headers = this.headersNewestFirst(LEDGER_WINDOW);
    if (q.kind === 'certificate') {
      const h = firstWhere(headers, (c) => c.block.executed.height >= q.height);
      return h ? makeBundle(chainId, h.block, h.qc, { height: q.height }) : `no certified header covers height ${q.height} yet`;
    }
    if (q.kind === 'log') {
      if (q.position >= app.logSize) return `log position ${q.position} is not committed here (log size ${app.logSize})`;
      for (const h of headers) {
        const size = this.logSizeAt(h.block.executed.height);
        if (!Number.isFinite(size) || size <= q.position) continue;
        if (!bytesEqual(app.logRootAt(size), h.block.executed.logRoot)) continue; // not our history: never hand it out
        const proof = app.proveLogEntryAt(q.position, size);
        return makeBundle(chainId, h.block, h.qc, { height: h.block.executed.height, log: proof });
      }
      return `no certified header covers log position ${q.position} yet`;
    }
    const stateRoot = app.stateRoot();
    const logRoot = app.logRoot();
    const h = firstWhere(headers, (c) => bytesEqual(c.block.executed.stateRoot, stateRoot) && bytesEqual(c.block.executed.logRoot, logRoot));
    if (!h) return `no certified header carries the current state root ${toHex(stateRoot)} yet`;
    const proof = app.proveStateKey(q.key);
    const value = proof.terminal.kind === 'leaf' ? proof.terminal.value : null;
    return makeBundle(chainId, h.block, h.qc, { height: h.block.executed.height, state: { key: q.key, value, proof } });
  }

  /**
   * Certified headers this replica holds, newest first, whose executed state it has executed
   * too; lazily: the core's certified tip first (in memory), then committed blocks read back
   * from the ledger only while the caller keeps asking. Each read decodes a whole block
   * (hundreds of requests under load), and the newest header, which publication and most
   * queries want, is nearly always in the tip.
   */
  private *headersNewestFirst(window: number): Generator<CertifiedHeader> {
    const { node, store } = this.opts;
    const top = store.committedHeight();
    const tip = node.certifiedTip();
    // The QC certifying each block is the parent QC of the block above it (the highest QC for
    // the topmost): walking down, it is that of the block visited just before.
    let qc: QuorumCert | undefined = tip.highQc;
    const visit = (block: Block): CertifiedHeader | undefined => {
      const certifying = qc;
      qc = block.parentQc;
      if (certifying === undefined || !bytesEqual(certifying.vote.blockId, block.id) || certifying.certificate.length === 0) return undefined;
      return block.executed.height <= top && block.executed.height > 0 ? { block, qc: certifying } : undefined;
    };
    for (let i = tip.blocks.length - 1; i >= 0; i--) {
      const header = visit(tip.blocks[i]!);
      if (header) yield header;
    }
    for (let h = top; h >= Math.max(1, top - window); h--) {
      const b = store.block(h);
      if (!b) {
        // Not held (pruned below a snapshot): the block beneath has no certifying QC here.
        qc = undefined;
        continue;
      }
      const header = visit(b);
      if (header) yield header;
    }
  }

  /**
   * Log size after executing block `height`: the current size minus the commands of the blocks
   * above it. Counting down from the top rather than up from genesis keeps working once blocks
   * below a snapshot are pruned. NaN if a block in between is not held here.
   */
  private logSizeAt(height: number): number {
    const { node, store } = this.opts;
    const top = store.committedHeight();
    if (height > top) return Number.NaN;
    let size = node.app.logSize;
    for (let h = top; h > height; h--) {
      const b = store.block(h);
      if (!b) return Number.NaN;
      size -= b.payload.length;
    }
    return size;
  }

  private nextProgress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private onProgress(): void {
    // A step that committed nothing and certified nothing new changes no answer: waking every
    // waiting query after each consensus step cost each of them a scan of the ledger's headers.
    const height = this.opts.store.committedHeight();
    const qc = this.opts.node.highestQc;
    if (height !== this.answeredAt.height || qc !== this.answeredAt.qc) {
      this.answeredAt = { height, qc };
      for (const w of [...this.waiters]) w();
    }
    try {
      this.maybePublish();
    } catch (err) {
      this.opts.logger?.warn({ err: String(err) }, 'certificate publication failed');
    }
  }

  /** Publishes the newest certified header when its executed height moved on. */
  private maybePublish(): void {
    const { host, chainId, store } = this.opts;
    if (!host || this.opts.publish === false) return;
    // Only when something committed: certified headers change no faster than that matters here.
    const top = store.committedHeight();
    if (top === this.lastCommitted) return;
    this.lastCommitted = top;
    // Nobody follows through this validator: nothing to build or send.
    if (host.topicPeers('certificate').length === 0) return;
    const newest = this.headersNewestFirst(1).next().value;
    if (!newest || newest.block.executed.height <= this.lastPublished) return;
    const share = this.opts.publisher;
    if (share && !publishesHeader(share, newest.block.height)) return;
    const id = toHex(newest.block.id);
    if (id === this.lastPublishedId) return;
    this.lastPublished = newest.block.executed.height;
    this.lastPublishedId = id;
    const bytes = new TextEncoder().encode(bundleToJson(makeBundle(chainId, newest.block, newest.qc)));
    host.publish('certificate', bytes).catch((err: unknown) => this.opts.logger?.debug({ err: String(err) }, 'certificate gossip failed'));
  }
}

/** The first item that passes, reading no further (Iterator.prototype.find, which the TypeScript lib in use lacks). */
function firstWhere<T>(items: Iterable<T>, pass: (item: T) => boolean): T | undefined {
  for (const item of items) if (pass(item)) return item;
  return undefined;
}
