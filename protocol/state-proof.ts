/**
 * Commitments to the application state and the proofs a client checks against them. This module
 * imports only crypto/, so a light client can verify state without the replica code.
 *
 * The state is a set of (key, value) byte-string pairs with distinct keys, committed by a binary
 * sparse Merkle tree over key hashes with path compression (the binary form of the design of
 * Aptos's Jellyfish Merkle tree). With T = "vsmr/state/v2" and taggedHash from crypto/hash.ts:
 *
 *   keyHash(k)    = SHA-256(k)
 *   valueHash(v)  = SHA-256(v)
 *   leaf(k, v)    = taggedHash(T, chainId, 0x00 || keyHash(k) || valueHash(v))
 *   node(l, r)    = SHA-256(l || r)                                          (exactly 64 bytes in)
 *   EMPTY         = 32 zero bytes (the hash of a subtree that holds no key)
 *   stateRoot     = taggedHash(T, chainId, 0x02 || u128 n || treeRoot)     (n = number of pairs)
 *
 * Key k lives on the path spelled by the bits of keyHash(k): bit i is bit (7 - i mod 8) of byte
 * i div 8 (most significant bit of byte 0 first), and bit i chooses the child at depth i (0 =
 * left). The shape is canonical: a subtree holding no key is EMPTY, a subtree holding exactly one
 * key is that key's leaf itself, placed as high as possible (path compression), and a subtree
 * holding two or more keys is an internal node over its two halves. treeRoot is the hash of the
 * whole tree: EMPTY for no key, the single leaf for one key. So treeRoot, and the state root,
 * are pure functions of the key/value set, whatever the order of insertions and deletions.
 *
 * Leaves, internal nodes and state roots stay apart by their inputs: an internal node hashes
 * exactly 64 bytes; a leaf hashes the domain prefix (16 bytes or more: this tag and a chain id of
 * at least one byte) and 65 more, a state root the prefix and 49 more (n is 16 bytes wide for
 * that: with 8, a chain id of 8 bytes made a root's input exactly 64 bytes long), and the
 * 0x00 / 0x02 byte separates those two. Taking one for another therefore takes two distinct
 * SHA-256 inputs with one digest. Internal nodes carry no tag or chain id
 * (v1 tagged them too) so that a whole level of them is one call to a multi-buffer SHA-256
 * (crypto/sha256-pairs.ts), the bulk of the tree's hashing; the chain is still bound by every
 * leaf and by the state root. n is bound into the state root so that the size a proof carries
 * is certified too: every field of an encoded proof is then checked and any change to it fails
 * verification.
 *
 * A proof for key k is the path from the root down to the slot where k's search ends, with the
 * siblings listed bottom-up, and the slot's content (the terminal):
 *   leaf   k's own leaf (key and value in clear): k is present with that value;
 *   other  the leaf of another key, as (keyHash, valueHash), sharing k's path so far: k is absent;
 *   empty  an empty subtree: k is absent.
 * The verifier folds the terminal's hash (leaf / leaf / EMPTY) up with the siblings, taking the
 * bits of keyHash(k) at depths depth-1 .. 0 (h = node(h, s) for bit 0, node(s, h) for bit 1), and
 * compares the result with treeRoot. Before that it checks, besides stateRootOf(n, treeRoot):
 * n = 0 exactly when treeRoot is EMPTY, and then depth 0 with an empty terminal; n = 1 needs
 * depth 0 and a leaf or other terminal; n >= 2 needs depth >= 1; the deepest sibling is not
 * EMPTY (its parent would hold one key and be compressed); a leaf terminal holds k itself; an
 * other terminal's keyHash differs from keyHash(k) and shares its first depth bits. Absence is
 * sound because the certified tree is canonical: were k present, the slot on k's path at any
 * depth would hold an internal node above k's leaf, or k's leaf itself, or a node below it, and
 * neither EMPTY nor another key's leaf hashes like those (barring SHA-256 collisions).
 */
