/**
 * The light client's verifier: checks a proof bundle against the genesis validator set alone.
 * Nothing the replica says is taken on its word; each lie it could tell is refused with its
 * own reason (BundleRejectReason), checked in this order:
 *
 *   1. chain id of the bundle is the genesis chain id                   wrong-chain
 *   2. the QC decodes and has the genesis validator count               qc-malformed, qc-validator-count
 *   3. the header hashes to the claimed block id                        block-id-mismatch
 *   4. the QC's digest is voteDigest(header's vote data)                qc-digest-mismatch
 *   5. bitmap length, bits past n, quorum, signature encoding, pairing  qc-bitmap-length, qc-bitmap-overflow,
 *                                                                       qc-below-quorum, qc-signature-encoding,
 *                                                                       qc-bad-signature
 *   6. executed state is of an earlier block and covers the claimed height  executed-state, stale-certificate
 *   7. log entry: position inside the log, inclusion under the certified log root  log-position, log-inclusion
 *      (and, in verifyCommitOf, that the entry is the submitter's own request)     log-entry-mismatch
 *   8. state: proof opens the certified state root and proves the claimed value or absence
 *                                                                       state-proof, state-value-mismatch, false-absence
 *
 * Structural checks run first because they are cheap and because an attacker should not be able
 * to make the client do a pairing for free.
 */
import { bytesEqual, toHex } from '../crypto/bytes.js';
import { BlsDecodeError, CryptoError, EncodingError, QcVerifyError } from '../crypto/errors.js';
import { decodeQc } from '../crypto/qc/codec.js';
import { MultisigQcScheme } from '../crypto/qc/multisig.js';
import type { QcScheme, QuorumCertificate } from '../crypto/qc/types.js';
import type { ValidatorSet } from '../crypto/qc/validator-set.js';
import { headerBlockId, headerVoteData } from '../protocol/block.js';
import type { ProofBundle } from '../protocol/bundle.js';
import { LogProofError, verifyLogEntry } from '../protocol/log-proof.js';
import { requestId } from '../protocol/request.js';
import { resultName } from '../protocol/result.js';
import { StateProofError, decodeStateProof, verifyStateProof } from '../protocol/state-proof.js';
import { voteDigest } from '../protocol/types.js';

export type BundleRejectReason =
  | 'wrong-chain'
  | 'qc-malformed'
  | 'qc-validator-count'
  | 'block-id-mismatch'
  | 'qc-digest-mismatch'
  | 'qc-bitmap-length'
  | 'qc-bitmap-overflow'
  | 'qc-below-quorum'
  | 'qc-signature-encoding'
  | 'qc-bad-signature'
  | 'executed-state'
  | 'stale-certificate'
  | 'log-position'
  | 'log-inclusion'
  | 'log-entry-mismatch'
  | 'state-proof'
  | 'state-value-mismatch'
  | 'false-absence';

