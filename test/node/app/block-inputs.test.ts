import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DigestMemo } from '../../../crypto/digest-memo.js';
import { ed25519KeypairFromSeed } from '../../../crypto/ed25519/backends.js';
import { applicationInputs } from '../../../node/app/block-inputs.js';
import { encodeCommand } from '../../../protocol/command.js';
import { requestId, signRequest } from '../../../protocol/request.js';

describe('app/block-inputs', () => {
  const key = ed25519KeypairFromSeed(new Uint8Array(32).fill(7)).secretKey;
  const request = (sequence: number, value: Uint8Array) =>
    signRequest({ chainId: 'vsmr-test', sequence: BigInt(sequence), expiry: 99n, command: encodeCommand({ type: 'put', key: Uint8Array.of(1), value }) }, key);

  it('gives each request the id of its bytes, whether hashed here or taken from a memo that hashed them first', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(1000), fc.uint8Array({ maxLength: 40 }), fc.boolean()), { maxLength: 12 }), (entries) => {
        const memo = new DigestMemo();
        // Arrays of their own, windows into a larger buffer, and pooled Buffers.
        const payload = entries.map(([seq, value, junk], i) => {
          const bytes = junk ? value : request(seq, value);
          if (i % 3 === 1) {
            const backing = new Uint8Array(bytes.length + 9).fill(0xaa);
            backing.set(bytes, 4);
            return backing.subarray(4, 4 + bytes.length);
          }
          return i % 3 === 2 ? Buffer.from(bytes) : bytes;
        });
        // Some arrays the memo saw before the block (on arrival), some it meets here.
        for (let i = 0; i < payload.length; i += 2) memo.key(payload[i]!);
        const plain = applicationInputs(payload);
        const memoised = applicationInputs(payload, memo);
        assert.deepEqual(memoised, plain);
        plain.origins.forEach((o, i) => {
          if (o !== undefined) assert.deepEqual(o.id, requestId(payload[i]!));
        });
      }),
      { numRuns: 50 },
    );
  });
});
