import { bytesEqual } from '../../crypto/bytes.js';
import { makeBlock } from '../../protocol/block.js';
import type { ConsensusAction, ConsensusMessage } from '../../node/consensus/messages.js';
import { signVoteDigest } from '../../node/consensus/safety-rules.js';
import {
  type Block,
  type QuorumCert,
  type SignedTimeout,
  type SignedVote,
  type TimeoutCert,
  timeoutDigest,
  type VoteData,
  voteDigest,
} from '../../protocol/types.js';
import { type BehaviorInfo, type ByzantineContext, behavior, isMessage } from '../byzantine.js';
import { rewriteProposalBroadcasts } from './proposal-rewrite.js';
import type { Prng } from '../prng.js';

/**
 * The catalogue of single-replica Byzantine strategies. Each one is a transformation of what an
 * honest core does (its outgoing actions, its incoming events, its sync answers), so they
 * compose, and each is meant to be survivable by the protocol with at most f of them: the
 * checker must find nothing, while the honest replicas' rejections and the evidence they
 * gather show the misbehaviour was seen.
 */

type MessageAction = Extract<ConsensusAction, { type: 'broadcast' | 'send' }>;

function withMessage(a: MessageAction, message: ConsensusMessage): ConsensusAction {
  return a.type === 'broadcast' ? { type: 'broadcast', message } : { type: 'send', to: a.to, message };
}

function randomBytes(rng: Prng, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = rng.int(0, 255);
  return out;
}

function flipByte(b: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(b);
  if (out.length > 0) out[at % out.length]! ^= 0x01;
  return out;
}

function signVote(ctx: ByzantineContext, vote: VoteData): SignedVote {
  return { vote, signer: ctx.index, signature: signVoteDigest(ctx.memberSigner(ctx.index), voteDigest(ctx.chainId, vote)) };
}

function signTimeout(ctx: ByzantineContext, round: number, highQcRound: number): SignedTimeout {
  return { round, highQcRound, signer: ctx.index, signature: ctx.memberSigner(ctx.index).sign(timeoutDigest(ctx.chainId, round, highQcRound)) };
}

function voteDataOf(b: Block): VoteData {
  return { blockId: b.id, round: b.round, height: b.height, parentId: b.parentQc.vote.blockId, parentRound: b.parentQc.vote.round };
}

function others(ctx: ByzantineContext): number[] {
  return Array.from({ length: ctx.n }, (_, i) => i).filter((i) => i !== ctx.index);
}

/** Round-robin, as the honest replicas use it unless a scenario sets another schedule. */
const nextLeader = (ctx: ByzantineContext, round: number): number => (round + 1) % ctx.n;

function remake(ctx: ByzantineContext, b: Block, changes: Partial<Pick<Block, 'round' | 'height' | 'parentQc' | 'payload' | 'executed'>>): Block {
  return makeBlock(ctx.chainId, {
    round: changes.round ?? b.round,
    height: changes.height ?? b.height,
    parentQc: changes.parentQc ?? b.parentQc,
    author: b.author,
    payload: changes.payload ?? b.payload,
    executed: changes.executed ?? b.executed,
  });
}

function drop(pred: (m: ConsensusMessage) => boolean): (actions: readonly ConsensusAction[]) => ConsensusAction[] {
  return (actions) => actions.filter((a) => !(isMessage(a) && pred(a.message)));
}

const silent: BehaviorInfo = {
  name: 'silent',
  description: 'sends nothing (no proposals, votes, timeouts or sync answers); keeps its local state',
  create: () =>
    behavior('silent', {
      servesSync: false,
      outgoing: (actions) => actions.filter((a) => a.type !== 'broadcast' && a.type !== 'send' && a.type !== 'sync-request'),
    }),
};

const withholdProposals: BehaviorInfo = {
  name: 'withhold-proposals',
  description: 'never sends its proposals as leader (its rounds time out); votes and times out normally',
  create: () => behavior('withhold-proposals', { outgoing: drop((m) => m.type === 'proposal') }),
};

