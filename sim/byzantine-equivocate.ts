import { bytesToHex } from '../crypto/bytes.js';
import { makeBlock } from '../protocol/block.js';
import type { ConsensusAction, ConsensusEvent } from '../node/consensus/messages.js';
import { signVoteDigest } from '../node/consensus/safety-rules.js';
import { type Block, type QuorumCert, type SignedVote, type TimeoutCert, type VoteData, voteDigest } from '../protocol/types.js';
import type { BehaviorInfo, ByzantineContext } from './byzantine.js';
import { rewriteProposalBroadcasts } from './behaviors/proposal-rewrite.js';

/**
 * `equivocate-unsafe`: a coalition that tries to fork the chain, to show the checker reports it
 * when there are MORE than f Byzantine replicas (with at most f it must fail). The last B
 * replicas lead consecutive rounds r, r+1, r+2 (needs B >= 3, e.g. n = 7 with B = 3 > f = 2).
 * In round r the leader sends its block to the first half of the honest replicas and an empty
 * twin to the second half; the colluders sign both, collect the second half's votes for the
 * twins (the next leaders are colluders), and extend each side with its own certified chain,
 * so each half commits a different block at the same height.
 */

interface Pending {
  readonly ctx: ByzantineContext;
  readonly block: Block;
  readonly tc: TimeoutCert | undefined;
  /** The twin whose QC this proposal's own twin must extend. */
  readonly waitFor: string;
}

class Coalition {
  attacked = false;
  /** Original block id -> its twin. */
  readonly twinOf = new Map<string, Block>();
  readonly twins = new Map<string, { block: Block; votes: Map<number, Uint8Array>; qc: QuorumCert | undefined }>();
  readonly pending: Pending[] = [];
}

const hex = (b: Uint8Array): string => bytesToHex(b);

function voteData(b: Block): VoteData {
  return { blockId: b.id, round: b.round, height: b.height, parentId: b.parentQc.vote.blockId, parentRound: b.parentQc.vote.round };
}

function coalitionOf(ctx: ByzantineContext): Coalition {
  const existing = ctx.shared.get('equivocate-unsafe');
  if (existing instanceof Coalition) return existing;
  const c = new Coalition();
  ctx.shared.set('equivocate-unsafe', c);
  return c;
}

/** Honest replicas split in two: the original goes to `a` (and the colluders), the twin to `b`. */
function halves(ctx: ByzantineContext): { a: number[]; b: number[] } {
  const honest = Array.from({ length: ctx.n }, (_, i) => i).filter((i) => !ctx.members.includes(i));
  const mid = Math.ceil(honest.length / 2);
  return { a: honest.slice(0, mid), b: honest.slice(mid) };
}

function proposalTo(to: number, block: Block, tc: TimeoutCert | undefined): ConsensusAction {
  return { type: 'send', to, message: tc ? { type: 'proposal', block, tc } : { type: 'proposal', block } };
}

function leadsNextThree(ctx: ByzantineContext, round: number): boolean {
  return [0, 1, 2].every((k) => ctx.members.includes((round + k) % ctx.n));
}

/** Registers a twin and signs it with every colluder's key. */
function addTwin(c: Coalition, ctx: ByzantineContext, original: Block, twin: Block): void {
  c.twinOf.set(hex(original.id), twin);
  const votes = new Map<number, Uint8Array>();
  const digest = voteDigest(ctx.chainId, voteData(twin));
  for (const m of ctx.members) votes.set(m, signVoteDigest(ctx.memberSigner(m), digest));
  c.twins.set(hex(twin.id), { block: twin, votes, qc: undefined });
}

function release(c: Coalition, p: Pending, parentQc: QuorumCert): void {
  const twin = makeBlock(p.ctx.chainId, { round: p.block.round, height: p.block.height, parentQc, author: p.block.author, payload: [], executed: p.block.executed });
  addTwin(c, p.ctx, p.block, twin);
  const { a, b } = halves(p.ctx);
  const others = p.ctx.members.filter((m) => m !== p.ctx.index);
  p.ctx.emit([...[...a, ...others].map((to) => proposalTo(to, p.block, p.tc)), ...b.map((to) => proposalTo(to, twin, p.tc))]);
}

function tryCertify(c: Coalition, ctx: ByzantineContext, twinId: string): void {
  const t = c.twins.get(twinId);
  if (!t || t.qc || t.votes.size < ctx.certs.quorum) return;
  const agg = ctx.certs.newVoteAggregator(voteData(t.block));
  let qc: QuorumCert | undefined;
  for (const [signer, sig] of t.votes) qc = agg.add(signer, sig).qc ?? qc;
  if (!qc) return;
  t.qc = qc;
  for (const p of c.pending.filter((x) => x.waitFor === twinId)) {
    c.pending.splice(c.pending.indexOf(p), 1);
    release(c, p, qc);
  }
}

export const equivocateUnsafe: BehaviorInfo = {
  name: 'equivocate-unsafe',
  description: 'colluding leaders send conflicting twin blocks to two halves of the honest replicas (forks the chain only with > f colluders)',
  create: (ctx) => {
    const c = coalitionOf(ctx);
    return {
      name: 'equivocate-unsafe',
      servesSync: true,
      outgoing: (actions) =>
        rewriteProposalBroadcasts(actions, ({ block, tc, original }) => {
          const parentTwin = c.twinOf.get(hex(block.parentQc.vote.blockId));
          if (!c.attacked && block.round >= 3 && leadsNextThree(ctx, block.round)) {
            c.attacked = true;
            // Round r: the same parent, a different (empty) payload.
            const twin = makeBlock(ctx.chainId, { round: block.round, height: block.height, parentQc: block.parentQc, author: block.author, payload: [], executed: block.executed });
            addTwin(c, ctx, block, twin);
            const { a: first, b: second } = halves(ctx);
            const others = ctx.members.filter((m) => m !== ctx.index);
            return [...[...first, ...others].map((to) => proposalTo(to, block, tc)), ...second.map((to) => proposalTo(to, twin, tc))];
          }
          if (!parentTwin) return [original];
          // Rounds r+1, r+2: wait until the twin chain is certified, then extend both sides.
          const waitFor = hex(parentTwin.id);
          const p: Pending = { ctx, block, tc, waitFor };
          const qc = c.twins.get(waitFor)?.qc;
          if (qc) release(c, p, qc);
          else c.pending.push(p);
          return [];
        }),
      incoming: (event: ConsensusEvent) => {
        if (event.type === 'vote') {
          const v: SignedVote = event.vote;
          const id = hex(v.vote.blockId);
          const t = c.twins.get(id);
          if (t && ctx.certs.verifyVote(v)) {
            t.votes.set(v.signer, v.signature);
            tryCertify(c, ctx, id);
          }
        }
        return event;
      },
    };
  },
};
