import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes, toHex, uintBE } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { sha256Noble } from '../../../crypto/hash.js';
import type { StateProof, StateProofRejectReason } from '../../../protocol/state-proof.js';
import {
  decodeStateProof,
  emptyStateRoot,
  encodeStateProof,
  MAX_STATE_PROOF_BYTES,
  stateRootOf,
  StateProofError,
  tryVerifyStateProof,
  verifyStateProof,
} from '../../../protocol/state-proof.js';
import { StateTree } from '../../../node/app/state-tree.js';
import { CHAIN, stateMap } from './arbitraries.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ZERO = new Uint8Array(32);

// ---------------------------------------------------------------------------------------------
// Reference: the commitment computed from the written spec (state-proof.ts), independently of
// the code (noble SHA-256, prefix built by hand, recursion over a sorted list instead of a trie).
// prefix = u8 len(tag) || tag || u8 len(chain) || chain.

const prefixOf = (chain: string) => concatBytes(Uint8Array.of(13), ascii('vsmr/state/v2'), Uint8Array.of(chain.length), ascii(chain));
const PREFIX = prefixOf(CHAIN);
const refLeaf = (keyHash: Uint8Array, valueHash: Uint8Array) => sha256Noble(concatBytes(PREFIX, Uint8Array.of(0), keyHash, valueHash));
const refNode = (l: Uint8Array, r: Uint8Array) => sha256Noble(concatBytes(l, r));
const refStateRoot = (n: number, treeRoot: Uint8Array) => sha256Noble(concatBytes(PREFIX, Uint8Array.of(2), new Uint8Array(8), uintBE(n, 8), treeRoot));
const bit = (h: Uint8Array, i: number) => (h[i >> 3]! >> (7 - (i % 8))) & 1;

interface RefItem {
  keyHash: Uint8Array;
  valueHash: Uint8Array;
}

/** Canonical subtree hash of items sorted by keyHash that share their first `depth` bits. */
function refSubtree(items: readonly RefItem[], depth: number): Uint8Array {
  if (items.length === 0) return ZERO;
  if (items.length === 1) return refLeaf(items[0]!.keyHash, items[0]!.valueHash);
  // Sorted by hash, so the items with bit `depth` = 0 come first.
  let split = 0;
  while (split < items.length && bit(items[split]!.keyHash, depth) === 0) split++;
  return refNode(refSubtree(items.slice(0, split), depth + 1), refSubtree(items.slice(split), depth + 1));
}

function refTreeRoot(pairs: readonly (readonly [Uint8Array, Uint8Array])[]): Uint8Array {
  const items = pairs
    .map(([k, v]) => ({ keyHash: sha256Noble(k), valueHash: sha256Noble(v) }))
    .sort((a, b) => Buffer.compare(a.keyHash, b.keyHash));
  return refSubtree(items, 0);
}

const refRoot = (pairs: readonly (readonly [Uint8Array, Uint8Array])[]) => refStateRoot(pairs.length, refTreeRoot(pairs));

// ---------------------------------------------------------------------------------------------

function treeOf(pairs: readonly (readonly [Uint8Array, Uint8Array])[], chain = CHAIN): StateTree {
  const t = new StateTree(chain);
  for (const [k, v] of pairs) t.set(k, v);
  return t;
}

function rejects(fn: () => unknown, reason?: StateProofRejectReason): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StateProofError, `expected StateProofError, got ${String(err)}`);
    if (reason !== undefined) assert.equal(err.reason, reason, err.message);
    return true;
  });
}

/** Random keys that may or may not be present (0..6 bytes, same alphabet as stateMap). */
const probeKeys = fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 10 });

/** A history of sets and deletes over a small key space, so keys come and go repeatedly. */
const history = fc.array(
  fc.oneof(
    fc.tuple(fc.constant('set' as const), fc.uint8Array({ maxLength: 2, max: 7 }), fc.uint8Array({ maxLength: 3 })),
    fc.tuple(fc.constant('delete' as const), fc.uint8Array({ maxLength: 2, max: 7 }), fc.constant(new Uint8Array(0))),
  ),
  { maxLength: 80 },
);