const withholdVotes: BehaviorInfo = {
  name: 'withhold-votes',
  description: 'never sends its votes; proposes and times out normally',
  create: () => behavior('withhold-votes', { outgoing: drop((m) => m.type === 'vote') }),
};

const delayEdge: BehaviorInfo = {
  name: 'delay-edge',
  description: 'holds every message back to just under the base round timeout before sending it',
  create: (ctx) =>
    behavior('delay-edge', {
      outgoing: (actions) => {
        const out: ConsensusAction[] = [];
        for (const a of actions) {
          if (!isMessage(a)) {
            out.push(a);
            continue;
          }
          const delay = ctx.baseTimeoutMs * (0.75 + 0.2 * ctx.rng.float());
          ctx.later(delay, () => ctx.emit([a]));
        }
        return out;
      },
    }),
};

/** Remembers the highest QC seen in any message: what a spammer can dress its timeouts with. */
export class SeenCerts {
  highQc: QuorumCert | undefined;
  readonly qcs: QuorumCert[] = [];
  observe(m: ConsensusMessage): void {
    const qc = m.type === 'proposal' ? m.block.parentQc : m.type === 'timeout' ? m.highQc : undefined;
    if (!qc) return;
    if (!this.highQc || qc.vote.round > this.highQc.vote.round) {
      this.highQc = qc;
      this.qcs.push(qc);
      if (this.qcs.length > 16) this.qcs.shift();
    }
  }
}

const timeoutSpam: BehaviorInfo = {
  name: 'timeout-spam',
  description: 'broadcasts validly signed timeouts for the next several rounds on every message it sends',
  create: (ctx) => {
    const seen = new SeenCerts();
    return behavior('timeout-spam', {
      incoming: (event) => {
        if (event.type === 'proposal' || event.type === 'timeout') seen.observe(event);
        return event;
      },
      outgoing: (actions) => {
        const out = [...actions];
        const qc = seen.highQc;
        if (qc && actions.some(isMessage)) {
          for (let k = 1; k <= 4; k++) {
            const timeout = signTimeout(ctx, qc.vote.round + k, qc.vote.round);
            out.push({ type: 'broadcast', message: { type: 'timeout', timeout, highQc: qc } });
          }
        }
        return out;
      },
    });
  },
};

/** One shared oversized command per replica: a flood must not cost the simulator a MiB per message. */
function garbage(ctx: ByzantineContext, seen: SeenCerts, big: Uint8Array): ConsensusMessage {
  const rng = ctx.rng;
  const qc: QuorumCert = seen.highQc ?? { vote: { blockId: randomBytes(rng, 32), round: 0, height: 0, parentId: randomBytes(rng, 32), parentRound: 0 }, certificate: randomBytes(rng, 40) };
  const vote: VoteData = { blockId: randomBytes(rng, 32), round: rng.int(0, 1 << 30), height: rng.int(0, 1 << 20), parentId: randomBytes(rng, rng.int(0, 40)), parentRound: rng.int(0, 10) };
  const executed = { height: rng.int(0, 5), blockId: randomBytes(rng, 32), stateRoot: randomBytes(rng, 32), logRoot: randomBytes(rng, 32) };
  switch (rng.int(0, 6)) {
    case 0:
      return { type: 'vote', vote: { vote, signer: ctx.index, signature: randomBytes(rng, rng.int(0, 120)) } };
    case 1:
      // Oversized: more bytes than any batch may hold.
      return { type: 'proposal', block: { id: randomBytes(rng, 32), round: qc.vote.round + 1, height: qc.vote.height + 1, parentQc: qc, author: ctx.index, payload: [big], executed } };
    case 2:
      return { type: 'proposal', block: { id: randomBytes(rng, 32), round: qc.vote.round + 1, height: qc.vote.height + 1, parentQc: qc, author: ctx.index, payload: Array.from({ length: 200 }, () => randomBytes(rng, 4)), executed } };
    case 3:
      return { type: 'timeout', timeout: { round: Number.MAX_SAFE_INTEGER, highQcRound: qc.vote.round, signer: ctx.index, signature: randomBytes(rng, 96) }, highQc: qc };
    case 4:
      return { type: 'timeout', timeout: { round: -1, highQcRound: Number.NaN, signer: rng.int(0, 1 << 30), signature: new Uint8Array(0) }, highQc: { vote, certificate: randomBytes(rng, 3) } };
    case 5: {
      const tc: TimeoutCert = { round: qc.vote.round + 1, signers: randomBytes(rng, 600), highQcRounds: [1, 2, 3], highestQc: qc, certificate: randomBytes(rng, 96) };
      return { type: 'timeout', timeout: signTimeout(ctx, qc.vote.round + 2, qc.vote.round), highQc: qc, tc };
    }
    default:
      return { type: 'proposal', block: { id: randomBytes(rng, 7), round: 1.5, height: -3, parentQc: { vote, certificate: new Uint8Array(0) }, author: ctx.index, payload: [], executed } };
  }
}