/** A bundle that does not establish what it claims; `reason` is stable for tests and scripts. */
export class BundleVerifyError extends CryptoError {
  constructor(
    readonly reason: BundleRejectReason,
    readonly detail: string,
  ) {
    super(`bundle rejected: ${reason}: ${detail}`, `BUNDLE_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

/** What a client trusts: the chain id and validator set of its genesis file (a parsed Genesis fits). */
export interface TrustAnchor {
  readonly chainId: string;
  readonly validatorSet: ValidatorSet;
  /** The genesis's QC scheme (a parsed Genesis has it); without it, multi-signatures over the set. */
  readonly quorumScheme?: QcScheme;
}

export interface VerifyOptions {
  /**
   * The QC form to check against, overriding the anchor's (for instance one that remembers
   * what it verified). Default: the anchor's scheme, else the multi-signature form over the
   * anchor's validator set.
   */
  readonly scheme?: QcScheme;
}

/** What a valid bundle establishes. */
export interface VerifiedBundle {
  readonly chainId: string;
  readonly blockId: Uint8Array;
  readonly blockHeight: number;
  readonly round: number;
  readonly executedHeight: number;
  readonly stateRoot: Uint8Array;
  readonly logRoot: Uint8Array;
  readonly signers: number | null;
  readonly log?: { readonly position: number; readonly requestId: Uint8Array; readonly result: number };
  readonly state?: { readonly key: Uint8Array; readonly value: Uint8Array | null };
}

const QC_REASONS: Readonly<Record<string, BundleRejectReason>> = {
  'bitmap-length': 'qc-bitmap-length',
  'bitmap-overflow': 'qc-bitmap-overflow',
  'below-quorum': 'qc-below-quorum',
  'digest-mismatch': 'qc-digest-mismatch',
  'wrong-kind': 'qc-malformed',
  malformed: 'qc-malformed',
};

function schemeFor(anchor: TrustAnchor, options: VerifyOptions): QcScheme {
  return options.scheme ?? anchor.quorumScheme ?? new MultisigQcScheme(anchor.validatorSet);
}

/** Checks the QC against the header; returns the decoded QC. */
function verifyCertificate(bundle: ProofBundle, anchor: TrustAnchor, scheme: QcScheme): QuorumCertificate {
  let qc: QuorumCertificate;
  try {
    qc = decodeQc(bundle.qc);
  } catch (err) {
    if (err instanceof EncodingError) throw new BundleVerifyError('qc-malformed', err.message);
    throw err;
  }
  if (qc.kind !== scheme.kind) throw new BundleVerifyError('qc-malformed', `a ${qc.kind} QC where the chain uses ${scheme.kind}`);
  if (qc.n !== scheme.n) throw new BundleVerifyError('qc-validator-count', `QC is for ${qc.n} validators, the genesis has ${scheme.n}`);
  const id = headerBlockId(anchor.chainId, bundle.header);
  if (!bytesEqual(id, bundle.blockId)) throw new BundleVerifyError('block-id-mismatch', `header hashes to ${toHex(id)}, bundle claims ${toHex(bundle.blockId)}`);
  const digest = voteDigest(anchor.chainId, headerVoteData(anchor.chainId, bundle.header));
  if (!bytesEqual(digest, qc.digest)) throw new BundleVerifyError('qc-digest-mismatch', 'the QC certifies a different vote than this header');
  try {
    scheme.verify(qc, digest);
  } catch (err) {
    if (err instanceof QcVerifyError) {
      if (err.reason === 'bad-signature') {
        // A signature that is not even a curve point is a different lie from a valid point that
        // does not verify (wrong signers, wrong message): report which.
        const encoding = /invalid BLS signature/.test(err.message);
        throw new BundleVerifyError(encoding ? 'qc-signature-encoding' : 'qc-bad-signature', err.message);
      }
      throw new BundleVerifyError(QC_REASONS[err.reason] ?? 'qc-malformed', err.message);
    }
    if (err instanceof BlsDecodeError) throw new BundleVerifyError('qc-signature-encoding', err.message);
    throw err;
  }
  return qc;
}

/**
 * Verifies `bundle` under `anchor` (the genesis). Returns what it establishes, or throws
 * BundleVerifyError with the reason. Errors other than BundleVerifyError are bugs.
 */
export function verifyBundle(bundle: ProofBundle, anchor: TrustAnchor, options: VerifyOptions = {}): VerifiedBundle {
  if (bundle.chainId !== anchor.chainId) {
    throw new BundleVerifyError('wrong-chain', `bundle is for chain ${JSON.stringify(bundle.chainId)}, the genesis is ${JSON.stringify(anchor.chainId)}`);
  }
  const scheme = schemeFor(anchor, options);
  const qc = verifyCertificate(bundle, anchor, scheme);
  const { header } = bundle;
  const executed = header.executed;
  if (executed.height >= header.height) {
    throw new BundleVerifyError('executed-state', `executed height ${executed.height} is not below the block height ${header.height}`);
  }
  if (header.parent.height + 1 !== header.height || header.parent.round >= header.round) {
    throw new BundleVerifyError('executed-state', 'the header does not extend its parent (height or round)');
  }
  if (executed.height < bundle.height) {
    throw new BundleVerifyError('stale-certificate', `certified executed height ${executed.height} does not reach the claimed height ${bundle.height}`);
  }
  const out: { -readonly [K in keyof VerifiedBundle]: VerifiedBundle[K] } = {
    chainId: anchor.chainId,
    blockId: bundle.blockId,
    blockHeight: header.height,
    round: header.round,
    executedHeight: executed.height,
    stateRoot: executed.stateRoot,
    logRoot: executed.logRoot,
    signers: qc.signers === null ? null : countBits(qc.signers),
  };
  if (bundle.log) {
    const l = bundle.log;
    if (l.position >= l.treeSize) throw new BundleVerifyError('log-position', `position ${l.position} is past the proof's log size ${l.treeSize}`);
    const entry = { position: l.position, requestId: l.requestId, result: l.result as never };
    try {
      verifyLogEntry(anchor.chainId, executed.logRoot, entry, { index: l.position, treeSize: l.treeSize, path: [...l.path] });
    } catch (err) {
      if (err instanceof LogProofError) throw new BundleVerifyError(err.reason === 'position-mismatch' ? 'log-position' : 'log-inclusion', err.message);
      throw err;
    }
    out.log = { position: l.position, requestId: l.requestId, result: l.result };
  }
  if (bundle.state) {
    const s = bundle.state;
    let lookup: ReturnType<typeof verifyStateProof>;
    try {
      const proof = decodeStateProof(s.proof);
      lookup = verifyStateProof(anchor.chainId, executed.stateRoot, s.key, proof);
    } catch (err) {
      if (err instanceof StateProofError) {
        // An absence "proof" that shows the asked key's own leaf as another key's is how a
        // replica would hide a key that exists: named as such. (Other hiding attempts, such as
        // an empty slot where the key's leaf is, fail to fold up to the root: 'state-proof'.)
        const hiding = s.value === null && err.reason === 'key-present';
        throw new BundleVerifyError(hiding ? 'false-absence' : 'state-proof', err.message);
      }
      throw err;
    }
    if (lookup.present !== (s.value !== null) || (lookup.present && s.value !== null && !bytesEqual(lookup.value, s.value))) {
      throw new BundleVerifyError(
        'state-value-mismatch',
        `the proof shows ${lookup.present ? `value ${toHex(lookup.value)}` : 'absence'}, the bundle claims ${s.value === null ? 'absence' : `value ${toHex(s.value)}`}`,
      );
    }
    out.state = { key: s.key, value: s.value };
  }
  return out;
}

function countBits(bitmap: Uint8Array): number {
  let n = 0;
  for (const b of bitmap) for (let v = b; v !== 0; v &= v - 1) n++;
  return n;
}

/** One line for humans: what the bundle proves. */
export function summarizeVerified(v: VerifiedBundle): string {
  const parts = [
    `valid: chain ${v.chainId} block ${v.blockHeight} ${toHex(v.blockId)} round ${v.round}`,
    `certifies height ${v.executedHeight} state ${toHex(v.stateRoot)} log ${toHex(v.logRoot)}`,
    `signers ${v.signers ?? 'threshold'}`,
  ];
  if (v.log) parts.push(`log position ${v.log.position} result ${resultName(v.log.result)}`);
  if (v.state) parts.push(`key ${toHex(v.state.key)} ${v.state.value === null ? 'absent' : `= ${toHex(v.state.value)}`}`);
  return parts.join('; ');
}

/** What a replica's receipt claims about a submitted request's commit. */
export interface ClaimedCommit {
  readonly height: number;
  readonly position: number;
  readonly result: number;
}

/**
 * Checks that a verified bundle proves the commit of `request` (its signed bytes) that `receipt`
 * claims: the proven log entry carries the request's own id (SHA-256 of those bytes), at the
 * receipt's position, with its result, under a certificate whose executed state reaches the
 * receipt's height. A replica's receipt is only its word, and another request may carry the same
 * command bytes: without the id check a replica could answer for one request with the proof of
 * another. Throws BundleVerifyError('log-entry-mismatch').
 */
export function verifyCommitOf(verified: VerifiedBundle, request: Uint8Array, receipt: ClaimedCommit): void {
  const log = verified.log;
  if (log === undefined) throw new BundleVerifyError('log-entry-mismatch', 'the bundle proves no log entry');
  if (!bytesEqual(log.requestId, requestId(request))) {
    throw new BundleVerifyError('log-entry-mismatch', `the entry at position ${log.position} is request ${toHex(log.requestId)}, not the one submitted`);
  }
  if (log.position !== receipt.position) throw new BundleVerifyError('log-entry-mismatch', `the receipt says position ${receipt.position}, the proof ${log.position}`);
  if (log.result !== receipt.result) {
    throw new BundleVerifyError('log-entry-mismatch', `the receipt says ${resultName(receipt.result)}, the log ${resultName(log.result)}`);
  }
  if (verified.executedHeight < receipt.height) {
    throw new BundleVerifyError('log-entry-mismatch', `the receipt says height ${receipt.height}, the certificate covers ${verified.executedHeight}`);
  }
}
