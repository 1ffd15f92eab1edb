import type { ConsensusMessage } from '../node/consensus/messages.js';
import type { Block, QuorumCert, TimeoutCert } from '../protocol/types.js';

/**
 * ESTIMATED wire size of a message, from its contents, until the wire codec lands: fixed-width
 * integers as u64/u32, byte strings with a u32 length prefix, a 1-byte type tag per message and
 * per optional field. Good for comparing runs and fault mixes, not for exact bandwidth.
 */
const TAG = 1;
const U64 = 8;
const U32 = 4;
const ID = 32;
/** VoteData: block id, round, height, parent id, parent round. */
const VOTE_DATA = ID + U64 + U64 + ID + U64;
/** ExecutedState: height, block id, state root, log root. */
const EXECUTED = U64 + ID * 3;

const bytesField = (b: Uint8Array): number => U32 + b.length;

export function qcSize(qc: QuorumCert): number {
  return VOTE_DATA + bytesField(qc.certificate);
}

export function tcSize(tc: TimeoutCert): number {
  return U64 + bytesField(tc.signers) + U32 + U64 * tc.highQcRounds.length + qcSize(tc.highestQc) + bytesField(tc.certificate);
}

export function blockSize(b: Block): number {
  let payload = U32;
  for (const c of b.payload) payload += bytesField(c);
  return ID + U64 + U64 + U32 + qcSize(b.parentQc) + payload + EXECUTED;
}

export function messageSize(m: ConsensusMessage): number {
  switch (m.type) {
    case 'proposal':
      return TAG + blockSize(m.block) + TAG + (m.tc ? tcSize(m.tc) : 0);
    case 'vote':
      return TAG + VOTE_DATA + U32 + bytesField(m.vote.signature);
    case 'timeout':
      return TAG + U64 + U64 + U32 + bytesField(m.timeout.signature) + qcSize(m.highQc) + TAG + (m.tc ? tcSize(m.tc) : 0);
  }
}

export function syncRequestSize(): number {
  return TAG + U64;
}

export function syncResponseSize(blocks: readonly Block[], highQc: QuorumCert): number {
  let total = TAG + U32 + qcSize(highQc);
  for (const b of blocks) total += blockSize(b);
  return total;
}