const flood: BehaviorInfo = {
  name: 'flood',
  description: 'adds malformed and oversized messages (random ids, huge payloads, bad rounds, junk certificates) to everything it sends',
  create: (ctx) => {
    const seen = new SeenCerts();
    const big = new Uint8Array((1 << 20) + 1);
    return behavior('flood', {
      incoming: (event) => {
        if (event.type === 'proposal' || event.type === 'timeout') seen.observe(event);
        return event;
      },
      outgoing: (actions) => {
        if (!actions.some(isMessage)) return [...actions];
        const extra: ConsensusAction[] = [0, 1, 2].map(() => ({ type: 'broadcast', message: garbage(ctx, seen, big) }));
        return [...extra, ...actions];
      },
    });
  },
};

const replay: BehaviorInfo = {
  name: 'replay',
  description: 're-sends stale messages: its own older ones, and other replicas\u2019 messages replayed as its own',
  create: (ctx) => {
    const old: ConsensusMessage[] = [];
    const keep = (m: ConsensusMessage): void => {
      old.push(m);
      if (old.length > 64) old.splice(0, old.length - 64);
    };
    return behavior('replay', {
      incoming: (event) => {
        if (event.type === 'proposal' || event.type === 'vote' || event.type === 'timeout') {
          const { from: _from, ...message } = event;
          keep(message as ConsensusMessage);
        }
        return event;
      },
      outgoing: (actions) => {
        const out = [...actions];
        for (const a of actions) if (isMessage(a)) keep(a.message);
        if (old.length > 0 && actions.some(isMessage)) {
          for (let k = 0; k < 2; k++) {
            const m = old[ctx.rng.int(0, old.length - 1)]!;
            const to = others(ctx)[ctx.rng.int(0, ctx.n - 2)]!;
            out.push({ type: 'send', to, message: m });
          }
        }
        return out;
      },
    });
  },
};

const badSignatures: BehaviorInfo = {
  name: 'bad-signatures',
  description: 'corrupts the signatures (shares) on its votes and timeouts and the certificates it forwards',
  create: (ctx) =>
    behavior('bad-signatures', {
      outgoing: (actions) =>
        actions.map((a) => {
          if (!isMessage(a)) return a;
          const m = a.message;
          const at = ctx.rng.int(0, 1 << 16);
          switch (m.type) {
            case 'vote':
              return withMessage(a, { type: 'vote', vote: { ...m.vote, signature: flipByte(m.vote.signature, at) } });
            case 'timeout':
              return withMessage(a, { ...m, timeout: { ...m.timeout, signature: flipByte(m.timeout.signature, at) } });
            case 'proposal': {
              // The block id covers the QC, so a tampered certificate needs a fresh id to get that far.
              if (m.block.parentQc.vote.round === 0) return a;
              const parentQc = { ...m.block.parentQc, certificate: flipByte(m.block.parentQc.certificate, m.block.parentQc.certificate.length - 1 - (at % 8)) };
              return withMessage(a, { ...m, block: remake(ctx, m.block, { parentQc }) });
            }
            default:
              return a;
          }
        }),
    }),
};

