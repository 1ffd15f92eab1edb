/**
 * How the application lays its data out in the one authenticated map: a namespace byte, then
 * the user's bytes. KV key k lives at 0x00 || k, the balance of account a at 0x01 || a, and the
 * replay record of client key c at 0x02 || c, so no choice of KV key can overwrite or forge a
 * balance or a replay record. A balance is a u64 big-endian value; zero
 * balances are deleted rather than stored, so "never funded" and "spent to zero" are the same
 * state and give the same root.
 */
import { concatBytes } from '../../crypto/bytes.js';
import { MAX_ACCOUNT_BYTES, MAX_AMOUNT, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../protocol/command.js';
import { CLIENT_KEY_BYTES } from '../../protocol/request.js';
import type { StateProof } from '../../protocol/state-proof.js';
import { StateProofError, verifyStateProof } from '../../protocol/state-proof.js';
import { decodeReplayRecord } from './replay-window.js';

export const KV_NAMESPACE = 0x00;
export const BALANCE_NAMESPACE = 0x01;
/** A client's replay record (replay-window.ts) at 0x02 || its 32-byte ed25519 key. */
export const REPLAY_NAMESPACE = 0x02;
export const BALANCE_BYTES = 8;

export function kvStateKey(key: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(KV_NAMESPACE), key);
}

export function balanceStateKey(account: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(BALANCE_NAMESPACE), account);
}

export function replayStateKey(clientKey: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(REPLAY_NAMESPACE), clientKey);
}

export function encodeBalance(amount: bigint): Uint8Array {
  if (amount < 0n || amount > MAX_AMOUNT) throw new RangeError(`balance ${amount} is not a u64`);
  const out = new Uint8Array(BALANCE_BYTES);
  new DataView(out.buffer).setBigUint64(0, amount);
  return out;
}

/** null for bytes that are not a stored balance (wrong length, or the never-stored zero). */
export function decodeBalance(bytes: Uint8Array): bigint | null {
  if (bytes.length !== BALANCE_BYTES) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0);
  return v === 0n ? null : v;
}

/**
 * Whether (stateKey, value) can be part of a valid application state: the namespace is known,
 * the user part respects the command limits and a balance is a non-zero u64. Used to refuse
 * snapshots that no sequence of commands could have produced.
 */
export function isValidStateEntry(stateKey: Uint8Array, value: Uint8Array): boolean {
  const body = stateKey.length - 1;
  switch (stateKey[0]) {
    case KV_NAMESPACE:
      return body >= 1 && body <= MAX_KEY_BYTES && value.length <= MAX_VALUE_BYTES;
    case BALANCE_NAMESPACE:
      return body >= 1 && body <= MAX_ACCOUNT_BYTES && decodeBalance(value) !== null;
    case REPLAY_NAMESPACE:
      return body === CLIENT_KEY_BYTES && decodeReplayRecord(value) !== null;
    default:
      return false;
  }
}

/** Client side: the value of KV key `key` under a certified state root, or undefined if absent. */
export function verifyKvProof(chainId: string, stateRoot: Uint8Array, key: Uint8Array, proof: StateProof): Uint8Array | undefined {
  const r = verifyStateProof(chainId, stateRoot, kvStateKey(key), proof);
  return r.present ? r.value : undefined;
}

/** Client side: the balance of `account` under a certified state root (0n when absent). */
export function verifyBalanceProof(chainId: string, stateRoot: Uint8Array, account: Uint8Array, proof: StateProof): bigint {
  const r = verifyStateProof(chainId, stateRoot, balanceStateKey(account), proof);
  if (!r.present) return 0n;
  const balance = decodeBalance(r.value);
  // Unreachable under a root honest replicas certified; refused rather than read as garbage.
  if (balance === null) throw new StateProofError('malformed', 'proven balance is not a non-zero u64');
  return balance;
}
