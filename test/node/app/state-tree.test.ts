import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes, toHex, uintBE } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { sha256Noble } from '../../../crypto/hash.js';
import type { LeafWitness, StateProof, StateProofRejectReason } from '../../../protocol/state-proof.js';
import {
  decodeStateProof,
  emptyStateRoot,
  encodeStateProof,
  MAX_STATE_PROOF_BYTES,
  StateProofError,
  tryVerifyStateProof,
  verifyStateProof,
} from '../../../protocol/state-proof.js';
import { StateTree } from '../../../node/app/state-tree.js';
import { CHAIN, stateMap } from './arbitraries.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// The commitment computed from the written spec (state-proof.ts), independently of the code:
// prefix = u8 len(tag) || tag || u8 len(chain) || chain.
const PREFIX = concatBytes(Uint8Array.of(13), ascii('vsmr/state/v1'), Uint8Array.of(CHAIN.length), ascii(CHAIN));
const refLeafData = (k: Uint8Array, v: Uint8Array) =>
  sha256Noble(concatBytes(PREFIX, Uint8Array.of(0), uintBE(k.length, 2), k, uintBE(v.length, 4), v));
const refLeafHash = (k: Uint8Array, v: Uint8Array) => sha256Noble(concatBytes(Uint8Array.of(0), refLeafData(k, v)));
const refNode = (l: Uint8Array, r: Uint8Array) => sha256Noble(concatBytes(Uint8Array.of(1), l, r));
const refStateRoot = (n: number, treeRoot: Uint8Array) =>
  sha256Noble(concatBytes(PREFIX, Uint8Array.of(1), uintBE(n, 8), treeRoot));

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

/** Random keys that are not in `present` (0..6 bytes, same alphabet as stateMap). */
const probeKeys = fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 10 });

