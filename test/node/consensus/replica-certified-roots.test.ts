import assert from 'node:assert/strict';
import { bytesEqual } from '../../../crypto/bytes.js';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import type { Block, QuorumCert } from '../../../protocol/types.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

/**
 * Headers a replica can hand a light client: blocks it holds (committed or certified above the
 * root) for which it also holds a QC (a later block's parent QC, or its highest QC).
 */
function certifiedHeaders(c: Cluster, i: number): Block[] {
  const tip = c.replicas[i]!.syncChain();
  const blocks = [...c.committed[i]!, ...tip.blocks];
  const qcs: QuorumCert[] = [...blocks.map((b) => b.parentQc), tip.highQc];
  return blocks.filter((b) => qcs.some((q) => bytesEqual(q.vote.blockId, b.id)));
}

describe('Replica: the latest executed roots reach a certified header when the chain goes idle', () => {
  for (const batches of [1, 3]) {
    it(`after ${batches} batch(es) of commands, every replica holds a certified header with its final roots, and proposing stops`, () => {
      const c = new Cluster({ n: 4, certs: new FakeCertificateOps(CHAIN, 4), signer: fakeSigner, maxBatchCommands: 2 });
      c.start();
      for (let b = 0; b < batches; b++) {
        c.submit([cmd(`k${b}-a`), cmd(`k${b}-b`)]);
        c.deliverAll();
      }
      // deliverAll drains the queue with no timer firing: proposing stopped on its own.
      const height = c.committed[0]!.length;
      c.deliverAll();
      assert.equal(c.committed[0]!.length, height);
      for (const i of c.live()) {
        const app = c.apps[i]!;
        const found = certifiedHeaders(c, i).some(
          (b) => bytesEqual(b.executed.stateRoot, app.stateRoot()) && bytesEqual(b.executed.logRoot, app.logRoot()),
        );
        assert.ok(found, `replica ${i} has a certified header carrying its current roots`);
      }
      // Bounded: a few empty blocks after the last batch, not a spin.
      assert.ok(height <= batches * 6, `height ${height}`);
    });
  }
});
