import { bytesEqual, concatBytes, uintBE } from '../../crypto/bytes.js';
import { sha256 } from '../../crypto/hash.js';
import { bitmapFromIndices, bitmapIndices, firstBitPast } from '../../crypto/qc/bitmap.js';
import { quorumSize } from '../../crypto/qc/quorum.js';
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
 * FAKE certificates for tests and the simulator: a "signature" is sha256(u32 signer || digest),
 * which anyone can compute, so this proves nothing against a real adversary. It does keep
 * the structure honest: signer ranges, quorum counts and per-signer messages are all checked,
 * so forged, tampered or under-quorum certificates are still caught in tests.
 */
export function fakeSignature(signer: number, digest: Uint8Array): Uint8Array {
  return sha256(concatBytes(uintBE(signer, 4), digest));
}

export function fakeSigner(index: number): ConsensusSigner {
  return { index, sign: (digest) => fakeSignature(index, digest) };
}

/** Fake aggregate: hash of the per-signer signatures in ascending signer order. */
function fakeAggregate(signatures: readonly Uint8Array[]): Uint8Array {
  return sha256(concatBytes(...signatures));
}

export class FakeCertificateOps implements CertificateOps {
  readonly quorum: number;

  constructor(
    private readonly chainId: string,
    readonly n: number,
  ) {
    this.quorum = quorumSize(n);
  }

  private validSigner(i: number): boolean {
    return Number.isInteger(i) && i >= 0 && i < this.n;
  }

  verifyVote(v: SignedVote): boolean {
    try {
      return this.validSigner(v.signer) && bytesEqual(v.signature, fakeSignature(v.signer, voteDigest(this.chainId, v.vote)));
    } catch {
      return false;
    }
  }

  newVoteAggregator(vote: VoteData): VoteAggregator {
    const digest = voteDigest(this.chainId, vote);
    const sigs = new Map<number, Uint8Array>();
    let qc: QuorumCert | undefined;
    const none: readonly number[] = [];
    return {
      add: (signer, signature) => {
        if (qc) return { qc, faulty: none };
        if (!this.validSigner(signer)) return { faulty: none };
        if (sigs.has(signer)) return { faulty: none };
        // Fake signatures cost nothing to check, so a bad share is named at once.
        if (!bytesEqual(signature, fakeSignature(signer, digest))) return { faulty: [signer] };
        sigs.set(signer, signature);
        if (sigs.size < this.quorum) return { faulty: none };
        const signers = [...sigs.keys()].sort((a, b) => a - b);
        const certificate = concatBytes(bitmapFromIndices(this.n, signers), fakeAggregate(signers.map((i) => sigs.get(i)!)));
        qc = { vote, certificate };
        return { qc, faulty: none };
      },
    };
  }

  /** Certificate layout: bitmap[ceil(n/8)] || sha256(signatures of the signers, in order). */
  verifyQc(qc: QuorumCert): boolean {
    try {
      if (isGenesisQc(this.chainId, qc)) return true;
      const bitmapLen = Math.ceil(this.n / 8);
      if (qc.certificate.length !== bitmapLen + 32) return false;
      const bitmap = qc.certificate.subarray(0, bitmapLen);
      if (firstBitPast(bitmap, this.n) >= 0) return false;
      const signers = bitmapIndices(bitmap);
      if (signers.length < this.quorum) return false;
      const digest = voteDigest(this.chainId, qc.vote);
      return bytesEqual(qc.certificate.subarray(bitmapLen), fakeAggregate(signers.map((i) => fakeSignature(i, digest))));
    } catch {
      return false;
    }
  }

  verifyTimeout(t: SignedTimeout): boolean {
    try {
      return this.validSigner(t.signer) && bytesEqual(t.signature, fakeSignature(t.signer, timeoutDigest(this.chainId, t.round, t.highQcRound)));
    } catch {
      return false;
    }
  }

  newTimeoutAggregator(round: Round): TimeoutAggregator {
    return new TimeoutCollector(round, this.n, this.quorum, fakeAggregate);
  }

  verifyTc(tc: TimeoutCert): boolean {
    try {
      const signers = tcSigners(tc, this.n, this.quorum);
      if (!signers || !this.verifyQc(tc.highestQc)) return false;
      const sigs = signers.map((s, k) => fakeSignature(s, timeoutDigest(this.chainId, tc.round, tc.highQcRounds[k]!)));
      return bytesEqual(tc.certificate, fakeAggregate(sigs));
    } catch {
      return false;
    }
  }
}