import { bytesEqual } from '../crypto/bytes.js';
import { CryptoError } from '../crypto/errors.js';
import { DOMAIN_TAGS, domainPrefix, SHA256_LENGTH, sha256Bytes, sha256SmallInto, taggedHash } from '../crypto/hash.js';
import { ByteReader, ByteWriter } from './bytes-io.js';

/** Hard limits of the tree and its proofs; the application's own limits are tighter. */
export const MAX_STATE_KEY_BYTES = 1024;
export const MAX_STATE_VALUE_BYTES = 8192;
/** A path has one step per bit of a key hash, so no slot lies deeper than 256. */
export const MAX_STATE_PROOF_DEPTH = 256;

/** Hash of an empty subtree, and so the tree root of the empty state. Never mutate it. */
export const EMPTY_TREE_ROOT: Uint8Array = new Uint8Array(SHA256_LENGTH);

const LEAF_KIND = 0x00;
const ROOT_KIND = Uint8Array.of(0x02);

export type StateProofRejectReason =
  /** Not a proof object / encoding at all, or over a limit. */
  | 'malformed'
  /** treeSize and treeRoot do not open the certified state root. */
  | 'root-mismatch'
  /** The path's depth, terminal or siblings describe a shape the canonical tree never has. */
  | 'non-canonical'
  /** A membership terminal holds another key. */
  | 'key-mismatch'
  /** An absence terminal is the asked key's own leaf: the proof hides a key that exists. */
  | 'key-present'
  /** An absence terminal holds a key that does not share the asked key's path. */
  | 'not-on-path'
  /** The terminal folded up with the siblings does not give treeRoot. */
  | 'invalid-inclusion';

export class StateProofError extends CryptoError {
  constructor(
    readonly reason: StateProofRejectReason,
    detail: string,
  ) {
    super(`state proof rejected: ${reason}: ${detail}`, `STATE_PROOF_${reason.toUpperCase().replaceAll('-', '_')}`);
  }
}

/** What sits in the slot where the asked key's path ends. */
export type StateProofTerminal =
  | { kind: 'leaf'; key: Uint8Array; value: Uint8Array }
  | { kind: 'other'; keyHash: Uint8Array; valueHash: Uint8Array }
  | { kind: 'empty' };

/**
 * `treeSize` and `treeRoot` open the state root; `terminal` sits at depth `siblings.length` on
 * the key's path, and `siblings` are the hashes beside that path, deepest first.
 */
export interface StateProof {
  treeSize: number;
  treeRoot: Uint8Array;
  siblings: Uint8Array[];
  terminal: StateProofTerminal;
}

export type StateLookup = { present: true; value: Uint8Array } | { present: false };

/** Bit `i` of a key hash (the child taken at depth i; 1 = right). */
export function pathBit(keyHash: Uint8Array, i: number): number {
  return (keyHash[i >>> 3]! >>> (7 - (i & 7))) & 1;
}

/**
 * The tree's hash functions for one chain. One-shot SHA-256 over scratch buffers, a leaf's
 * already holding the domain prefix: the same bytes as taggedHash (the state tree hashes
 * thousands of nodes per block), without an incremental hash object per node. Instances are not
 * shared between callers, and hashing is synchronous, so a scratch buffer is never used by two
 * calls at once. The state tree hashes whole levels of internal nodes with sha256PairsInto
 * instead of node(); both compute SHA-256(left || right).
 */
export class StateHasher {
  readonly chainId: string;
  readonly #leafScratch: Uint8Array;
  readonly #at: number;
  readonly #nodeScratch = new Uint8Array(2 * SHA256_LENGTH);

  /** Throws HashInputError for a chain id the hashing layer refuses. */
  constructor(chainId: string) {
    const prefix = domainPrefix(DOMAIN_TAGS.state, chainId);
    this.chainId = chainId;
    this.#leafScratch = new Uint8Array(prefix.length + 1 + 2 * SHA256_LENGTH);
    this.#leafScratch.set(prefix);
    this.#leafScratch[prefix.length] = LEAF_KIND;
    this.#at = prefix.length + 1;
  }

  /** SHA-256(key): where the key lives in the tree. */
  keyHash(key: Uint8Array): Uint8Array {
    return plainSha256(key);
  }

