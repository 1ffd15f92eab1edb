import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToHex, concatBytes, fromHex } from '../../crypto/bytes.js';
import { CryptoError } from '../../crypto/errors.js';
import { sha256Noble } from '../../crypto/hash.js';
import type { InclusionProof, MerkleProofRejectReason } from '../../crypto/merkle.js';
import {
  decodeInclusionProof,
  encodeInclusionProof,
  inclusionProofLength,
  isValidInclusion,
  MAX_INCLUSION_PATH,
  MerkleProofError,
  MerkleTree,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  merkleRootOfLeafHashes,
  verifyInclusion,
} from '../../crypto/merkle.js';

// RFC 6962 reference data as published by Certificate Transparency (transparency-dev/merkle,
// proof/verify_test.go): the eight reference leaves, the root of every prefix (ROOTS[n] is the
// root of the first n leaves) and known inclusion proofs (converted to 0-based indexes).
const REF_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(fromHex);

const REF_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

const REF_PROOFS: { index: number; treeSize: number; path: string[] }[] = [
  {
    index: 0,
    treeSize: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    treeSize: 8,
    path: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, treeSize: 3, path: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    treeSize: 5,
    path: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const SOME_HASH = fromHex('abacaba000000000000000000000000000000000000000000060061e00123456');

// Independent reference: the recursive definitions of RFC 6962 §2.1 / §2.1.1, on noble's SHA-256.
function refLeaf(d: Uint8Array): Uint8Array {
  return sha256Noble(concatBytes(Uint8Array.of(0), d));
}
function refNode(l: Uint8Array, r: Uint8Array): Uint8Array {
  return sha256Noble(concatBytes(Uint8Array.of(1), l, r));
}
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function refMth(d: readonly Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256Noble(new Uint8Array(0));
  if (d.length === 1) return refLeaf(d[0]!);
  const k = splitPoint(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = splitPoint(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}

function rejectReason(fn: () => unknown): MerkleProofRejectReason {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MerkleProofError, `expected MerkleProofError, got ${String(err)}`);
    assert.ok(err instanceof CryptoError);
    assert.equal(err.code, `MERKLE_${err.reason.toUpperCase().replaceAll('-', '_')}`);
    return err.reason;
  }
  assert.fail('expected a MerkleProofError, nothing was thrown');
}

function assertRejected(root: Uint8Array, leaf: Uint8Array, proof: InclusionProof, reason?: MerkleProofRejectReason): void {
  const got = rejectReason(() => verifyInclusion(root, leaf, proof));
  if (reason !== undefined) assert.equal(got, reason);
  assert.equal(isValidInclusion(root, leaf, proof), false);
}

function flipByte(bytes: Uint8Array, at: number, mask: number): Uint8Array {
  const out = bytes.slice();
  out[at % out.length]! ^= mask;
  return out;
}

// Distinct leaves: with duplicates, moving a proof to the twin leaf's index is a true statement.
const leafListArb = (min: number, max: number) =>
  fc.uniqueArray(fc.uint8Array({ maxLength: 40 }), { minLength: min, maxLength: max, selector: bytesToHex });

const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const structuralProofArb = fc.record({
  index: fc.maxSafeNat(),
  treeSize: fc.maxSafeNat(),
  path: fc.array(hashArb, { maxLength: MAX_INCLUSION_PATH }),
});

describe('crypto/merkle', () => {
  it('a tree built from kept leaf hashes is the tree of the leaves (root and every proof)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 40 }), (leaves) => {
        const direct = new MerkleTree(leaves);
        const kept = MerkleTree.fromLeafHashes(leaves.map(merkleLeafHash));
        // Packed 32 bytes apiece, inside a larger buffer: the slab a log keeps.
        const packed = new Uint8Array(32 * leaves.length + 7).subarray(3, 3 + 32 * leaves.length);
        for (let i = 0; i < leaves.length; i++) packed.set(merkleLeafHash(leaves[i]!), 32 * i);
        const before = bytesToHex(packed);
        const fromPacked = MerkleTree.fromPackedLeafHashes(packed);
        assert.deepEqual(merkleRootOfLeafHashes(packed), direct.root);
        assert.equal(bytesToHex(packed), before, 'the root reduction works on its own copy');
        // The tree copied its input: later writes to the slab do not reach it.
        packed.fill(0xee);
        for (const tree of [kept, fromPacked]) {
          assert.deepEqual(tree.root, direct.root);
          assert.equal(tree.size, leaves.length);
          for (let i = 0; i < leaves.length; i++) assert.deepEqual(tree.proveInclusion(i), direct.proveInclusion(i));
        }
      }),
      { numRuns: 100 },
    );
    assert.throws(() => MerkleTree.fromLeafHashes([new Uint8Array(31)]), CryptoError);
    // A Buffer, whose slice() is a view: neither helper may write to it or keep it.
    const leaves = [1, 2, 3, 4, 5].map((i) => Uint8Array.of(i));
    const buffer = Buffer.concat(leaves.map(merkleLeafHash));
    const copy = Buffer.from(buffer);
    assert.deepEqual(merkleRootOfLeafHashes(buffer), merkleRoot(leaves));
    assert.ok(buffer.equals(copy), 'the root reduction left the caller\'s Buffer alone');
    const tree = MerkleTree.fromPackedLeafHashes(buffer);
    buffer.fill(0);
    assert.deepEqual(tree.proveInclusion(2), new MerkleTree(leaves).proveInclusion(2));
    assert.throws(() => MerkleTree.fromPackedLeafHashes(new Uint8Array(33)), CryptoError);
    assert.throws(() => merkleRootOfLeafHashes(new Uint8Array(31)), CryptoError);
    assert.throws(() => merkleRootOfLeafHashes([new Uint8Array(32)] as unknown as Uint8Array), CryptoError);
  });

  describe('RFC 6962 known answers', () => {
    it('empty tree root is SHA-256 of the empty string', () => {
      assert.equal(bytesToHex(merkleRoot([])), REF_ROOTS[0]);
      const tree = new MerkleTree([]);
      assert.equal(tree.size, 0);
      assert.equal(bytesToHex(tree.root), REF_ROOTS[0]);
    });

    it('leaf and node hashes use the 0x00 / 0x01 prefixes', () => {
      const l0 = merkleLeafHash(REF_LEAVES[0]!);
      const l1 = merkleLeafHash(REF_LEAVES[1]!);
      assert.equal(bytesToHex(l0), REF_ROOTS[1]);
      assert.equal(bytesToHex(merkleNodeHash(l0, l1)), REF_ROOTS[2]);
      assert.equal(Object.getPrototypeOf(l0), Uint8Array.prototype);
    });

    it('matches the published root of every prefix of the reference leaves', () => {
      for (let n = 0; n <= REF_LEAVES.length; n++) {
        const leaves = REF_LEAVES.slice(0, n);
        assert.equal(bytesToHex(merkleRoot(leaves)), REF_ROOTS[n], `merkleRoot size ${n}`);
        assert.equal(bytesToHex(new MerkleTree(leaves).root), REF_ROOTS[n], `MerkleTree size ${n}`);
        assert.equal(bytesToHex(refMth(leaves)), REF_ROOTS[n], `reference size ${n}`);
      }
    });

    it('produces and accepts the published inclusion proofs', () => {
      for (const v of REF_PROOFS) {
        const tree = new MerkleTree(REF_LEAVES.slice(0, v.treeSize));
        const proof = tree.proveInclusion(v.index);
        assert.deepEqual(proof.path.map(bytesToHex), v.path, `proof ${v.index}/${v.treeSize}`);
        assert.equal(proof.treeSize, v.treeSize);
        const root = fromHex(REF_ROOTS[v.treeSize]!);
        verifyInclusion(root, REF_LEAVES[v.index]!, { index: v.index, treeSize: v.treeSize, path: v.path.map(fromHex) });
        assert.equal(inclusionProofLength(v.index, v.treeSize), v.path.length);
      }
    });

    it('rejects the Certificate Transparency corruption probes of the published proofs', () => {
      for (const v of REF_PROOFS) {
        const root = fromHex(REF_ROOTS[v.treeSize]!);
        const leaf = REF_LEAVES[v.index]!;
        const path = v.path.map(fromHex);
        const { index, treeSize } = v;
        const probes: [string, Uint8Array, Uint8Array, InclusionProof][] = [
          ['index - 1', root, leaf, { index: index - 1, treeSize, path }],
          ['index + 1', root, leaf, { index: index + 1, treeSize, path }],
          ['index ^ 2', root, leaf, { index: index ^ 2, treeSize, path }],
          ['treeSize * 2', root, leaf, { index, treeSize: treeSize * 2, path }],
          ['treeSize / 2', root, leaf, { index, treeSize: Math.floor(treeSize / 2), path }],
          ['wrong leaf', root, new TextEncoder().encode('WrongLeaf'), { index, treeSize, path }],
          ['empty root', fromHex(REF_ROOTS[0]!), leaf, { index, treeSize, path }],
          ['random root', SOME_HASH, leaf, { index, treeSize, path }],
          ['trailing garbage', root, leaf, { index, treeSize, path: [...path, new Uint8Array(0)] }],
          ['trailing root', root, leaf, { index, treeSize, path: [...path, root] }],
          ['preceding garbage', root, leaf, { index, treeSize, path: [new Uint8Array(0), ...path] }],
          ['preceding root', root, leaf, { index, treeSize, path: [root, ...path] }],
          ['removed component', root, leaf, { index, treeSize, path: path.slice(0, -1) }],
        ];
        if (path.length > 1) {
          probes.push(['inserted component', root, leaf, { index, treeSize, path: [path[0]!, SOME_HASH, ...path.slice(1)] }]);
        }
        for (let i = 0; i < path.length; i++) {
          const bad = path.slice();
          bad[i] = flipByte(bad[i]!, 0, 8);
          probes.push([`modified path[${i}]`, root, leaf, { index, treeSize, path: bad }]);
        }
        for (const [desc, r, l, p] of probes) {
          assert.equal(isValidInclusion(r, l, p), false, `${index}/${treeSize}: ${desc} verified`);
          rejectReason(() => verifyInclusion(r, l, p));
        }
      }
    });
  });

  describe('inclusion proofs (properties)', () => {
    it('root, proofs and path lengths match the recursive RFC definitions, and every proof verifies', () => {
      fc.assert(
        fc.property(leafListArb(1, 100), (leaves) => {
          const tree = new MerkleTree(leaves);
          const root = tree.root;
          assert.equal(tree.size, leaves.length);
          assert.deepEqual(root, merkleRoot(leaves));
          assert.deepEqual(root, refMth(leaves));
          for (let i = 0; i < leaves.length; i++) {
            const proof = tree.proveInclusion(i);
            assert.deepEqual(proof.path, refPath(i, leaves), `path of ${i}/${leaves.length}`);
            assert.equal(inclusionProofLength(i, leaves.length), proof.path.length);
            assert.deepEqual(tree.leafHash(i), merkleLeafHash(leaves[i]!));
            verifyInclusion(root, leaves[i]!, proof);
            assert.ok(isValidInclusion(root, leaves[i]!, proof));
          }
        }),
        { numRuns: 60 },
      );
    });

    it('fails when any single byte of the leaf data changes', () => {
      fc.assert(
        fc.property(leafListArb(1, 100), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (leaves, li, at, mask) => {
          const tree = new MerkleTree(leaves);
          const i = li % leaves.length;
          const leaf = leaves[i]!;
          const proof = tree.proveInclusion(i);
          const changed = leaf.length === 0 ? Uint8Array.of(mask) : flipByte(leaf, at, mask);
          assertRejected(tree.root, changed, proof, 'root-mismatch');
          // Truncation and extension are changes too.
          assertRejected(tree.root, concatBytes(leaf, Uint8Array.of(0)), proof, 'root-mismatch');
          if (leaf.length > 0) assertRejected(tree.root, leaf.subarray(0, leaf.length - 1), proof, 'root-mismatch');
        }),
        { numRuns: 200 },
      );
    });

    it('fails when any single byte of any path element changes', () => {
      fc.assert(
        fc.property(leafListArb(2, 100), fc.nat(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (leaves, li, pi, at, mask) => {
          const tree = new MerkleTree(leaves);
          const i = li % leaves.length;
          const proof = tree.proveInclusion(i);
          const k = pi % proof.path.length;
          const path = proof.path.slice();
          path[k] = flipByte(path[k]!, at % 32, mask);
          assertRejected(tree.root, leaves[i]!, { ...proof, path }, 'root-mismatch');
          // The original, untouched proof still verifies: the mutation did not alias the tree.
          verifyInclusion(tree.root, leaves[i]!, tree.proveInclusion(i));
        }),
        { numRuns: 300 },
      );
    });

    it('fails when the index changes', () => {
      fc.assert(
        fc.property(leafListArb(2, 100), fc.nat(), fc.nat({ max: 300 }), (leaves, li, other) => {
          const tree = new MerkleTree(leaves);
          const i = li % leaves.length;
          fc.pre(other !== i);
          assertRejected(tree.root, leaves[i]!, { ...tree.proveInclusion(i), index: other });
        }),
        { numRuns: 300 },
      );
    });

    it('fails when the tree size changes (checked against the root of the claimed size)', () => {
      fc.assert(
        fc.property(leafListArb(2, 100), fc.nat(), fc.nat(), fc.nat(), (leaves, a, b, li) => {
          const n = 1 + (a % leaves.length);
          const m = 1 + (b % leaves.length);
          fc.pre(n !== m);
          const i = li % n;
          const proof = new MerkleTree(leaves.slice(0, n)).proveInclusion(i);
          const otherRoot = merkleRoot(leaves.slice(0, m));
          assertRejected(otherRoot, leaves[i]!, { ...proof, treeSize: m });
        }),
        { numRuns: 300 },
      );
    });

    it('fails when the tree size changes and the path length no longer fits (same root)', () => {
      fc.assert(
        fc.property(leafListArb(1, 100), fc.nat(), fc.nat({ max: 1000 }), (leaves, li, size) => {
          const tree = new MerkleTree(leaves);
          const i = li % leaves.length;
          fc.pre(size !== leaves.length && (size <= i || inclusionProofLength(i, size) !== inclusionProofLength(i, leaves.length)));
          assertRejected(tree.root, leaves[i]!, { ...tree.proveInclusion(i), treeSize: size });
        }),
        { numRuns: 300 },
      );
    });

    it('binds the tree size only through the root (documented RFC 9162 property)', () => {
      // Leaf 4 has the same path shape in trees of 7 and 8 leaves, so the size-7 proof also
      // "verifies" as size 8 against the size-7 root. This is why a root must always be taken
      // together with its size from one signed tree head; against the real size-8 root it fails.
      const leaves = REF_LEAVES;
      const t7 = new MerkleTree(leaves.slice(0, 7));
      const proof = t7.proveInclusion(4);
      verifyInclusion(t7.root, leaves[4]!, { ...proof, treeSize: 8 });
      assertRejected(new MerkleTree(leaves).root, leaves[4]!, { ...proof, treeSize: 8 }, 'root-mismatch');
    });

    it('refuses a path with one hash too many or too few before hashing', () => {
      fc.assert(
        fc.property(leafListArb(1, 100), fc.nat(), hashArb, (leaves, li, extra) => {
          const tree = new MerkleTree(leaves);
          const i = li % leaves.length;
          const proof = tree.proveInclusion(i);
          assertRejected(tree.root, leaves[i]!, { ...proof, path: [...proof.path, extra] }, 'path-length');
          assertRejected(tree.root, leaves[i]!, { ...proof, path: [extra, ...proof.path] }, 'path-length');
          if (proof.path.length > 0) {
            assertRejected(tree.root, leaves[i]!, { ...proof, path: proof.path.slice(1) }, 'path-length');
          }
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('verifyInclusion input checks', () => {
    const leaves = REF_LEAVES;
    const tree = new MerkleTree(leaves);
    const root = tree.root;
    const good = tree.proveInclusion(3);
    const leaf = leaves[3]!;

    it('reports malformed inputs as malformed, never as another exception', () => {
      const cases: [string, () => unknown][] = [
        ['short root', () => verifyInclusion(root.subarray(0, 31), leaf, good)],
        ['long root', () => verifyInclusion(concatBytes(root, Uint8Array.of(0)), leaf, good)],
        ['root not bytes', () => verifyInclusion(bytesToHex(root) as unknown as Uint8Array, leaf, good)],
        ['leaf not bytes', () => verifyInclusion(root, 'x' as unknown as Uint8Array, good)],
        ['proof null', () => verifyInclusion(root, leaf, null as unknown as InclusionProof)],
        ['negative index', () => verifyInclusion(root, leaf, { ...good, index: -1 })],
        ['fractional index', () => verifyInclusion(root, leaf, { ...good, index: 2.5 })],
        ['NaN index', () => verifyInclusion(root, leaf, { ...good, index: Number.NaN })],
        ['bigint index', () => verifyInclusion(root, leaf, { ...good, index: 3n as unknown as number })],
        ['infinite size', () => verifyInclusion(root, leaf, { ...good, treeSize: Number.POSITIVE_INFINITY })],
        ['unsafe size', () => verifyInclusion(root, leaf, { ...good, treeSize: 2 ** 53 })],
        ['path not array', () => verifyInclusion(root, leaf, { ...good, path: 'x' as unknown as Uint8Array[] })],
        ['31-byte hash', () => verifyInclusion(root, leaf, { ...good, path: [good.path[0]!.subarray(1), ...good.path.slice(1)] })],
        ['hex hash', () => verifyInclusion(root, leaf, { ...good, path: [bytesToHex(good.path[0]!) as unknown as Uint8Array, ...good.path.slice(1)] })],
      ];
      for (const [desc, fn] of cases) assert.equal(rejectReason(fn), 'malformed', desc);
    });

    it('reports an index outside the tree as index-out-of-range', () => {
      assert.equal(rejectReason(() => verifyInclusion(root, leaf, { ...good, index: 8 })), 'index-out-of-range');
      assert.equal(rejectReason(() => verifyInclusion(root, leaf, { index: 0, treeSize: 0, path: [] })), 'index-out-of-range');
    });

    it('refuses an over-long path without walking it', () => {
      const path = Array.from({ length: 10_000 }, () => SOME_HASH);
      assert.equal(rejectReason(() => verifyInclusion(root, leaf, { ...good, path })), 'path-length');
    });

    it('handles indexes beyond 2^31 (no 32-bit bit operators)', () => {
      // Last leaf of a tree of 2^40 + 1 leaves: its only path hash is the root of the first 2^40.
      const data = Uint8Array.of(7);
      const left = SOME_HASH;
      const bigRoot = merkleNodeHash(left, merkleLeafHash(data));
      verifyInclusion(bigRoot, data, { index: 2 ** 40, treeSize: 2 ** 40 + 1, path: [left] });
      assert.equal(inclusionProofLength(2 ** 40, 2 ** 40 + 1), 1);
      assert.equal(inclusionProofLength(2 ** 40 - 1, 2 ** 40 + 1), 41);
      assert.equal(inclusionProofLength(0, Number.MAX_SAFE_INTEGER), 53);
      assert.equal(inclusionProofLength(2 ** 31 + 1, 2 ** 32), 32);
      // Leaf 2^31+1 is the right child of its pair; any other direction set would give another root.
      const sibling = SOME_HASH;
      const rest = Array.from({ length: 31 }, (_, k) => merkleLeafHash(Uint8Array.of(k)));
      let r = merkleNodeHash(sibling, merkleLeafHash(data));
      for (let k = 0; k < 30; k++) r = merkleNodeHash(r, rest[k]!);
      r = merkleNodeHash(rest[30]!, r);
      verifyInclusion(r, data, { index: 2 ** 31 + 1, treeSize: 2 ** 32, path: [sibling, ...rest] });
    });
  });

  describe('MerkleTree', () => {
    it('refuses indexes outside the tree', () => {
      const tree = new MerkleTree(REF_LEAVES.slice(0, 3));
      for (const bad of [-1, 3, 1.5, Number.NaN]) {
        assert.equal(rejectReason(() => tree.proveInclusion(bad)), 'index-out-of-range');
        assert.equal(rejectReason(() => tree.leafHash(bad)), 'index-out-of-range');
      }
      assert.equal(rejectReason(() => new MerkleTree([]).proveInclusion(0)), 'index-out-of-range');
    });

    it('hands out copies of its root and path hashes', () => {
      const tree = new MerkleTree(REF_LEAVES);
      tree.root.fill(0);
      tree.proveInclusion(0).path[0]!.fill(0);
      tree.leafHash(1).fill(0);
      assert.equal(bytesToHex(tree.root), REF_ROOTS[8]);
      assert.deepEqual(tree.proveInclusion(0).path.map(bytesToHex), REF_PROOFS[0]!.path);
    });

    it('builds a larger tree whose every proof verifies', () => {
      const leaves = Array.from({ length: 1025 }, (_, i) => new TextEncoder().encode(`entry-${i}`));
      const tree = new MerkleTree(leaves);
      assert.deepEqual(tree.root, merkleRoot(leaves));
      for (let i = 0; i < leaves.length; i++) verifyInclusion(tree.root, leaves[i]!, tree.proveInclusion(i));
      assert.equal(tree.proveInclusion(1024).path.length, 1);
      assert.equal(tree.proveInclusion(0).path.length, 11);
    });

    it('hashes small and large leaves alike (both hashing paths agree with the reference)', () => {
      const leaves = [0, 1, 1023, 1024, 1025, 5000, 70_000].map((n) => new Uint8Array(n).fill(n & 0xff));
      for (const leaf of leaves) assert.deepEqual(merkleLeafHash(leaf), refLeaf(leaf), `leaf of ${leaf.length} bytes`);
      const tree = new MerkleTree(leaves);
      assert.deepEqual(tree.root, refMth(leaves));
      for (let i = 0; i < leaves.length; i++) verifyInclusion(tree.root, leaves[i]!, tree.proveInclusion(i));
    });

    it('refuses leaves that are not bytes', () => {
      assert.throws(() => new MerkleTree(['a' as unknown as Uint8Array]), CryptoError);
      assert.throws(() => merkleRoot([Uint8Array.of(1), 2 as unknown as Uint8Array]), CryptoError);
      assert.throws(() => merkleNodeHash(SOME_HASH, SOME_HASH.subarray(1)), CryptoError);
    });
  });

  describe('proof encoding', () => {
    it('has the documented layout', () => {
      const v = REF_PROOFS[1]!;
      const bytes = encodeInclusionProof({ index: v.index, treeSize: v.treeSize, path: v.path.map(fromHex) });
      assert.equal(bytesToHex(bytes), `0000000000000005${'0000000000000008'}03${v.path.join('')}`);
      const big = encodeInclusionProof({ index: Number.MAX_SAFE_INTEGER - 1, treeSize: Number.MAX_SAFE_INTEGER, path: [] });
      assert.equal(bytesToHex(big), '001ffffffffffffe001fffffffffffff00');
    });

    it('round-trips real proofs and arbitrary well-formed ones', () => {
      fc.assert(
        fc.property(leafListArb(1, 60), fc.nat(), (leaves, li) => {
          const tree = new MerkleTree(leaves);
          const i = li % leaves.length;
          const decoded = decodeInclusionProof(encodeInclusionProof(tree.proveInclusion(i)));
          assert.deepEqual(decoded, tree.proveInclusion(i));
          verifyInclusion(tree.root, leaves[i]!, decoded);
        }),
        { numRuns: 100 },
      );
      fc.assert(
        fc.property(structuralProofArb, (proof) => {
          const bytes = encodeInclusionProof(proof);
          assert.equal(bytes.length, 17 + 32 * proof.path.length);
          // fc.record builds null-prototype objects; spread into a plain one for deepEqual.
          assert.deepEqual(decodeInclusionProof(bytes), { ...proof });
        }),
        { numRuns: 300 },
      );
    });

    it('decodes from a view into a larger buffer and copies the hashes out', () => {
      const proof = new MerkleTree(REF_LEAVES).proveInclusion(5);
      const enc = encodeInclusionProof(proof);
      const backing = new Uint8Array(enc.length + 7);
      backing.set(enc, 3);
      const decoded = decodeInclusionProof(backing.subarray(3, 3 + enc.length));
      backing.fill(0);
      assert.deepEqual(decoded, proof);
    });

    it('rejects every truncation and every extension', () => {
      fc.assert(
        fc.property(structuralProofArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 }), (proof, cut, tail) => {
          const bytes = encodeInclusionProof(proof);
          assert.equal(rejectReason(() => decodeInclusionProof(bytes.subarray(0, cut % bytes.length))), 'malformed');
          assert.equal(rejectReason(() => decodeInclusionProof(concatBytes(bytes, tail))), 'malformed');
        }),
        { numRuns: 300 },
      );
    });

    it('either decodes garbage canonically or throws MerkleProofError, nothing else', () => {
      const header = fc
        .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 }))
        .map(([ints, len, slack]) => {
          // Near-valid inputs: a plausible header followed by about the announced number of hashes.
          const body = new Uint8Array(Math.max(0, Math.min(len, 70) * 32 + slack - 1));
          return concatBytes(ints, Uint8Array.of(len), body);
        });
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), header), (bytes) => {
          let decoded: InclusionProof;
          try {
            decoded = decodeInclusionProof(bytes);
          } catch (err) {
            assert.ok(err instanceof MerkleProofError, `unexpected ${String(err)}`);
            assert.equal(err.reason, 'malformed');
            return;
          }
          assert.deepEqual(encodeInclusionProof(decoded), bytes);
        }),
        { numRuns: 1000 },
      );
    });

    it('enforces the hard limits', () => {
      const at = (len: number, hashes: number) => concatBytes(new Uint8Array(16), Uint8Array.of(len), new Uint8Array(32 * hashes));
      assert.equal(decodeInclusionProof(at(64, 64)).path.length, 64);
      assert.equal(rejectReason(() => decodeInclusionProof(at(65, 65))), 'malformed');
      assert.equal(rejectReason(() => decodeInclusionProof(at(255, 255))), 'malformed');
      assert.equal(rejectReason(() => decodeInclusionProof(new Uint8Array(0))), 'malformed');
      assert.equal(rejectReason(() => decodeInclusionProof('00' as unknown as Uint8Array)), 'malformed');
      const unsafe = at(0, 0);
      unsafe[1] = 0x20; // index = 2^53
      assert.equal(rejectReason(() => decodeInclusionProof(unsafe)), 'malformed');
      const unsafeSize = at(0, 0);
      unsafeSize.fill(0xff, 8, 16);
      assert.equal(rejectReason(() => decodeInclusionProof(unsafeSize)), 'malformed');
    });

    it('refuses to encode a structurally invalid proof', () => {
      const path65 = Array.from({ length: 65 }, () => SOME_HASH);
      assert.equal(rejectReason(() => encodeInclusionProof({ index: 0, treeSize: 1, path: path65 })), 'path-length');
      assert.equal(rejectReason(() => encodeInclusionProof({ index: -1, treeSize: 1, path: [] })), 'malformed');
      assert.equal(rejectReason(() => encodeInclusionProof({ index: 0, treeSize: 2 ** 53, path: [] })), 'malformed');
      assert.equal(rejectReason(() => encodeInclusionProof({ index: 0, treeSize: 2, path: [new Uint8Array(31)] })), 'malformed');
    });
  });
});