function badBitmap(bitmap: Uint8Array, n: number, rng: Prng): Uint8Array {
  const out = Uint8Array.from(bitmap);
  if (out.length === 0) return out;
  switch (rng.int(0, 2)) {
    case 0: {
      // Drop one signer: below quorum, or the aggregate no longer matches.
      for (let i = 0; i < out.length * 8; i++) {
        if (out[i >> 3]! & (1 << (i & 7))) {
          out[i >> 3]! &= ~(1 << (i & 7));
          break;
        }
      }
      return out;
    }
    case 1:
      // A signer that does not exist.
      if (n < out.length * 8) out[n >> 3]! |= 1 << (n & 7);
      else out[0]! ^= 0xff;
      return out;
    default:
      return out.fill(0xff);
  }
}

const badBitmaps: BehaviorInfo = {
  name: 'bad-bitmap',
  description: 'rewrites the signer bitmaps of the QCs and TCs it sends (missing, extra, out-of-range signers)',
  create: (ctx) => {
    const bitmapLen = Math.ceil(ctx.n / 8);
    const qcBad = (qc: QuorumCert): QuorumCert =>
      qc.vote.round === 0 ? qc : { ...qc, certificate: Uint8Array.from([...badBitmap(qc.certificate.subarray(0, bitmapLen), ctx.n, ctx.rng), ...qc.certificate.subarray(bitmapLen)]) };
    const tcBad = (tc: TimeoutCert): TimeoutCert => ({ ...tc, signers: badBitmap(tc.signers, ctx.n, ctx.rng) });
    return behavior('bad-bitmap', {
      outgoing: (actions) =>
        actions.map((a) => {
          if (!isMessage(a)) return a;
          const m = a.message;
          if (m.type === 'proposal') {
            const block = m.block.parentQc.vote.round === 0 ? m.block : remake(ctx, m.block, { parentQc: qcBad(m.block.parentQc) });
            return withMessage(a, m.tc ? { type: 'proposal', block, tc: tcBad(m.tc) } : { type: 'proposal', block });
          }
          if (m.type === 'timeout') return withMessage(a, m.tc ? { ...m, highQc: qcBad(m.highQc), tc: tcBad(m.tc) } : { ...m, highQc: qcBad(m.highQc) });
          return a;
        }),
    });
  },
};

/** Commands the replica has heard of from clients: material for conflicting twins that are still valid. */
function commandMemory(): { seen: Uint8Array[]; note(cmds: readonly Uint8Array[]): void } {
  const seen: Uint8Array[] = [];
  return {
    seen,
    note(cmds) {
      for (const c of cmds) seen.push(c);
      if (seen.length > 256) seen.splice(0, seen.length - 256);
    },
  };
}

/** A different block with the same parent and header: another (still valid) batch of commands. */
function conflictingTwin(ctx: ByzantineContext, b: Block, known: readonly Uint8Array[]): Block | undefined {
  if (b.payload.length > 0) return remake(ctx, b, { payload: b.payload.slice(0, b.payload.length - 1) });
  const extra = known.find((c) => !b.payload.some((p) => bytesEqual(p, c)));
  return extra ? remake(ctx, b, { payload: [extra] }) : undefined;
}

const equivocate: BehaviorInfo = {
  name: 'equivocate',
  description: 'as leader, sends conflicting proposals to two halves of the replicas (then the other one to each), and signs votes for both',
  create: (ctx) => {
    const memory = commandMemory();
    return behavior('equivocate', {
      incoming: (event) => {
        if (event.type === 'commands') memory.note(event.commands);
        return event;
      },
      outgoing: (actions) =>
        rewriteProposalBroadcasts(actions, ({ block, tc, original }) => {
          const twin = conflictingTwin(ctx, block, memory.seen);
          if (!twin) return [original];
          const out: ConsensusAction[] = [];
          const peers = others(ctx);
          const mid = Math.ceil(peers.length / 2);
          const msg = (b: Block): ConsensusMessage => (tc ? { type: 'proposal', block: b, tc } : { type: 'proposal', block: b });
          for (const to of peers.slice(0, mid)) out.push({ type: 'send', to, message: msg(block) });
          for (const to of peers.slice(mid)) out.push({ type: 'send', to, message: msg(twin) });
          // Then each half sees the other block too: an honest replica must refuse the second.
          const cross: ConsensusAction[] = [...peers.slice(0, mid).map((to) => ({ type: 'send', to, message: msg(twin) }) as const), ...peers.slice(mid).map((to) => ({ type: 'send', to, message: msg(block) }) as const)];
          ctx.later(ctx.baseTimeoutMs / 10, () => ctx.emit(cross));
          // Two signed votes in one round: provable equivocation for whoever collects them.
          const leader = nextLeader(ctx, block.round);
          if (leader !== ctx.index) out.push({ type: 'send', to: leader, message: { type: 'vote', vote: signVote(ctx, voteDataOf(twin)) } });
          return out;
        }),
    });
  },
};

