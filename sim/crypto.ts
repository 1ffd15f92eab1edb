import { uintBE } from '../crypto/bytes.js';
import { blsBackend, generateBlsKeyPair, popProve } from '../crypto/bls/index.js';
import { bitmapIndices } from '../crypto/qc/bitmap.js';
import { decodeQc } from '../crypto/qc/codec.js';
import { ValidatorSet } from '../crypto/qc/validator-set.js';
import { isGenesisQc } from '../protocol/block.js';
import { BlsCertificateOps, blsSigner } from '../node/consensus/bls-certs.js';
import type { CertificateOps } from '../node/consensus/certs.js';
import { FakeCertificateOps, fakeSigner } from '../node/consensus/fake-certs.js';
import type { ConsensusSigner } from '../node/consensus/safety-rules.js';
import type { QuorumCert } from '../protocol/types.js';

/** The certificate scheme of a run: what replicas sign and verify with, and how to count signers. */
export interface SimCrypto {
  readonly name: string;
  readonly certs: CertificateOps;
  signer(index: number): ConsensusSigner;
  /** Distinct signers behind a QC (the genesis QC counts as fully signed). */
  qcSigners(qc: QuorumCert): number;
}

/** FAKE signatures (anyone can forge them): fast, and structurally checked like real ones. */
export function fakeCrypto(chainId: string, n: number): SimCrypto {
  const certs = new FakeCertificateOps(chainId, n);
  const bitmapLen = Math.ceil(n / 8);
  return {
    name: 'fake',
    certs,
    signer: fakeSigner,
    qcSigners: (qc) => (isGenesisQc(chainId, qc) ? n : bitmapIndices(qc.certificate.subarray(0, bitmapLen)).length),
  };
}

/** Real BLS (blst) with deterministic keys: key i comes from a fixed seed, so runs replay. */
export function blsCrypto(chainId: string, n: number): SimCrypto {
  const backend = blsBackend('blst');
  const keys = Array.from({ length: n }, (_, i) => {
    const ikm = new Uint8Array(32).fill(0x5a);
    ikm.set(uintBE(i + 1, 4), 0);
    return generateBlsKeyPair(backend, ikm);
  });
  const validators = ValidatorSet.load(
    backend,
    keys.map((k) => ({ publicKey: k.publicKey.bytes, proofOfPossession: popProve(backend, k.secretKey).bytes })),
  );
  const certs = new BlsCertificateOps(chainId, validators);
  return {
    name: 'bls',
    certs,
    signer: (i) => blsSigner(backend, i, keys[i]!.secretKey),
    qcSigners: (qc) => {
      if (isGenesisQc(chainId, qc)) return n;
      try {
        const signers = decodeQc(qc.certificate).signers;
        // A threshold certificate proves q signers by construction.
        return signers ? bitmapIndices(signers).length : certs.quorum;
      } catch {
        return 0;
      }
    },
  };
}
