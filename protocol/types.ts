import { uintBE } from '../crypto/bytes.js';
import { DOMAIN_TAGS, taggedHash } from '../crypto/hash.js';

/**
 * The consensus messages of the two-chain protocol and the exact bytes each signature covers.
 * Everything signed is a domain-tagged SHA-256 digest bound to the chain id
 * (crypto/hash.ts), so a vote can never be replayed as a timeout or on another chain.
 */

export type Round = number;

/** What a vote for a block certifies; a QC is q signatures on this. */
export interface VoteData {
  /** 32-byte block id. */
  readonly blockId: Uint8Array;
  readonly round: Round;
  readonly height: number;
  readonly parentId: Uint8Array;
  readonly parentRound: Round;
}

/** A certified VoteData; `certificate` is the encoded crypto/qc certificate over voteDigest(). */
export interface QuorumCert {
  readonly vote: VoteData;
  readonly certificate: Uint8Array;
}

/** The block a proposal carries, as far as safety rules need to see it. */
export interface BlockInfo {
  readonly id: Uint8Array;
  readonly round: Round;
  readonly height: number;
  /** Certificate of the parent; its vote.blockId is this block's parent. */
  readonly parentQc: QuorumCert;
}

/** The summary of a timeout certificate that the voting rule needs. */
export interface TimeoutCertInfo {
  readonly round: Round;
  /** The highest QC round among the q timeouts it aggregates. */
  readonly highestQcRound: Round;
}

export interface SignedVote {
  readonly vote: VoteData;
  readonly signer: number;
  /** BLS signature (multisig) or partial signature (threshold) over voteDigest(). */
  readonly signature: Uint8Array;
}

export interface SignedTimeout {
  readonly round: Round;
  readonly highQcRound: Round;
  readonly signer: number;
  readonly signature: Uint8Array;
}

function u64(v: number): Uint8Array {
  return uintBE(v, 8);
}

/** Canonical VoteData bytes: id[32] || u64 round || u64 height || parent id[32] || u64 parent round. */
export function encodeVoteData(v: VoteData): Uint8Array {
  const out = new Uint8Array(32 + 8 + 8 + 32 + 8);
  out.set(v.blockId, 0);
  out.set(u64(v.round), 32);
  out.set(u64(v.height), 40);
  out.set(v.parentId, 48);
  out.set(u64(v.parentRound), 80);
  return out;
}

export function voteDigest(chainId: string, v: VoteData): Uint8Array {
  return taggedHash(DOMAIN_TAGS.vote, chainId, encodeVoteData(v));
}

/**
 * A timeout signs (round, its sender's highest QC round): the messages differ per signer, so a
 * timeout certificate is a BLS aggregate over distinct messages.
 */
export function timeoutDigest(chainId: string, round: Round, highQcRound: Round): Uint8Array {
  return taggedHash(DOMAIN_TAGS.timeout, chainId, u64(round), u64(highQcRound));
}

export function sameVoteData(a: VoteData, b: VoteData): boolean {
  return Buffer.compare(encodeVoteData(a), encodeVoteData(b)) === 0;
}

/**
 * A proposed block. `id` is blockId(chainId, ...) over every other field, so a block cannot be
 * altered without changing the id that votes certify.
 */
export interface Block {
  readonly id: Uint8Array;
  readonly round: Round;
  readonly height: number;
  readonly parentQc: QuorumCert;
  readonly author: number;
  readonly payload: readonly Uint8Array[];
  /** Result of executing an earlier committed block: a QC on this block certifies it too. */
  readonly executed: ExecutedState;
}

/**
 * The application state after executing the committed block at `height`: what a client
 * checks a state or log proof against once a QC covers a header carrying it.
 */
export interface ExecutedState {
  readonly height: number;
  readonly blockId: Uint8Array;
  /** Merkle root of the application state (node/app). */
  readonly stateRoot: Uint8Array;
  /** Merkle root of the committed command log (node/app). */
  readonly logRoot: Uint8Array;
}

/** u64 height || block id[32] || state root[32] || log root[32]. */
export function encodeExecutedState(e: ExecutedState): Uint8Array {
  const out = new Uint8Array(8 + 32 * 3);
  out.set(u64(e.height), 0);
  out.set(e.blockId, 8);
  out.set(e.stateRoot, 40);
  out.set(e.logRoot, 72);
  return out;
}

/**
 * q timeouts for one round. Each signer signed timeoutDigest(round, its own high QC round), so
 * `highQcRounds[i]` belongs to the i-th set bit of `signers` (ascending index) and
 * `certificate` is an aggregate over those distinct messages.
 */
export interface TimeoutCert {
  readonly round: Round;
  /** Signer bitmap in crypto/qc/bitmap.ts layout. */
  readonly signers: Uint8Array;
  readonly highQcRounds: readonly Round[];
  /** The highest QC among the timeouts; the next leader must extend at least this. */
  readonly highestQc: QuorumCert;
  readonly certificate: Uint8Array;
}

/** What replicas send each other. The transport adds the sender as `from` when delivering. */
export type ConsensusMessage =
  | { readonly type: 'proposal'; readonly block: Block; readonly tc?: TimeoutCert }
  | { readonly type: 'vote'; readonly vote: SignedVote }
  | { readonly type: 'timeout'; readonly timeout: SignedTimeout; readonly highQc: QuorumCert; readonly tc?: TimeoutCert };