describe('app/state-tree', () => {
  describe('commitment', () => {
    it('matches hand-built roots for 0, 1 and 3 entries', () => {
      const empty = refStateRoot(0, sha256Noble(new Uint8Array(0)));
      assert.equal(toHex(new StateTree(CHAIN).root()), toHex(empty));
      assert.equal(toHex(emptyStateRoot(CHAIN)), toHex(empty));

      const one = treeOf([[ascii('k'), ascii('v')]]);
      assert.equal(toHex(one.root()), toHex(refStateRoot(1, refLeafHash(ascii('k'), ascii('v')))));

      // "b" < "ba" < "c": inserted out of order on purpose.
      const three = treeOf([
        [ascii('c'), ascii('3')],
        [ascii('ba'), new Uint8Array(0)],
        [ascii('b'), ascii('1')],
      ]);
      const mth = refNode(
        refNode(refLeafHash(ascii('b'), ascii('1')), refLeafHash(ascii('ba'), new Uint8Array(0))),
        refLeafHash(ascii('c'), ascii('3')),
      );
      assert.equal(toHex(three.root()), toHex(refStateRoot(3, mth)));
    });

    it('is a pure function of the key/value set: insertion order, overwrites and deletes do not matter', () => {
      fc.assert(
        fc.property(stateMap(30), fc.nat(), fc.array(fc.tuple(fc.uint8Array({ maxLength: 6 }), fc.uint8Array())), (pairs, seed, noise) => {
          const a = treeOf(pairs);
          // Same final set reached another way: noise first, reversed and rotated order, then
          // undo the noise keys that are not part of the set.
          const b = new StateTree(CHAIN);
          for (const [k, v] of noise) b.set(k, v);
          // Roots taken along the way exercise the incremental key order (new keys merged in).
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
      const p = t.prove(ascii('k'));
      assert.equal(p.kind, 'member');
      p.leaf.value[0] = 0;
      assert.deepEqual(t.get(ascii('k')), ascii('v'));
      assert.equal(toHex(t.root()), root);
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

    it('covers the edge shapes: empty tree, before the first key, after the last, empty key', () => {
      const empty = new StateTree(CHAIN);
      const p0 = empty.prove(ascii('x'));
      assert.deepEqual(p0, { kind: 'absent', treeSize: 0, treeRoot: sha256Noble(new Uint8Array(0)), left: null, right: null });
      assert.deepEqual(verifyStateProof(CHAIN, empty.root(), ascii('x'), p0), { present: false });

      const t = treeOf([
        [ascii('b'), ascii('1')],
        [ascii('d'), ascii('2')],
      ]);
      const before = t.prove(ascii('a'));
      assert.ok(before.kind === 'absent' && before.left === null && before.right?.index === 0);
      const after = t.prove(ascii('e'));
      assert.ok(after.kind === 'absent' && after.left?.index === 1 && after.right === null);
      const between = t.prove(ascii('c'));
      assert.ok(between.kind === 'absent' && between.left?.index === 0 && between.right?.index === 1);
      // The empty key sorts before everything, and "b\0" right after "b".
      for (const k of [new Uint8Array(0), ascii('a'), ascii('b\0'), ascii('c'), ascii('e')]) {
        assert.deepEqual(verifyStateProof(CHAIN, t.root(), k, t.prove(k)), { present: false });
      }
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

    it('fails against any other root, and for any other key than the one it was made for', () => {
      fc.assert(
        fc.property(stateMap(20), stateMap(20), fc.uint8Array({ maxLength: 6 }), (a, b, key) => {
          const ta = treeOf(a);
          const tb = treeOf(b);
          fc.pre(toHex(ta.root()) !== toHex(tb.root()));
          rejects(() => verifyStateProof(CHAIN, tb.root(), key, ta.prove(key)), 'root-mismatch');
          rejects(() => verifyStateProof('other-chain', ta.root(), key, ta.prove(key)), 'root-mismatch');
          const other = concatBytes(key, Uint8Array.of(7));
          const pa = ta.prove(key);
          const answer = tryVerifyStateProof(CHAIN, ta.root(), other, pa);
          // Acceptable only when the same neighbours also bracket the other key, truthfully.
          if (answer !== null) assert.ok(pa.kind === 'absent' && !answer.present && !ta.has(other), 'proof accepted for another key');
        }),
        { numRuns: 150 },
      );
    });

    it('refuses absence proofs for present keys and membership proofs with a wrong value', () => {
      fc.assert(
        fc.property(stateMap(20).filter((p) => p.length >= 1), fc.nat(), (pairs, pick) => {
          const t = treeOf(pairs);
          const root = t.root();
          const [k, v] = pairs[pick % pairs.length]!;
          const member = t.prove(k);
          assert.ok(member.kind === 'member');
          const { treeSize, treeRoot, leaf } = member;
          const i = leaf.index;
          const keys = [...t.entries()].map(([key]) => key);
          const w = (j: number): LeafWitness | null => {
            if (j < 0 || j >= treeSize) return null;
            const p = t.prove(keys[j]!);
            assert.ok(p.kind === 'member');
            return p.leaf;
          };
          const absent = (left: LeafWitness | null, right: LeafWitness | null): StateProof => ({
            kind: 'absent',
            treeSize,
            treeRoot,
            left,
            right,
          });
          const forgeries: [StateProof, StateProofRejectReason][] = [
            // The key's own leaf as a neighbour: ordering fails.
            [absent(leaf, w(i + 1)), 'key-order'],
            [absent(w(i - 1), leaf), 'key-order'],
            [absent(null, null), 'not-adjacent'],
            // Right leaf, wrong value.
            [{ kind: 'member', treeSize, treeRoot, leaf: { ...leaf, value: concatBytes(v, Uint8Array.of(1)) } }, 'invalid-inclusion'],
            // Another tree size with the same tree root: the state root binds the size.
            [{ kind: 'member', treeSize: treeSize + 1, treeRoot, leaf }, 'root-mismatch'],
            // An honest absence proof from the same map without the key, against the real root.
            [treeOf(pairs.filter(([x]) => x !== k)).prove(k), 'root-mismatch'],
          ];
          if (i > 0 && i + 1 < treeSize) forgeries.push([absent(w(i - 1), w(i + 1)), 'not-adjacent']); // skips the key
          if (i > 0) {
            forgeries.push([absent(null, w(0)), 'key-order']); // leaf 0 as if the key came first
            forgeries.push([absent(w(i - 1), null), 'not-adjacent']); // a left neighbour posing as the last leaf
          }
          if (treeSize > 1) {
            forgeries.push([{ kind: 'member', treeSize, treeRoot, leaf: { ...leaf, index: (i + 1) % treeSize } }, 'invalid-inclusion']);
          }
          for (const [proof, reason] of forgeries) rejects(() => verifyStateProof(CHAIN, root, k, proof), reason);
        }),
        { numRuns: 150 },
      );
    });

    it('rejects malformed proof objects and encodings with a typed error', () => {
      const t = treeOf([[ascii('k'), ascii('v')]]);
      const root = t.root();
      const good = t.prove(ascii('k'));
      const bad: unknown[] = [
        null,
        42,
        {},
        { ...good, kind: 'maybe' },
        { ...good, treeSize: -1 },
        { ...good, treeRoot: new Uint8Array(31) },
        { ...good, leaf: { index: 0, key: ascii('k'), value: ascii('v'), path: [new Uint8Array(3)] } },
        { ...good, leaf: { index: 0, key: ascii('k'), value: 'v', path: [] } },
        { kind: 'absent', treeSize: 1, treeRoot: new Uint8Array(32), left: 'x', right: null },
      ];
      for (const p of bad) rejects(() => verifyStateProof(CHAIN, root, ascii('k'), p as StateProof), 'malformed');
      rejects(() => verifyStateProof(CHAIN, new Uint8Array(31), ascii('k'), good), 'malformed');
      rejects(() => encodeStateProof({ ...good, treeSize: 1.5 }), 'malformed');

      const encoded = encodeStateProof(good);
      const withKind = (kind: number) => Uint8Array.of(kind, ...encoded.subarray(1));
      rejects(() => decodeStateProof(withKind(0)), 'malformed');
      rejects(() => decodeStateProof(withKind(3)), 'malformed');
      rejects(() => decodeStateProof(new Uint8Array(0)), 'malformed');
      rejects(() => decodeStateProof(new Uint8Array(MAX_STATE_PROOF_BYTES + 1)), 'malformed');
      const absent = encodeStateProof(t.prove(ascii('z')));
      rejects(() => decodeStateProof(Uint8Array.of(...absent.subarray(0, 41), 4, ...absent.subarray(42))), 'malformed');
      assert.ok(new StateProofError('malformed', 'x') instanceof CryptoError);
    });
  });
});
