import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DigestMemo } from '../../crypto/digest-memo.js';
import { sha256 } from '../../crypto/hash.js';

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

describe('DigestMemo', () => {
  it('gives the SHA-256 of exactly the bytes of any array or window, the same each time', () => {
    const memo = new DigestMemo();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(8), fc.nat(8), fc.boolean(), (bytes, skip, cut, pooled) => {
        // Windows that start and end inside their buffer, and Buffers from Node's shared pool.
        const source = pooled ? Buffer.from(bytes) : bytes;
        const view = source.subarray(Math.min(skip, source.length), Math.max(Math.min(skip, source.length), source.length - cut));
        const key = memo.key(view);
        assert.equal(key.length, 32);
        assert.equal(key, latin1(sha256(view)));
        assert.equal(memo.key(view), key);
        const digest = memo.digest(view);
        assert.deepEqual(digest, sha256(view), 'the digest as bytes');
        digest.fill(0);
        assert.deepEqual(memo.digest(view), sha256(view), 'a fresh array each time: changing one changes nothing kept');
      }),
    );
  });

  it('equal bytes in different arrays or memos give the same key; different bytes a different one', () => {
    const memo = new DigestMemo();
    const bytes = new Uint8Array([1, 2, 3]);
    const first = memo.key(bytes);
    assert.equal(new DigestMemo().key(new Uint8Array([1, 2, 3])), first, 'equal bytes, equal key across memos');
    assert.notEqual(memo.key(new Uint8Array([1, 2, 4])), first);
  });
});
