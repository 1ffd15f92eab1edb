/**
 * Consensus BLS work (votes, timeouts, certificates reduced to key/message/signature sets):
 * one multi-pairing with random scalars for the whole batch, and only when that fails, one
 * verification per set to find the culprits. Honest traffic pays for the batch only.
 */
import type { BlsBackend, BlsSignatureSet } from '../crypto/bls/index.js';

/** A set as raw bytes, so it can cross the worker boundary in one packed buffer. */
export interface BlsSetBytes {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/** u32 count || (u32 len || pk || u32 len || message || u32 len || signature)* */
export function packBlsSets(sets: readonly BlsSetBytes[]): Uint8Array {
  let total = 4;
  for (const s of sets) total += 12 + s.publicKey.length + s.message.length + s.signature.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, sets.length);
  let at = 4;
  for (const s of sets) {
    for (const part of [s.publicKey, s.message, s.signature]) {
      view.setUint32(at, part.length);
      out.set(part, at + 4);
      at += 4 + part.length;
    }
  }
  return out;
}

/** Views into `packed`; throws RangeError on bad framing (framing is ours, not a peer's). */
export function unpackBlsSets(packed: Uint8Array): BlsSetBytes[] {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const count = view.getUint32(0);
  let at = 4;
  const take = (): Uint8Array => {
    const len = view.getUint32(at);
    if (at + 4 + len > packed.length) throw new RangeError('BLS batch framing is truncated');
    const part = packed.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return part;
  };
  const out: BlsSetBytes[] = [];
  for (let i = 0; i < count; i++) out.push({ publicKey: take(), message: take(), signature: take() });
  if (at !== packed.length) throw new RangeError('BLS batch framing has trailing bytes');
  return out;
}

export interface BlsBatchOutcome {
  /** 1 where the set verified, 0 where it did not (including undecodable bytes). */
  readonly valid: Uint8Array;
  /** True when the batch check failed and sets were re-checked one by one. */
  readonly fellBack: boolean;
}

export function verifyBlsSets(sets: readonly BlsSetBytes[], backend: BlsBackend): BlsBatchOutcome {
  const valid = new Uint8Array(sets.length);
  const decoded: BlsSignatureSet[] = [];
  const index: number[] = [];
  for (let i = 0; i < sets.length; i++) {
    const s = sets[i]!;
    try {
      // Undecodable points are the sender's fault and must not poison the batch for the others.
      decoded.push({
        publicKey: backend.publicKeyFromBytes(s.publicKey),
        message: s.message,
        signature: backend.signatureFromBytes(s.signature),
      });
      index.push(i);
    } catch {
      valid[i] = 0;
    }
  }
  if (decoded.length === 0) return { valid, fellBack: false };
  if (decoded.length > 1 && backend.verifyBatch(decoded)) {
    for (const i of index) valid[i] = 1;
    return { valid, fellBack: false };
  }
  for (let k = 0; k < decoded.length; k++) {
    const s = decoded[k]!;
    valid[index[k]!] = backend.verify(s.publicKey, s.message, s.signature) ? 1 : 0;
  }
  return { valid, fellBack: decoded.length > 1 };
}
