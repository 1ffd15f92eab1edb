import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HashInputError, sha256Parts } from '../../crypto/hash.js';
import { genesisQc, isGenesisQc, payloadHash } from '../../protocol/block.js';
import type { QuorumCert } from '../../protocol/types.js';

describe('protocol/block: the genesis QC', () => {
  const chain = 'vsmr-test';
  const g = genesisQc(chain);

  it('is recognised on its own chain only', () => {
    assert.equal(isGenesisQc(chain, g), true);
    assert.equal(isGenesisQc(chain, genesisQc(chain)), true, 'a fresh copy too');
    assert.equal(isGenesisQc('vsmr-other', g), false);
  });

  it('any field changed makes it an ordinary QC (which must then verify)', () => {
    const other = new Uint8Array(32).fill(7);
    const variants: [string, QuorumCert][] = [
      ['round', { ...g, vote: { ...g.vote, round: 1 } }],
      ['height', { ...g, vote: { ...g.vote, height: 1 } }],
      ['parent round', { ...g, vote: { ...g.vote, parentRound: 1 } }],
      ['block id', { ...g, vote: { ...g.vote, blockId: other } }],
      ['parent id', { ...g, vote: { ...g.vote, parentId: other } }],
      ['certificate bytes', { ...g, certificate: new Uint8Array(1) }],
    ];
    for (const [name, qc] of variants) assert.equal(isGenesisQc(chain, qc), false, name);
  });
});

describe('protocol/block: the payload hash', () => {
  /** The definition, u32 count || (u32 len || command)*, spelled out part by part. */
  const reference = (payload: readonly Uint8Array[]) => {
    const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    return sha256Parts([u32(payload.length), ...payload.flatMap((c) => [u32(c.length), c])]);
  };

  it('is SHA-256 of the count and each length-prefixed command, whatever the commands (and views into larger buffers)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), fc.nat({ max: 7 }), (payload, offset) => {
        const views = payload.map((c) => {
          const backing = new Uint8Array(c.length + offset + 3).fill(0xee);
          backing.set(c, offset);
          return backing.subarray(offset, offset + c.length);
        });
        assert.deepEqual(payloadHash(views), reference(payload));
      }),
    );
  });

  it('binds command boundaries: moving a byte from one command to the next changes it', () => {
    assert.notDeepEqual(payloadHash([Uint8Array.of(1, 2), Uint8Array.of(3)]), payloadHash([Uint8Array.of(1), Uint8Array.of(2, 3)]));
  });

  it('refuses an entry that is not bytes with a typed error', () => {
    assert.throws(() => payloadHash([Uint8Array.of(1), 'x' as unknown as Uint8Array]), (err: unknown) => err instanceof HashInputError);
  });
});