describe('app/state-tree', () => {
  describe('commitment', () => {
    it('matches hand-built roots for 0, 1 and 2 entries', () => {
      const empty = refStateRoot(0, ZERO);
      assert.equal(toHex(new StateTree(CHAIN).root()), toHex(empty));
      assert.equal(toHex(emptyStateRoot(CHAIN)), toHex(empty));

      const leafOf = (k: Uint8Array, v: Uint8Array) => refLeaf(sha256Noble(k), sha256Noble(v));
      const one = treeOf([[ascii('k'), ascii('v')]]);
      assert.equal(toHex(one.root()), toHex(refStateRoot(1, leafOf(ascii('k'), ascii('v')))));

      // Two keys: a chain of one-sided internal nodes down to the first differing hash bit d,
      // where the two leaves hang. Keys are chosen so d > 0 exercises the one-sided nodes.
      const [a, b] = [ascii('a'), ascii('b')];
      const [ha, hb] = [sha256Noble(a), sha256Noble(b)];
      let d = 0;
      while (bit(ha, d) === bit(hb, d)) d++;
      let sub = bit(ha, d) === 0 ? refNode(leafOf(a, ascii('1')), leafOf(b, ascii('2'))) : refNode(leafOf(b, ascii('2')), leafOf(a, ascii('1')));
      for (let j = d - 1; j >= 0; j--) sub = bit(ha, j) === 0 ? refNode(sub, ZERO) : refNode(ZERO, sub);
      const two = treeOf([
        [b, ascii('2')],
        [a, ascii('1')],
      ]);
      assert.equal(toHex(two.root()), toHex(refStateRoot(2, sub)));
      assert.equal(two.prove(a).siblings.length, d + 1);
    });

    it('equals the reference root computed recursively from the sorted key hashes, along any history of sets and deletes', () => {
      fc.assert(
        fc.property(history, fc.nat(7), (ops, every) => {
          const t = new StateTree(CHAIN);
          const model = new Map<string, [Uint8Array, Uint8Array]>();
          ops.forEach(([op, k, v], i) => {
            if (op === 'set') {
              t.set(k, v);
              model.set(hex(k), [k, v]);
            } else {
              assert.equal(t.delete(k), model.delete(hex(k)));
            }
            // Roots taken along the way leave hashed and dirty nodes mixed for the next steps.
            if (i % (every + 1) === 0) assert.equal(toHex(t.root()), toHex(refRoot([...model.values()])));
          });
          assert.equal(toHex(t.root()), toHex(refRoot([...model.values()])));
          assert.equal(t.size, model.size);
          const sorted = [...model.values()].sort(([x], [y]) => Buffer.compare(x, y));
          assert.deepEqual([...t.entries()], sorted);
        }),
        { numRuns: 200 },
      );
      fc.assert(
        fc.property(stateMap(60), (pairs) => {
          assert.equal(toHex(treeOf(pairs).root()), toHex(refRoot(pairs)));
        }),
        { numRuns: 100 },
      );
    });

    it('stays right past its first array capacity, with freed nodes and leaves reused', () => {
      // 1024 slots to start: thousands of keys make the arrays grow twice, and the deletes free
      // indices that later inserts take again.
      const t = new StateTree(CHAIN);
      const model = new Map<string, [Uint8Array, Uint8Array]>();
      const key = (i: number) => ascii(`key-${i}`);
      const put = (i: number, round: number) => {
        const v = ascii(`value-${i}-${round}`);
        t.set(key(i), v);
        model.set(hex(key(i)), [key(i), v]);
      };
      for (let i = 0; i < 3000; i++) put(i, 0);
      assert.equal(toHex(t.root()), toHex(refRoot([...model.values()])));
      for (let i = 0; i < 3000; i += 3) {
        assert.equal(t.delete(key(i)), true);
        model.delete(hex(key(i)));
      }
      for (let i = 1; i < 3000; i += 5) put(i, 1);
      for (let i = 3000; i < 4500; i++) put(i, 2);
      // Overwrites that change a value's length: the pair's array is replaced, the key stays.
      for (let i = 2; i < 3000; i += 7) {
        const v = new Uint8Array(i % 50).fill(i % 251);
        t.set(key(i), v);
        model.set(hex(key(i)), [key(i), v]);
      }
      assert.equal(toHex(t.root()), toHex(refRoot([...model.values()])));
      // Reused leaves hold keys of other lengths than their first ones: every pair reads back whole.
      for (const [k, v] of model.values()) assert.deepEqual(t.get(k), v);
      const listed = [...t.entries()].map(([k, v]) => [hex(k), hex(v)]);
      const expected = [...model.values()].map(([k, v]) => [hex(k), hex(v)]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
      assert.deepEqual(listed, expected);
      const proven = verifyStateProof(CHAIN, t.root(), key(4499), decodeStateProof(encodeStateProof(t.prove(key(4499)))));
      assert.deepEqual(proven, { present: true, value: ascii('value-4499-2') });
      assert.deepEqual(verifyStateProof(CHAIN, t.root(), key(0), t.prove(key(0))), { present: false });
    });

    it('stays right through the pair arena\'s compactions (values overwritten over and over beside keys that stay)', () => {
      const t = new StateTree(CHAIN);
      const model = new Map<string, [Uint8Array, Uint8Array]>();
      const put = (k: Uint8Array, v: Uint8Array) => {
        t.set(k, v);
        model.set(hex(k), [k, v]);
      };
      // Each round rewrites 20 keys with 4-8 KB values and adds one small key that stays, so
      // every chunk keeps a live pair and only compaction gives memory back.
      for (let round = 0; round < 60; round++) {
        for (let i = 0; i < 20; i++) put(ascii(`hot-${i}`), new Uint8Array(4096 + ((i * 97 + round * 31) % 4096)).fill(round));
        put(ascii(`cold-${round}`), ascii(`kept-${round}`));
        if (round % 20 === 19) {
          const gone = ascii(`hot-${round % 20}`);
          assert.equal(t.delete(gone), true);
          model.delete(hex(gone));
        }
      }
      const memory = t.pairMemory;
      assert.ok(memory.compactions > 0, 'the overwrites must have compacted the arena');
      let live = 0;
      for (const [k, v] of model.values()) live += k.length + v.length;
      assert.equal(memory.liveBytes, live);
      assert.ok(memory.allocatedBytes <= 2 * live + 3 * (1 << 20), `${memory.allocatedBytes} bytes held for ${live} live`);
      assert.equal(toHex(t.root()), toHex(refRoot([...model.values()])));
      for (const [k, v] of model.values()) assert.deepEqual(t.get(k), v);
      assert.equal([...t.entries()].length, model.size);
      const proven = verifyStateProof(CHAIN, t.root(), ascii('hot-3'), decodeStateProof(encodeStateProof(t.prove(ascii('hot-3')))));
      assert.deepEqual(proven, { present: true, value: model.get(hex(ascii('hot-3')))![1] });
    });

    it('is a pure function of the key/value set: insertion order, overwrites and deletes do not matter', () => {
      fc.assert(
        fc.property(stateMap(30), fc.nat(), fc.array(fc.tuple(fc.uint8Array({ maxLength: 6 }), fc.uint8Array())), (pairs, seed, noise) => {
          const a = treeOf(pairs);
          // Same final set reached another way: noise first, reversed and rotated order, then
          // undo the noise keys that are not part of the set.
          const b = new StateTree(CHAIN);
          for (const [k, v] of noise) b.set(k, v);
          b.root();
          const rotated = [...pairs].reverse();
          rotated.push(...rotated.splice(0, pairs.length === 0 ? 0 : seed % pairs.length));
          rotated.forEach(([k, v], i) => {
            b.set(k, v);
            if (i % 3 === seed % 3) b.root();
          });
          const wanted = new Set(pairs.map(([k]) => hex(k)));
          for (const [k] of noise) if (!wanted.has(hex(k))) b.delete(k);
          assert.equal(toHex(b.root()), toHex(a.root()));
          assert.equal(b.size, pairs.length);
        }),
        { numRuns: 200 },
      );
    });

    it('a delete restores exactly the root of the tree that never had the key', () => {
      fc.assert(
        fc.property(stateMap(40).filter((p) => p.length > 0), fc.nat(), fc.uint8Array({ maxLength: 6 }), (pairs, pick, absent) => {
          const t = treeOf(pairs);
          t.root();
          const [k] = pairs[pick % pairs.length]!;
          const without = pairs.filter(([x]) => hex(x) !== hex(k));
          assert.equal(t.delete(k), true);
          assert.equal(toHex(t.root()), toHex(treeOf(without).root()));
          assert.equal(t.has(k), false);
          // Deleting an absent key changes nothing.
          const before = toHex(t.root());
          if (!t.has(absent)) assert.equal(t.delete(absent), false);
          assert.equal(toHex(t.root()), before);
        }),
        { numRuns: 150 },
      );
    });

    it('changes when any value changes, a key is added or a key is removed', () => {
      fc.assert(
        fc.property(stateMap(20).filter((p) => p.length > 0), fc.nat(), (pairs, pick) => {
          const t = treeOf(pairs);
          const before = toHex(t.root());
          const [k, v] = pairs[pick % pairs.length]!;
          t.set(k, concatBytes(v, Uint8Array.of(0)));
          assert.notEqual(toHex(t.root()), before);
          t.set(k, v);
          assert.equal(toHex(t.root()), before);
          t.delete(k);
          assert.notEqual(toHex(t.root()), before);
          // A present empty value is not an absent key.
          t.set(k, new Uint8Array(0));
          assert.notEqual(toHex(t.root()), toHex(treeOf(pairs.filter(([x]) => x !== k)).root()));
        }),
      );
    });

    it('separates chains', () => {
      const pairs: [Uint8Array, Uint8Array][] = [[ascii('k'), ascii('v')]];
      assert.notEqual(toHex(treeOf(pairs, 'chain-a').root()), toHex(treeOf(pairs, 'chain-b').root()));
      assert.notEqual(toHex(emptyStateRoot('chain-a')), toHex(emptyStateRoot('chain-b')));
      assert.throws(() => new StateTree('bad chain id'), CryptoError);
    });

    it('hashes no state root, leaf or internal node from an input another could have (by length), for every chain id length', () => {
      // Internal nodes hash exactly 64 bytes, untagged. A root over a u64 count would have
      // hashed exactly 64 bytes under an 8-character chain id, and so equalled the node hash of
      // its own first 32 bytes and its tree root; the u128 count keeps every root input longer.
      const treeRoot = sha256Noble(ascii('some tree'));
      for (let length = 1; length <= 64; length++) {
        const chain = 'c'.repeat(length);
        const prefix = prefixOf(chain);
        const rootInput = concatBytes(prefix, Uint8Array.of(2), new Uint8Array(8), uintBE(5, 8), treeRoot);
        assert.ok(rootInput.length > 64);
        assert.equal(toHex(stateRootOf(chain, 5, treeRoot)), toHex(sha256Noble(rootInput)));
        if (length === 8) {
          const u64Input = concatBytes(prefix, Uint8Array.of(2), uintBE(5, 8));
          assert.equal(u64Input.length, 32);
          assert.notEqual(toHex(stateRootOf(chain, 5, treeRoot)), toHex(refNode(u64Input, treeRoot)));
        }
      }
    });

    it('copies what it stores and what it returns', () => {
      const t = new StateTree(CHAIN);
      const k = ascii('k');
      const v = ascii('v');
      t.set(k, v);
      const root = toHex(t.root());
      k[0] = 0;
      v[0] = 0;
      t.get(ascii('k'))![0] = 0;
      t.root()[0] = 0;
      const p = t.prove(ascii('k'));
      assert.ok(p.terminal.kind === 'leaf');
      p.terminal.value[0] = 0;
      p.treeRoot[0] ^= 1;
      assert.deepEqual(t.get(ascii('k')), ascii('v'));
      assert.equal(toHex(t.root()), root);
      t.set(ascii('j'), ascii('w'));
      const q = t.prove(ascii('k'));
      q.siblings[0]![0] ^= 1;
      assert.deepEqual(verifyStateProof(CHAIN, t.root(), ascii('k'), t.prove(ascii('k'))), { present: true, value: ascii('v') });
    });

    it('refuses keys and values over the limits', () => {
      const t = new StateTree(CHAIN);
      assert.throws(() => t.set(new Uint8Array(1025), new Uint8Array(0)), RangeError);
      assert.throws(() => t.set(new Uint8Array(1), new Uint8Array(8193)), RangeError);
      assert.throws(() => t.prove(new Uint8Array(1025)), RangeError);
      assert.throws(() => t.get('k' as unknown as Uint8Array), RangeError);
    });
  });

  describe('proofs', () => {
    it('every present key proves its value; random absent keys prove absence (through the codec)', () => {
      fc.assert(
        fc.property(stateMap(40), probeKeys, (pairs, probes) => {
          const t = treeOf(pairs);
          const root = t.root();
          const present = new Map(pairs.map(([k, v]) => [hex(k), v]));
          for (const [k, v] of pairs) {
            const proof = decodeStateProof(encodeStateProof(t.prove(k)));
            assert.equal(proof.terminal.kind, 'leaf');
            assert.deepEqual(verifyStateProof(CHAIN, root, k, proof), { present: true, value: v });
          }
          for (const k of probes) {
            const proof = decodeStateProof(encodeStateProof(t.prove(k)));
            const expected = present.get(hex(k));
            assert.deepEqual(
              verifyStateProof(CHAIN, root, k, proof),
              expected === undefined ? { present: false } : { present: true, value: expected },
            );
          }
        }),
        { numRuns: 150 },
      );
    });

    it('covers the edge shapes: empty tree, single leaf, other-leaf and empty-slot terminals, empty key', () => {
      const empty = new StateTree(CHAIN);
      const p0 = empty.prove(ascii('x'));
      assert.deepEqual(p0, { treeSize: 0, treeRoot: ZERO, siblings: [], terminal: { kind: 'empty' } });
      assert.deepEqual(verifyStateProof(CHAIN, empty.root(), ascii('x'), p0), { present: false });

      const one = treeOf([[ascii('k'), ascii('v')]]);
      const member = one.prove(ascii('k'));
      assert.deepEqual(member.siblings, []);
      const absent = one.prove(ascii('x'));
      assert.deepEqual(absent.terminal, { kind: 'other', keyHash: sha256Noble(ascii('k')), valueHash: sha256Noble(ascii('v')) });
      assert.deepEqual(verifyStateProof(CHAIN, one.root(), ascii('x'), absent), { present: false });

      // A larger tree has both kinds of absence terminal deeper down.
      const t = treeOf(Array.from({ length: 64 }, (_, i) => [ascii(`key-${i}`), ascii(`${i}`)] as const));
      const kinds = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const k = ascii(`probe-${i}`);
        const p = decodeStateProof(encodeStateProof(t.prove(k)));
        kinds.add(p.terminal.kind);
        assert.ok(p.siblings.length > 0);
        assert.deepEqual(verifyStateProof(CHAIN, t.root(), k, p), { present: false });
      }
      assert.deepEqual([...kinds].sort(), ['empty', 'other']);

      assert.deepEqual(verifyStateProof(CHAIN, t.root(), new Uint8Array(0), t.prove(new Uint8Array(0))), { present: false });
      t.set(new Uint8Array(0), new Uint8Array(0));
      assert.deepEqual(verifyStateProof(CHAIN, t.root(), new Uint8Array(0), t.prove(new Uint8Array(0))), {
        present: true,
        value: new Uint8Array(0),
      });
    });

    it('any single-byte change of an encoded proof fails to decode or to verify', () => {
      fc.assert(
        fc.property(stateMap(12), fc.uint8Array({ maxLength: 6 }), fc.integer({ min: 1, max: 255 }), (pairs, key, xor) => {
          const t = treeOf(pairs);
          const root = t.root();
          const bytes = encodeStateProof(t.prove(key));
          for (let i = 0; i < bytes.length; i++) {
            const mutated = bytes.slice();
            mutated[i]! ^= xor;
            rejects(() => verifyStateProof(CHAIN, root, key, decodeStateProof(mutated)));
          }
          rejects(() => decodeStateProof(bytes.subarray(0, bytes.length - 1)), 'malformed');
          rejects(() => decodeStateProof(Uint8Array.of(...bytes, 0)), 'malformed');
        }),
        { numRuns: 60 },
      );
    });

    it('fails against any other root or size, and for any other key than the one it was made for', () => {
      fc.assert(
        fc.property(stateMap(20), stateMap(20), fc.uint8Array({ maxLength: 6 }), (a, b, key) => {
          const ta = treeOf(a);
          const tb = treeOf(b);
          fc.pre(toHex(ta.root()) !== toHex(tb.root()));
          const pa = ta.prove(key);
          rejects(() => verifyStateProof(CHAIN, tb.root(), key, pa), 'root-mismatch');
          rejects(() => verifyStateProof('other-chain', ta.root(), key, pa), 'root-mismatch');
          rejects(() => verifyStateProof(CHAIN, ta.root(), key, { ...pa, treeSize: pa.treeSize + 1 }), 'root-mismatch');
          const other = concatBytes(key, Uint8Array.of(7));
          const answer = tryVerifyStateProof(CHAIN, ta.root(), other, pa);
          // Acceptable only as a truthful absence proof that also covers the other key (a
          // shared empty slot or another key's leaf on both paths).
          if (answer !== null) assert.ok(pa.terminal.kind !== 'leaf' && !answer.present && !ta.has(other), 'proof accepted for another key');
        }),
        { numRuns: 150 },
      );
    });

    it('refuses absence proofs for present keys and membership proofs with a wrong value', () => {
      fc.assert(
        fc.property(stateMap(20).filter((p) => p.length >= 1), fc.nat(), fc.uint8Array({ maxLength: 6 }), (pairs, pick, probe) => {
          const t = treeOf(pairs);
          const root = t.root();
          const [k, v] = pairs[pick % pairs.length]!;
          const member = t.prove(k);
          assert.ok(member.terminal.kind === 'leaf');
          const { treeSize, siblings } = member;
          const depth = siblings.length;
          const forgeries: [StateProof, StateProofRejectReason | undefined][] = [
            // The key's own leaf shown as someone else's: hiding.
            [{ ...member, terminal: { kind: 'other', keyHash: sha256Noble(k), valueHash: sha256Noble(v) } }, 'key-present'],
            // Right leaf, wrong value.
            [{ ...member, terminal: { kind: 'leaf', key: k, value: concatBytes(v, Uint8Array.of(1)) } }, 'invalid-inclusion'],
            // Another tree size with the same tree root: the state root binds the size.
            [{ ...member, treeSize: treeSize + 1 }, 'root-mismatch'],
            // An honest absence proof from the same map without the key, against the real root.
            [treeOf(pairs.filter(([x]) => x !== k)).prove(k), 'root-mismatch'],
          ];
          if (treeSize >= 2) {
            // An empty slot where the key's leaf is.
            forgeries.push([{ ...member, terminal: { kind: 'empty' } }, 'invalid-inclusion']);
            // The deepest sibling as an empty subtree: never canonical.
            forgeries.push([{ ...member, siblings: [ZERO, ...siblings.slice(1)] }, 'non-canonical']);
            // The leaf claimed one level higher or lower than it is (higher may also put an
            // empty subtree deepest: non-canonical).
            if (depth >= 2) forgeries.push([{ ...member, siblings: siblings.slice(1) }, undefined]);
            forgeries.push([{ ...member, siblings: [siblings[0]!, ...siblings] }, 'invalid-inclusion']);
            forgeries.push([{ ...member, siblings: [] }, 'non-canonical']);
          } else {
            forgeries.push([{ ...member, siblings: [root] }, 'non-canonical']);
          }
          // Another key's leaf, or the leaf that sits on the probe's path, shown for k.
          const probeProof = t.prove(probe);
          if (hex(probe) !== hex(k)) {
            if (probeProof.terminal.kind === 'leaf') forgeries.push([probeProof, 'key-mismatch']);
          }
          for (const [proof, reason] of forgeries) rejects(() => verifyStateProof(CHAIN, root, k, proof), reason);
          // An 'other' terminal that does not share the key's path so far.
          if (depth >= 1) {
            const offPath = sha256Noble(concatBytes(k, Uint8Array.of(0xff)));
            if (bit(offPath, 0) !== bit(sha256Noble(k), 0)) {
              rejects(() => verifyStateProof(CHAIN, root, k, { ...member, terminal: { kind: 'other', keyHash: offPath, valueHash: ZERO } }), 'not-on-path');
            }
          }
        }),
        { numRuns: 150 },
      );
    });

    it('refuses shapes the canonical tree never has', () => {
      const empty = new StateTree(CHAIN);
      const leaf = { kind: 'leaf' as const, key: ascii('k'), value: ascii('v') };
      // n = 0 needs the empty root and only an empty slot at depth 0.
      rejects(() => verifyStateProof(CHAIN, refStateRoot(0, ZERO), ascii('k'), { treeSize: 0, treeRoot: ZERO, siblings: [], terminal: leaf }), 'non-canonical');
      rejects(() => verifyStateProof(CHAIN, refStateRoot(0, ZERO), ascii('k'), { treeSize: 0, treeRoot: ZERO, siblings: [ZERO], terminal: { kind: 'empty' } }), 'non-canonical');
      const fake = sha256Noble(ascii('x'));
      rejects(() => verifyStateProof(CHAIN, refStateRoot(0, fake), ascii('k'), { treeSize: 0, treeRoot: fake, siblings: [], terminal: { kind: 'empty' } }), 'non-canonical');
      // n >= 1 never has the empty root, and an empty slot at depth 0 only when n = 0.
      rejects(() => verifyStateProof(CHAIN, refStateRoot(1, ZERO), ascii('k'), { treeSize: 1, treeRoot: ZERO, siblings: [], terminal: { kind: 'empty' } }), 'non-canonical');
      const one = treeOf([[ascii('k'), ascii('v')]]);
      const p1 = one.prove(ascii('x'));
      rejects(() => verifyStateProof(CHAIN, one.root(), ascii('x'), { ...p1, terminal: { kind: 'empty' } }), 'non-canonical');
      const two = treeOf([
        [ascii('k'), ascii('v')],
        [ascii('j'), ascii('w')],
      ]);
      const p2 = two.prove(ascii('k'));
      rejects(() => verifyStateProof(CHAIN, two.root(), ascii('k'), { ...p2, siblings: [], terminal: { kind: 'empty' } }), 'non-canonical');
      assert.deepEqual(verifyStateProof(CHAIN, empty.root(), ascii('k'), empty.prove(ascii('k'))), { present: false });
    });

    it('rejects malformed proof objects and encodings with a typed error', () => {
      const t = treeOf([[ascii('k'), ascii('v')]]);
      const root = t.root();
      const good = t.prove(ascii('k'));
      const bad: unknown[] = [
        null,
        42,
        {},
        { ...good, treeSize: -1 },
        { ...good, treeSize: 1.5 },
        { ...good, treeRoot: new Uint8Array(31) },
        { ...good, siblings: 'x' },
        { ...good, siblings: [new Uint8Array(3)] },
        { ...good, siblings: Array.from({ length: 257 }, () => ZERO) },
        { ...good, terminal: null },
        { ...good, terminal: { kind: 'maybe' } },
        { ...good, terminal: { kind: 'leaf', key: ascii('k'), value: 'v' } },
        { ...good, terminal: { kind: 'leaf', key: new Uint8Array(1025), value: ascii('v') } },
        { ...good, terminal: { kind: 'other', keyHash: new Uint8Array(31), valueHash: ZERO } },
      ];
      for (const p of bad) rejects(() => verifyStateProof(CHAIN, root, ascii('k'), p as StateProof), 'malformed');
      for (const p of bad) rejects(() => encodeStateProof(p as StateProof), 'malformed');
      rejects(() => verifyStateProof(CHAIN, new Uint8Array(31), ascii('k'), good), 'malformed');
      rejects(() => verifyStateProof(CHAIN, root, 'k' as unknown as Uint8Array, good), 'malformed');

      // Layout: u64 size || root || u16 depth || siblings || u8 terminal || body.
      const encoded = encodeStateProof(good);
      assert.equal(encoded[42], 1);
      const withTerminal = (kind: number) => Uint8Array.of(...encoded.subarray(0, 42), kind, ...encoded.subarray(43));
      rejects(() => decodeStateProof(withTerminal(0)), 'malformed');
      rejects(() => decodeStateProof(withTerminal(4)), 'malformed');
      rejects(() => decodeStateProof(withTerminal(3)), 'malformed'); // empty terminal with trailing bytes
      rejects(() => decodeStateProof(new Uint8Array(0)), 'malformed');
      rejects(() => decodeStateProof(new Uint8Array(MAX_STATE_PROOF_BYTES + 1)), 'malformed');
      const deep = Uint8Array.of(...encoded.subarray(0, 40), 0x01, 0x01); // depth 257
      rejects(() => decodeStateProof(deep), 'malformed');
      rejects(() => decodeStateProof('x' as unknown as Uint8Array), 'malformed');
      assert.ok(new StateProofError('malformed', 'x') instanceof CryptoError);

      // The largest proof the limits allow fits the decoder's bound exactly.
      const maxProof: StateProof = {
        treeSize: 2,
        treeRoot: ZERO,
        siblings: Array.from({ length: 256 }, () => ZERO),
        terminal: { kind: 'leaf', key: new Uint8Array(1024), value: new Uint8Array(8192) },
      };
      const maxBytes = encodeStateProof(maxProof);
      assert.equal(maxBytes.length, MAX_STATE_PROOF_BYTES);
      assert.deepEqual(decodeStateProof(maxBytes), maxProof);
    });
  });
});