  /** SHA-256(value) */
  valueHash(value: Uint8Array): Uint8Array {
    return plainSha256(value);
  }

  /** taggedHash(state, chainId, 0x00 || keyHash || valueHash) */
  leaf(keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
    return sha256Bytes(this.#fillLeaf(keyHash, valueHash));
  }

  /** SHA-256(left || right) */
  node(left: Uint8Array, right: Uint8Array): Uint8Array {
    const s = this.#nodeScratch;
    s.set(left, 0);
    s.set(right, SHA256_LENGTH);
    return sha256Bytes(s);
  }

  /** leaf(), written into `out` (32 bytes) instead of a fresh array. */
  leafInto(out: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array): void {
    sha256SmallInto(out, this.#fillLeaf(keyHash, valueHash));
  }

  #fillLeaf(keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
    const s = this.#leafScratch;
    s.set(keyHash, this.#at);
    s.set(valueHash, this.#at + SHA256_LENGTH);
    return s;
  }
}

/**
 * SHA-256 of one byte string, as crypto/hash.ts's sha256 computes it, without its argument
 * check repeated: the tree hashes a key and a value per touched entry.
 */
function plainSha256(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new StateProofError('malformed', 'hash input is not a Uint8Array');
  return sha256Bytes(data);
}

export function stateRootOf(chainId: string, treeSize: number, treeRoot: Uint8Array): Uint8Array {
  // u128: the upper 8 bytes stay zero (see the module comment on input lengths).
  const size = new Uint8Array(16);
  new DataView(size.buffer).setBigUint64(8, BigInt(treeSize));
  return taggedHash(DOMAIN_TAGS.state, chainId, ROOT_KIND, size, treeRoot);
}

/** State root of the empty state. */
export function emptyStateRoot(chainId: string): Uint8Array {
  return stateRootOf(chainId, 0, EMPTY_TREE_ROOT);
}

// ---------------------------------------------------------------------------------------------
// Verification

function isUint53(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function checkBytes(v: unknown, what: string, length?: number, max?: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new StateProofError('malformed', `${what} is not a Uint8Array`);
  if (length !== undefined && v.length !== length) {
    throw new StateProofError('malformed', `${what} has ${v.length} bytes, expected ${length}`);
  }
  if (max !== undefined && v.length > max) throw new StateProofError('malformed', `${what} has ${v.length} bytes, limit ${max}`);
}

function checkTerminal(t: unknown): asserts t is StateProofTerminal {
  if (typeof t !== 'object' || t === null) throw new StateProofError('malformed', 'terminal is not an object');
  const x = t as Record<string, unknown>;
  switch (x['kind']) {
    case 'leaf':
      checkBytes(x['key'], 'terminal.key', undefined, MAX_STATE_KEY_BYTES);
      checkBytes(x['value'], 'terminal.value', undefined, MAX_STATE_VALUE_BYTES);
      return;
    case 'other':
      checkBytes(x['keyHash'], 'terminal.keyHash', SHA256_LENGTH);
      checkBytes(x['valueHash'], 'terminal.valueHash', SHA256_LENGTH);
      return;
    case 'empty':
      return;
    default:
      throw new StateProofError('malformed', `unknown terminal kind ${JSON.stringify(String(x['kind']))}`);
  }
}

function checkProofShape(proof: unknown): asserts proof is StateProof {
  if (typeof proof !== 'object' || proof === null) throw new StateProofError('malformed', 'proof is not an object');
  const p = proof as Record<string, unknown>;
  if (!isUint53(p['treeSize'])) throw new StateProofError('malformed', 'treeSize is not a non-negative safe integer');
  checkBytes(p['treeRoot'], 'treeRoot', SHA256_LENGTH);
  const siblings = p['siblings'];
  if (!Array.isArray(siblings) || siblings.length > MAX_STATE_PROOF_DEPTH) {
    throw new StateProofError('malformed', `siblings is not an array of at most ${MAX_STATE_PROOF_DEPTH} hashes`);
  }
  for (let i = 0; i < siblings.length; i++) checkBytes(siblings[i] as unknown, `siblings[${i}]`, SHA256_LENGTH);
  checkTerminal(p['terminal']);
}

/** Whether a and b agree on their first `bits` bits. */
function sharesPrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

const nonCanonical = (detail: string) => new StateProofError('non-canonical', detail);

/**
 * Checks `proof` for `key` against a state root the caller trusts (from a certified block
 * header) and says whether the key is present and with which value. Throws StateProofError for
 * any proof that does not establish its claim; a chain id the hashing layer refuses is the
 * caller's bug and propagates as HashInputError.
 */
export function verifyStateProof(chainId: string, root: Uint8Array, key: Uint8Array, proof: StateProof): StateLookup {
  checkBytes(root, 'root', SHA256_LENGTH);
  checkBytes(key, 'key');
  checkProofShape(proof);
  const { treeSize, treeRoot, siblings, terminal } = proof;
  if (!bytesEqual(stateRootOf(chainId, treeSize, treeRoot), root)) {
    throw new StateProofError('root-mismatch', 'treeSize and treeRoot do not open the state root');
  }

  // The shape rules of the canonical tree, each cheap; most are implied by the fold below (the
  // root check binds n), but stating them keeps the accepted proofs exactly the honest ones.
  const depth = siblings.length;
  if ((treeSize === 0) !== bytesEqual(treeRoot, EMPTY_TREE_ROOT)) {
    throw nonCanonical(`a tree of ${treeSize} keys with ${treeSize === 0 ? 'a non-empty' : 'the empty'} root`);
  }
  if (treeSize === 0 && (depth !== 0 || terminal.kind !== 'empty')) throw nonCanonical('the empty tree has only an empty slot at the root');
  if (treeSize === 1 && (depth !== 0 || terminal.kind === 'empty')) throw nonCanonical('a tree of one key is a single leaf at the root');
  if (treeSize >= 2 && depth === 0) throw nonCanonical(`a tree of ${treeSize} keys has an internal node at the root`);
  // The deepest sibling is never EMPTY: its parent would hold at most one key and be compressed.
  if (depth > 0 && bytesEqual(siblings[0]!, EMPTY_TREE_ROOT)) throw nonCanonical('the deepest sibling is an empty subtree');

  const hasher = new StateHasher(chainId);
  const keyHash = hasher.keyHash(key);
  let acc: Uint8Array;
  switch (terminal.kind) {
    case 'leaf':
      if (!bytesEqual(terminal.key, key)) throw new StateProofError('key-mismatch', 'the proven leaf holds another key');
      acc = hasher.leaf(keyHash, hasher.valueHash(terminal.value));
      break;
    case 'other':
      if (bytesEqual(terminal.keyHash, keyHash)) {
        throw new StateProofError('key-present', 'the leaf shown as another key is the asked key itself');
      }
      if (!sharesPrefix(terminal.keyHash, keyHash, depth)) {
        throw new StateProofError('not-on-path', `the other key does not share the asked key's first ${depth} path bits`);
      }
      acc = hasher.leaf(terminal.keyHash, terminal.valueHash);
      break;
    case 'empty':
      acc = EMPTY_TREE_ROOT;
      break;
  }
  for (let d = depth - 1; d >= 0; d--) {
    const sibling = siblings[depth - 1 - d]!;
    acc = pathBit(keyHash, d) === 1 ? hasher.node(sibling, acc) : hasher.node(acc, sibling);
  }
  if (!bytesEqual(acc, treeRoot)) throw new StateProofError('invalid-inclusion', `the ${terminal.kind} terminal does not fold up to treeRoot`);
  return terminal.kind === 'leaf' ? { present: true, value: terminal.value.slice() } : { present: false };
}

/** `verifyStateProof` that reports failure as `null`; errors other than StateProofError propagate. */
export function tryVerifyStateProof(
  chainId: string,
  root: Uint8Array,
  key: Uint8Array,
  proof: StateProof,
): StateLookup | null {
  try {
    return verifyStateProof(chainId, root, key, proof);
  } catch (err) {
    if (err instanceof StateProofError) return null;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Canonical encoding
//
//   u64 treeSize || treeRoot (32) || u16 depth (<= 256) || depth × sibling (32, deepest first)
//   || u8 terminal (1 = leaf, 2 = other, 3 = empty) || body
//   leaf:  u16 len(key) || key || u32 len(value) || value
//   other: keyHash (32) || valueHash (32)
//   empty: nothing

const TERMINAL_LEAF = 1;
const TERMINAL_OTHER = 2;
const TERMINAL_EMPTY = 3;

/** Largest encoding decodeStateProof accepts: a maximal leaf at the deepest slot. */
export const MAX_STATE_PROOF_BYTES =
  8 + SHA256_LENGTH + 2 + MAX_STATE_PROOF_DEPTH * SHA256_LENGTH + 1 + 2 + MAX_STATE_KEY_BYTES + 4 + MAX_STATE_VALUE_BYTES;

/** Canonical bytes; throws StateProofError('malformed') for a structurally invalid proof. */
export function encodeStateProof(proof: StateProof): Uint8Array {
  checkProofShape(proof);
  const w = new ByteWriter().u64(proof.treeSize).bytes(proof.treeRoot).u16(proof.siblings.length);
  for (const s of proof.siblings) w.bytes(s);
  const t = proof.terminal;
  switch (t.kind) {
    case 'leaf':
      w.u8(TERMINAL_LEAF).u16(t.key.length).bytes(t.key).u32(t.value.length).bytes(t.value);
      break;
    case 'other':
      w.u8(TERMINAL_OTHER).bytes(t.keyHash).bytes(t.valueHash);
      break;
    case 'empty':
      w.u8(TERMINAL_EMPTY);
      break;
  }
  return w.finish();
}

const malformed = (detail: string) => new StateProofError('malformed', detail);

/**
 * Inverse of encodeStateProof; throws StateProofError('malformed') for oversized, truncated or
 * trailing bytes and unknown terminal kinds, so each accepted input re-encodes to itself.
 * Decoding checks structure only; verifyStateProof decides whether the proof holds.
 */
export function decodeStateProof(bytes: Uint8Array): StateProof {
  if (!(bytes instanceof Uint8Array)) throw malformed('encoded proof is not a Uint8Array');
  if (bytes.length > MAX_STATE_PROOF_BYTES) throw malformed(`${bytes.length} bytes, limit ${MAX_STATE_PROOF_BYTES}`);
  const r = new ByteReader(bytes, malformed);
  const treeSize = r.u53('treeSize');
  const treeRoot = r.bytes(SHA256_LENGTH, 'treeRoot');
  const depth = r.u16('depth');
  if (depth > MAX_STATE_PROOF_DEPTH) throw malformed(`depth ${depth}, limit ${MAX_STATE_PROOF_DEPTH}`);
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < depth; i++) siblings.push(r.bytes(SHA256_LENGTH, `siblings[${i}]`));
  const kind = r.u8('terminal kind');
  let terminal: StateProofTerminal;
  if (kind === TERMINAL_LEAF) {
    const keyLength = r.u16('key length');
    if (keyLength > MAX_STATE_KEY_BYTES) throw malformed(`key has ${keyLength} bytes, limit ${MAX_STATE_KEY_BYTES}`);
    const key = r.bytes(keyLength, 'key');
    const valueLength = r.u32('value length');
    if (valueLength > MAX_STATE_VALUE_BYTES) throw malformed(`value has ${valueLength} bytes, limit ${MAX_STATE_VALUE_BYTES}`);
    terminal = { kind: 'leaf', key, value: r.bytes(valueLength, 'value') };
  } else if (kind === TERMINAL_OTHER) {
    terminal = { kind: 'other', keyHash: r.bytes(SHA256_LENGTH, 'keyHash'), valueHash: r.bytes(SHA256_LENGTH, 'valueHash') };
  } else if (kind === TERMINAL_EMPTY) {
    terminal = { kind: 'empty' };
  } else {
    throw malformed(`unknown terminal kind ${kind}`);
  }
  r.end();
  return { treeSize, treeRoot, siblings, terminal };
}