const doubleVote: BehaviorInfo = {
  name: 'double-vote',
  description: 'sends a second, conflicting signed vote in every round it votes in',
  create: (ctx) =>
    behavior('double-vote', {
      outgoing: (actions) => {
        const out: ConsensusAction[] = [];
        for (const a of actions) {
          if (a.type === 'send' && a.message.type === 'vote') {
            const other = signVote(ctx, { ...a.message.vote.vote, blockId: randomBytes(ctx.rng, 32) });
            const both: ConsensusAction[] = [a, { type: 'send', to: a.to, message: { type: 'vote', vote: other } }];
            out.push(...(ctx.rng.chance(0.5) ? both : both.reverse()));
          } else out.push(a);
        }
        return out;
      },
    }),
};

const voteInvalid: BehaviorInfo = {
  name: 'vote-invalid',
  description: 'signs votes for every proposal it sees, valid or not, and for blocks that do not exist',
  create: (ctx) =>
    behavior('vote-invalid', {
      incoming: (event) => {
        if (event.type === 'proposal' && event.from !== ctx.index) {
          const b = event.block;
          const leader = nextLeader(ctx, b.round);
          const bogus: VoteData = { ...voteDataOf(b), blockId: randomBytes(ctx.rng, 32), height: b.height + 1 };
          const acts: ConsensusAction[] = [voteDataOf(b), bogus].flatMap((v) => (leader === ctx.index ? [] : [{ type: 'send', to: leader, message: { type: 'vote', vote: signVote(ctx, v) } } as const]));
          // The honest core still runs, so its own (valid) vote may follow: a double vote too.
          ctx.emit(acts);
        }
        return event;
      },
    }),
};

/** A small-scope mutation of a valid message (ByzzFuzz): round or height +-1, swapped parent; re-hashed and re-signed. */
export function smallScopeMutation(ctx: ByzantineContext, m: ConsensusMessage, seen: SeenCerts): ConsensusMessage {
  const d = ctx.rng.chance(0.5) ? 1 : -1;
  switch (m.type) {
    case 'proposal': {
      const b = m.block;
      const pick = ctx.rng.int(0, 2);
      const older = seen.qcs.filter((q) => q.vote.round < b.parentQc.vote.round);
      const block =
        pick === 0
          ? remake(ctx, b, { round: Math.max(1, b.round + d) })
          : pick === 1 || older.length === 0
            ? remake(ctx, b, { height: Math.max(1, b.height + d) })
            : remake(ctx, b, { parentQc: older[ctx.rng.int(0, older.length - 1)]! });
      return m.tc ? { type: 'proposal', block, tc: m.tc } : { type: 'proposal', block };
    }
    case 'vote': {
      const v = m.vote.vote;
      const changed: VoteData = ctx.rng.chance(0.5) ? { ...v, round: Math.max(1, v.round + d) } : { ...v, blockId: v.parentId, parentId: v.blockId };
      return { type: 'vote', vote: signVote(ctx, changed) };
    }
    case 'timeout': {
      const round = Math.max(m.highQc.vote.round + 1, m.timeout.round + d);
      return { ...m, timeout: signTimeout(ctx, round, m.timeout.highQcRound) };
    }
  }
}

