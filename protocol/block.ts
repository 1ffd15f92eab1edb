import { bytesEqual, uintBE } from '../crypto/bytes.js';
import { DOMAIN_TAGS, sha256, sha256Parts, taggedHash } from '../crypto/hash.js';
import { type Block, type ExecutedState, encodeExecutedState, encodeVoteData, type QuorumCert, type Round, type VoteData } from './types.js';

/**
 * Block ids and the genesis certificate. The header encoding is fixed-width (the payload enters
 * through its hash), so the id is unambiguous and cannot collide with the genesis id, whose
 * input is a short ASCII label of a different length.
 */

/** Hash of the payload: u32 count || (u32 len || command)*, so command boundaries are bound. */
export function payloadHash(payload: readonly Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [uintBE(payload.length, 4)];
  for (const cmd of payload) parts.push(uintBE(cmd.length, 4), cmd);
  return sha256Parts(parts);
}

export interface BlockFields {
  readonly round: Round;
  readonly height: number;
  readonly parentQc: QuorumCert;
  readonly author: number;
  readonly payload: readonly Uint8Array[];
  /** Defaults to the genesis state, for runtimes (and tests) that do not execute. */
  readonly executed?: ExecutedState;
}

/**
 * taggedHash(block, chainId, u64 round || u64 height || u32 author || parent vote ||
 * sha256(parent cert) || payload hash || executed state).
 */
export function blockId(chainId: string, b: BlockFields): Uint8Array {
  return taggedHash(
    DOMAIN_TAGS.block,
    chainId,
    uintBE(b.round, 8),
    uintBE(b.height, 8),
    uintBE(b.author, 4),
    encodeVoteData(b.parentQc.vote),
    sha256(b.parentQc.certificate),
    payloadHash(b.payload),
    encodeExecutedState(b.executed ?? genesisExecutedState(chainId)),
  );
}

export function makeBlock(chainId: string, fields: BlockFields): Block {
  const full = { ...fields, executed: fields.executed ?? genesisExecutedState(chainId) };
  return { ...full, id: blockId(chainId, full) };
}

/**
 * Height 0: nothing executed yet. The roots are zero here; a runtime whose application has a
 * non-empty genesis state reports it with an `executed` event for height 0 before starting.
 */
export function genesisExecutedState(chainId: string): ExecutedState {
  return { height: 0, blockId: genesisBlockId(chainId), stateRoot: new Uint8Array(32), logRoot: new Uint8Array(32) };
}

export function sameExecutedState(a: ExecutedState, b: ExecutedState): boolean {
  return bytesEqual(encodeExecutedState(a), encodeExecutedState(b));
}

export function genesisBlockId(chainId: string): Uint8Array {
  return taggedHash(DOMAIN_TAGS.block, chainId, new TextEncoder().encode('genesis'));
}

/** Round 0, height 0, its own parent; certified by definition, so it carries no signatures. */
export function genesisQc(chainId: string): QuorumCert {
  const id = genesisBlockId(chainId);
  const vote: VoteData = { blockId: id, round: 0, height: 0, parentId: id, parentRound: 0 };
  return { vote, certificate: new Uint8Array(0) };
}

export function isGenesisQc(chainId: string, qc: QuorumCert): boolean {
  const g = genesisQc(chainId).vote;
  const v = qc.vote;
  return (
    v.round === 0 &&
    v.height === 0 &&
    v.parentRound === 0 &&
    bytesEqual(v.blockId, g.blockId) &&
    bytesEqual(v.parentId, g.parentId) &&
    qc.certificate.length === 0
  );
}
