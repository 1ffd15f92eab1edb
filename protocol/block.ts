import { bytesEqual, uintBE } from '../crypto/bytes.js';
import { DOMAIN_TAGS, HashInputError, sha256, sha256Bytes, taggedHash } from '../crypto/hash.js';
import { lengthPrefixedList } from './bytes-io.js';
import { type Block, type ExecutedState, encodeExecutedState, encodeVoteData, type QuorumCert, type Round, type VoteData } from './types.js';

/**
 * Block ids and the genesis certificate. The header encoding is fixed-width (the payload enters
 * through its hash), so the id is unambiguous and cannot collide with the genesis id, whose
 * input is a short ASCII label of a different length.
 */

/**
 * Hash of the payload: u32 count || (u32 len || command)*, so command boundaries are bound.
 * Written into one buffer and hashed in one call: a block's id is computed two or three times
 * per replica, and 801 hash updates over 401 four-byte arrays each time were a few percent of
 * all the bytes a replica allocated under full blocks.
 */
export function payloadHash(payload: readonly Uint8Array[]): Uint8Array {
  for (let i = 0; i < payload.length; i++) {
    const cmd = payload[i];
    if (!(cmd instanceof Uint8Array)) throw new HashInputError('data', `payload[${i}] is not a Uint8Array`);
    // Its length is a u32 in the hashed bytes; far beyond any wire limit, but never wrapped.
    if (cmd.length > 0xffff_ffff) throw new HashInputError('data', `payload[${i}] is ${cmd.length} bytes, over a u32 length`);
  }
  return sha256Bytes(lengthPrefixedList(payload));
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
  return headerBlockId(chainId, blockHeader(chainId, b));
}

/**
 * A block header as a light client holds it: the block with its payload and parent certificate
 * replaced by their hashes. Enough to recompute the block id, and so to check that a QC
 * certifies this header and its executed state (docs/CERTIFICATE.md).
 */
export interface BlockHeader {
  readonly round: Round;
  readonly height: number;
  readonly author: number;
  /** The parent QC's vote data (its blockId is the parent block). */
  readonly parent: VoteData;
  /** SHA-256 of the parent QC's encoded certificate. */
  readonly parentCertificateHash: Uint8Array;
  readonly payloadHash: Uint8Array;
  readonly executed: ExecutedState;
}

export function blockHeader(chainId: string, b: BlockFields): BlockHeader {
  return {
    round: b.round,
    height: b.height,
    author: b.author,
    parent: b.parentQc.vote,
    parentCertificateHash: sha256(b.parentQc.certificate),
    payloadHash: payloadHash(b.payload),
    executed: b.executed ?? genesisExecutedState(chainId),
  };
}

/** The block id from header fields: the one definition blockId() also goes through. */
export function headerBlockId(chainId: string, h: BlockHeader): Uint8Array {
  return taggedHash(
    DOMAIN_TAGS.block,
    chainId,
    uintBE(h.round, 8),
    uintBE(h.height, 8),
    uintBE(h.author, 4),
    encodeVoteData(h.parent),
    h.parentCertificateHash,
    h.payloadHash,
    encodeExecutedState(h.executed),
  );
}

/** What a vote for the block with this header signs (voteDigest of it). */
export function headerVoteData(chainId: string, h: BlockHeader): VoteData {
  return { blockId: headerBlockId(chainId, h), round: h.round, height: h.height, parentId: h.parent.blockId, parentRound: h.parent.round };
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
  const v = qc.vote;
  // The cheap fields first: every QC a replica checks passes through here, and only a round-0
  // one is worth hashing the genesis id for.
  if (v.round !== 0 || v.height !== 0 || v.parentRound !== 0 || qc.certificate.length !== 0) return false;
  const g = genesisQc(chainId).vote;
  return bytesEqual(v.blockId, g.blockId) && bytesEqual(v.parentId, g.parentId);
}
