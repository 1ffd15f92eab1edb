import assert from 'node:assert/strict';
import { genesisQc, isGenesisQc } from '../../protocol/block.js';
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