const mutate: BehaviorInfo = {
  name: 'mutate',
  description: 'small-scope mutations of its valid messages (round or height +-1, swapped parent), re-signed and re-hashed',
  create: (ctx) => {
    const seen = new SeenCerts();
    return behavior('mutate', {
      incoming: (event) => {
        if (event.type === 'proposal' || event.type === 'timeout') seen.observe(event);
        return event;
      },
      outgoing: (actions) => actions.map((a) => (isMessage(a) && ctx.rng.chance(0.4) ? withMessage(a, smallScopeMutation(ctx, a.message, seen)) : a)),
    });
  },
};

const wrongState: BehaviorInfo = {
  name: 'wrong-state',
  description: 'as leader, proposes blocks whose executed-state header (state root, log root, block id) is wrong',
  create: (ctx) =>
    behavior('wrong-state', {
      outgoing: (actions) =>
        actions.map((a) => {
          if (!isMessage(a) || a.message.type !== 'proposal') return a;
          const b = a.message.block;
          const e = b.executed;
          const pick = ctx.rng.int(0, 2);
          const executed =
            pick === 0 ? { ...e, stateRoot: randomBytes(ctx.rng, 32) } : pick === 1 ? { ...e, logRoot: randomBytes(ctx.rng, 32) } : { ...e, blockId: randomBytes(ctx.rng, 32) };
          const block = remake(ctx, b, { executed });
          return withMessage(a, a.message.tc ? { type: 'proposal', block, tc: a.message.tc } : { type: 'proposal', block });
        }),
    }),
};

const lyingSync: BehaviorInfo = {
  name: 'lying-sync',
  description:
    'answers sync requests with bad blocks (tampered payloads, forged QCs, gaps) and a forged high QC, says half of the time that blocks it holds are pruned, and serves tampered snapshots (bytes, height, proof blocks, QC)',
  create: (ctx) =>
    behavior('lying-sync', {
      // Pushes an asker towards a snapshot it does not need: one such word must not be enough.
      prunedClaim: (fromHeight) => (ctx.rng.chance(0.5) ? Math.max(1, fromHeight) + 1 + ctx.rng.int(0, 20) : undefined),
      snapshotResponse: (served) => {
        switch (ctx.rng.int(0, 3)) {
          case 0: {
            const bytes = served.bytes.slice();
            const k = ctx.rng.int(0, bytes.length - 1);
            bytes[k] = bytes[k]! ^ 1;
            return { ...served, bytes };
          }
          case 1:
            return { ...served, height: served.height + 1 };
          case 2:
            return { ...served, proof: { ...served.proof, blocks: served.proof.blocks.slice(1) } };
          default:
            return { ...served, proof: { ...served.proof, qc: { ...served.proof.qc, certificate: randomBytes(ctx.rng, served.proof.qc.certificate.length || 40) } } };
        }
      },
      syncResponse: (blocks, highQc) => {
        const forged: QuorumCert = { vote: { ...highQc.vote, round: highQc.vote.round + 5 }, certificate: randomBytes(ctx.rng, highQc.certificate.length || 40) };
        if (blocks.length === 0) return { blocks, highQc: forged };
        const k = ctx.rng.int(0, blocks.length - 1);
        const b = blocks[k]!;
        const bad: Block =
          ctx.rng.int(0, 2) === 0
            ? { ...b, payload: [...b.payload, randomBytes(ctx.rng, 20)] }
            : ctx.rng.chance(0.5)
              ? { ...b, parentQc: { ...b.parentQc, certificate: randomBytes(ctx.rng, b.parentQc.certificate.length || 40) } }
              : b;
        const out = bad === b ? blocks.filter((_, i) => i !== k) : blocks.map((x, i) => (i === k ? bad : x));
        return { blocks: out, highQc: forged };
      },
    }),
};

export const CATALOG: readonly BehaviorInfo[] = [
  silent,
  withholdProposals,
  withholdVotes,
  delayEdge,
  timeoutSpam,
  flood,
  replay,
  badSignatures,
  badBitmaps,
  equivocate,
  doubleVote,
  voteInvalid,
  mutate,
  wrongState,
  lyingSync,
];
