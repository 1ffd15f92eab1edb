import assert from 'node:assert/strict';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { CHAIN, Cluster, cmd } from './replica-harness.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('Replica payload validation before voting', () => {
  it('holds the vote until the payload is validated, and never votes for a block with an invalid command', () => {
    const checked: string[][] = [];
    const c = new Cluster({
      n: 4,
      certs: new FakeCertificateOps(CHAIN, 4),
      signer: fakeSigner,
      maxBatchCommands: 4,
      payloadValidator: (payload) => {
        checked.push(payload.map(text));
        return payload.every((p) => !text(p).startsWith('bad'));
      },
    });
    c.start();
    // Only replica 1 hears of the bad command, so only its proposals carry it.
    c.step(1, { type: 'commands', commands: [cmd('bad-1')] });
    const good = Array.from({ length: 8 }, (_, k) => cmd(`good-${k}`));
    c.submit(good);
    c.runUntil(() => c.live().every((i) => c.committedCommands(i).filter((x) => x.startsWith('good')).length === good.length), 80);

    for (const i of c.live()) {
      const log = c.committedCommands(i);
      assert.deepEqual(log.filter((x) => x.startsWith('good')).sort(), good.map(text).sort(), `replica ${i}`);
      assert.ok(!log.includes('bad-1'), `replica ${i} committed the invalid command`);
    }
    assert.ok(checked.some((p) => p.includes('bad-1')), 'the bad proposal was validated, not waved through');
    const blamed = c.rejects.filter((r) => /fail validation/.test(r.reason));
    assert.ok(blamed.length > 0);
    assert.ok(blamed.every((r) => r.from === 1), 'the rejection is attributed to the leader that proposed it');
  });
});
