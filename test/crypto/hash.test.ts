import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToHex, concatBytes } from '../../crypto/bytes.js';
import { CryptoError } from '../../crypto/errors.js';
import {
  DOMAIN_TAGS,
  domainPrefix,
  HashInputError,
  sha256,
  sha256Noble,
  sha256Parts,
  sha256SmallInto,
  taggedHash,
} from '../../crypto/hash.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// Valid inputs, generated straight from the documented grammar.
const tagArb = fc.stringMatching(/^[a-z0-9][a-z0-9/._-]{0,63}$/);
const chainIdArb = fc.stringMatching(/^[\x21-\x7e]{1,64}$/);
const bytesArb = fc.uint8Array({ maxLength: 300 });

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.length <= a.length && prefix.every((b, i) => a[i] === b);
}

function assertHashInputError(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HashInputError, `expected HashInputError, got ${String(err)}`);
    assert.ok(err instanceof CryptoError);
    assert.equal(err.code, 'HASH_INPUT');
    assert.equal(err.field, field);
    return true;
  });
}

describe('crypto/hash', () => {
  describe('sha256', () => {
    // FIPS 180-2 appendix B.1 and the empty-message digest.
    const vectors: [string, string][] = [
      ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
      ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
      [
        'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
        '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
      ],
    ];

    it('matches the FIPS 180 known answers in all three implementations', () => {
      for (const [msg, hex] of vectors) {
        const data = ascii(msg);
        assert.equal(bytesToHex(sha256(data)), hex, `sha256(${JSON.stringify(msg)})`);
        assert.equal(bytesToHex(sha256Noble(data)), hex, `sha256Noble(${JSON.stringify(msg)})`);
        assert.equal(bytesToHex(sha256Parts([data])), hex, `sha256Parts(${JSON.stringify(msg)})`);
      }
      assert.equal(bytesToHex(sha256Parts([])), vectors[1]![1]);
      assert.equal(bytesToHex(sha256Parts([ascii('a'), new Uint8Array(0), ascii('bc')])), vectors[0]![1]);
    });

    it('sha256SmallInto writes the same digest into the given buffer, for inputs up to 192 bytes only', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 192 }), (data) => {
          const out = new Uint8Array(32).fill(0xaa);
          sha256SmallInto(out, data);
          assert.deepEqual(out, sha256Noble(data));
        }),
      );
      assertHashInputError(() => sha256SmallInto(new Uint8Array(32), new Uint8Array(193)), 'data');
      assertHashInputError(() => sha256SmallInto(new Uint8Array(31), new Uint8Array(1)), 'data');
    });

    it('returns plain 32-byte Uint8Arrays, not Buffers', () => {
      for (const d of [sha256(ascii('x')), sha256Parts([ascii('x')]), taggedHash('a', 'b')]) {
        assert.equal(d.length, 32);
        assert.equal(Object.getPrototypeOf(d), Uint8Array.prototype);
      }
    });

    it('node:crypto, noble and the incremental variant agree on random input (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 6 }), (data, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const parts: Uint8Array[] = [];
          let from = 0;
          for (const p of [...points, data.length]) {
            parts.push(data.subarray(from, p));
            from = p;
          }
          const expected = sha256Noble(data);
          assert.deepEqual(sha256(data), expected);
          assert.deepEqual(sha256Parts(parts), expected);
        }),
        { numRuns: 300 },
      );
    });

    it('hashes only the view of a subarray, not its whole backing buffer', () => {
      const backing = ascii('xxabcxx');
      const view = backing.subarray(2, 5);
      assert.deepEqual(sha256(view), sha256(ascii('abc')));
      assert.deepEqual(sha256Noble(view), sha256(ascii('abc')));
    });

    it('refuses non-bytes with HashInputError instead of hashing a string', () => {
      const str = 'abc' as unknown as Uint8Array;
      assertHashInputError(() => sha256(str), 'data');
      assertHashInputError(() => sha256Noble(str), 'data');
      assertHashInputError(() => sha256Parts([ascii('a'), str]), 'data');
      assertHashInputError(() => taggedHash('a', 'b', str), 'data');
    });
  });

  describe('domainPrefix', () => {
    it('encodes u8 len || tag || u8 len || chain id', () => {
      const p = domainPrefix('vsmr/vote/v1', 'mainnet-1');
      assert.deepEqual(p, concatBytes(Uint8Array.of(12), ascii('vsmr/vote/v1'), Uint8Array.of(9), ascii('mainnet-1')));
    });

    it('accepts the boundary lengths (64-byte tag and chain id, 1-byte each)', () => {
      const tag = `a${'-'.repeat(63)}`;
      const chain = '~'.repeat(64);
      const p = domainPrefix(tag, chain);
      assert.equal(p.length, 2 + 64 + 64);
      assert.equal(p[0], 64);
      assert.equal(p[65], 64);
      assert.deepEqual(domainPrefix('0', '!'), Uint8Array.of(1, 0x30, 1, 0x21));
    });

    it('rejects bad tags', () => {
      const bad = [
        '',
        'Vsmr/vote/v1', // upper case
        '/vsmr', // must start with [a-z0-9]
        '-vsmr',
        '.vsmr',
        'vsmr vote',
        'vsmr/vote/v1\n', // `$` must not match before a trailing newline
        'vsmr\0',
        'vsmr/vöte',
        'vsmr:vote',
        `a${'b'.repeat(64)}`, // 65 characters
        'ｖsmr', // full-width look-alike
      ];
      for (const tag of bad) assertHashInputError(() => domainPrefix(tag, 'chain'), 'tag');
      assertHashInputError(() => domainPrefix(42 as unknown as string, 'chain'), 'tag');
    });

    it('rejects bad chain ids', () => {
      const bad = ['', ' ', 'main net', 'main\tnet', 'main\n', '\x7f', 'chaîne', '链', '~'.repeat(65), 'a\0'];
      for (const chainId of bad) assertHashInputError(() => domainPrefix('vsmr/vote/v1', chainId), 'chain-id');
      assertHashInputError(() => domainPrefix('vsmr/vote/v1', undefined as unknown as string), 'chain-id');
    });

    it('cannot be tricked by a cache key collision between (tag, chain) splits', () => {
      // Warm the cache with a valid pair, then try inputs whose naive concatenation matches it.
      domainPrefix('vsmr/vote/v1', 'x');
      assertHashInputError(() => domainPrefix('vsmr/vote/v1 x', ''), 'tag');
      assertHashInputError(() => domainPrefix('vsmr/vote/v1', ' x'), 'chain-id');
    });

    it('returns a copy: mutating it does not change later prefixes or hashes', () => {
      const before = taggedHash('vsmr/vote/v1', 'copy-test', ascii('m'));
      const p = domainPrefix('vsmr/vote/v1', 'copy-test');
      p.fill(0);
      assert.equal(domainPrefix('vsmr/vote/v1', 'copy-test')[0], 12);
      assert.deepEqual(taggedHash('vsmr/vote/v1', 'copy-test', ascii('m')), before);
    });

    it('stays correct past the prefix cache bound', () => {
      for (let i = 0; i < 500; i++) {
        const chain = `chain-${i}`;
        const expected = concatBytes(Uint8Array.of(10), ascii('vsmr/qc/v1'), Uint8Array.of(chain.length), ascii(chain));
        assert.deepEqual(domainPrefix('vsmr/qc/v1', chain), expected);
      }
    });

    it('is prefix-free: no valid prefix is a prefix of another (property)', () => {
      fc.assert(
        fc.property(tagArb, chainIdArb, tagArb, chainIdArb, (t1, c1, t2, c2) => {
          fc.pre(t1 !== t2 || c1 !== c2);
          const a = domainPrefix(t1, c1);
          const b = domainPrefix(t2, c2);
          assert.ok(!startsWith(a, b) && !startsWith(b, a), `${t1}|${c1} vs ${t2}|${c2}`);
        }),
        { numRuns: 500 },
      );
    });
  });

  describe('taggedHash', () => {
    it('is sha256(domainPrefix || parts...)', () => {
      fc.assert(
        fc.property(tagArb, chainIdArb, fc.array(bytesArb, { maxLength: 5 }), (tag, chain, parts) => {
          assert.deepEqual(taggedHash(tag, chain, ...parts), sha256Noble(concatBytes(domainPrefix(tag, chain), ...parts)));
        }),
        { numRuns: 200 },
      );
    });

    it('differs when the tag or the chain id differs (property)', () => {
      fc.assert(
        fc.property(tagArb, chainIdArb, tagArb, chainIdArb, bytesArb, (t1, c1, t2, c2, msg) => {
          fc.pre(t1 !== t2 || c1 !== c2);
          assert.notDeepEqual(taggedHash(t1, c1, msg), taggedHash(t2, c2, msg));
        }),
        { numRuns: 500 },
      );
    });

    it('a project tag never collides with another project tag on the same message and chain', () => {
      const msg = ascii('same payload');
      const seen = new Set<string>();
      for (const tag of Object.values(DOMAIN_TAGS)) seen.add(bytesToHex(taggedHash(tag, 'chain-a', msg)));
      assert.equal(seen.size, Object.keys(DOMAIN_TAGS).length);
    });

    it('binds the chain id even when the message could absorb its bytes', () => {
      // Naive concatenation would make ("ab", "c...") and ("a", "bc...") identical.
      const tag = DOMAIN_TAGS.vote;
      assert.notDeepEqual(taggedHash(tag, 'ab', ascii('c')), taggedHash(tag, 'a', ascii('bc')));
    });
  });

  describe('DOMAIN_TAGS', () => {
    it('holds exactly the project tags, frozen, all valid and distinct', () => {
      assert.deepEqual(
        { ...DOMAIN_TAGS },
        {
          vote: 'vsmr/vote/v1',
          timeout: 'vsmr/timeout/v1',
          block: 'vsmr/block/v1',
          request: 'vsmr/request/v1',
          qc: 'vsmr/qc/v1',
          pop: 'vsmr/pop/v1',
          state: 'vsmr/state/v2',
          log: 'vsmr/log/v2',
        },
      );
      assert.ok(Object.isFrozen(DOMAIN_TAGS));
      const values = Object.values(DOMAIN_TAGS);
      assert.equal(new Set(values).size, values.length);
      for (const tag of values) assert.doesNotThrow(() => domainPrefix(tag, 'chain'));
    });
  });
});
