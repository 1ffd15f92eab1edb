import type { BlsBackend, BlsSecretKey } from '../../crypto/bls/types.js';
import { CryptoError } from '../../crypto/errors.js';
import { decodeQc, encodeQc } from '../../crypto/qc/codec.js';
import { MultisigQcScheme } from '../../crypto/qc/multisig.js';
import type { QcScheme } from '../../crypto/qc/types.js';
import { VerifiedQcCache } from '../../crypto/qc/verified-cache.js';
import type { ValidatorSet } from '../../crypto/qc/validator-set.js';
import { isGenesisQc } from '../../protocol/block.js';
import { type CertificateOps, TimeoutCollector, tcSigners, type TimeoutAggregator, type VoteAggregator } from './certs.js';
import type { ConsensusSigner } from './safety-rules.js';
import {
  type QuorumCert,
  type Round,
  type SignedTimeout,
  type SignedVote,
  type TimeoutCert,
  timeoutDigest,
  type VoteData,
  voteDigest,
} from '../../protocol/types.js';

/**
 * Real certificates. QCs are whichever crypto/qc scheme the genesis names: multi-signatures by
 * default (one message, aggregate key, one pairing), or threshold signatures under a group key
 * (votes are partials under Shamir shares, combined by Lagrange interpolation). TCs aggregate
 * each validator's own signatures over distinct messages (each signer's high QC round), checked
 * with aggregateVerify, in both cases. The validator set's proofs of possession make the
 * aggregates safe against rogue keys.
 */
export class BlsCertificateOps implements CertificateOps {
  readonly n: number;
  readonly quorum: number;
  /**
   * The QC scheme, remembering what verified: share it with anything else in the process that
   * checks the same certificates (the client-certificate gossip), so each costs one pairing.
   */
  readonly scheme: VerifiedQcCache;
  private readonly backend: BlsBackend;

  constructor(
    private readonly chainId: string,
    private readonly validators: ValidatorSet,
    quorumScheme: QcScheme = new MultisigQcScheme(validators),
  ) {
    if (quorumScheme.n !== validators.n || quorumScheme.quorum !== validators.quorum) {
      throw new RangeError(`QC scheme is for n = ${quorumScheme.n}, q = ${quorumScheme.quorum}; the validator set has n = ${validators.n}, q = ${validators.quorum}`);
    }
    this.scheme = new VerifiedQcCache(quorumScheme);
    this.backend = validators.backend;
    this.n = validators.n;
    this.quorum = validators.quorum;
  }

  verifyVote(v: SignedVote): boolean {
    try {
      return this.scheme.verifyShare(v.signer, voteDigest(this.chainId, v.vote), v.signature);
    } catch {
      return false;
    }
  }

  newVoteAggregator(vote: VoteData): VoteAggregator {
    // Optimistic: shares are checked together once q are in; the cache then knows the QC.
    const agg = this.scheme.newAggregator(voteDigest(this.chainId, vote));
    const named = new Set<number>();
    let qc: QuorumCert | undefined;
    return {
      add: (signer, signature) => {
        if (qc) return { qc, faulty: [] };
        let out: ReturnType<typeof agg.add>;
        try {
          out = agg.add(signer, signature);
        } catch (err) {
          // Only a genesis whose threshold setup is inconsistent gets here (valid partials that
          // do not combine): no QC can form, and the round ends by timeout, not by a crash.
          if (err instanceof CryptoError) return { faulty: [] };
          throw err;
        }
        if (out.status === 'certified') qc = { vote, certificate: encodeQc(out.certificate) };
        const faulty = [...agg.faulty].filter((i) => !named.has(i));
        for (const i of faulty) named.add(i);
        return qc ? { qc, faulty } : { faulty };
      },
    };
  }

  verifyQc(qc: QuorumCert): boolean {
    try {
      if (isGenesisQc(this.chainId, qc)) return true;
      this.scheme.verify(decodeQc(qc.certificate), voteDigest(this.chainId, qc.vote));
      return true;
    } catch {
      return false;
    }
  }

  verifyTimeout(t: SignedTimeout): boolean {
    try {
      if (!Number.isInteger(t.signer) || t.signer < 0 || t.signer >= this.n) return false;
      const digest = timeoutDigest(this.chainId, t.round, t.highQcRound);
      return this.backend.verify(this.validators.publicKey(t.signer), digest, this.backend.signatureFromBytes(t.signature));
    } catch {
      return false;
    }
  }

  newTimeoutAggregator(round: Round): TimeoutAggregator {
    return new TimeoutCollector(round, this.n, this.quorum, (sigs) =>
      this.backend.aggregateSignatures(sigs.map((s) => this.backend.signatureFromBytes(s))).bytes,
    );
  }

  verifyTc(tc: TimeoutCert): boolean {
    try {
      const signers = tcSigners(tc, this.n, this.quorum);
      if (!signers || !this.verifyQc(tc.highestQc)) return false;
      const keys = signers.map((i) => this.validators.publicKey(i));
      const messages = signers.map((_, k) => timeoutDigest(this.chainId, tc.round, tc.highQcRounds[k]!));
      return this.backend.aggregateVerify(keys, messages, this.backend.signatureFromBytes(tc.certificate));
    } catch {
      return false;
    }
  }
}

/**
 * Signs with the validator's BLS key; on a threshold chain, votes are signed with its Shamir
 * share instead (`voteKey`), so that q of them combine into a signature under the group key.
 */
export function blsSigner(backend: BlsBackend, index: number, secretKey: BlsSecretKey, voteKey?: BlsSecretKey): ConsensusSigner {
  const sign = (digest: Uint8Array): Uint8Array => backend.sign(secretKey, digest).bytes;
  if (voteKey === undefined) return { index, sign };
  return { index, sign, signVote: (digest) => backend.sign(voteKey, digest).bytes };
}
