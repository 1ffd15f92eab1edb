import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { MAX_WAITING, MAX_WAITING_PER_PEER, publishesHeader, QUERY_LOOKAHEAD_HEIGHTS, QueryService } from '../../../node/runtime/query-service.js';
import { ValidatorNode } from '../../../node/runtime/validator-node.js';
import { decodeQueryResponse, encodeQueryRequest } from '../../../protocol/query.js';
import { MainThreadValidator } from '../../../validation/stateless.js';
import { FakeLedgerStore, FakeNetwork } from './fakes.js';

describe('certificate publishing shared among validators', () => {
  it('every header has exactly `copies` publishers, consecutive from its height mod n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 200 }), (n, height, c) => {
        const copies = Math.min(c, n);
        const publishers = Array.from({ length: n }, (_, index) => index).filter((index) => publishesHeader({ index, n, copies }, height));
        assert.equal(publishers.length, copies);
        assert.ok(publishers.includes(height % n));
      }),
    );
  });

  it('each validator publishes its fair share of consecutive headers', () => {
    const n = 4;
    const copies = 2;
    for (let index = 0; index < n; index++) {
      const mine = Array.from({ length: 400 }, (_, h) => h).filter((h) => publishesHeader({ index, n, copies }, h));
      assert.equal(mine.length, 200);
    }
  });
});

describe('QueryService admission', () => {
  const CHAIN = 'vsmr-query-test';
  const node = new ValidatorNode({
    chainId: CHAIN,
    index: 0,
    n: 4,
    signer: fakeSigner(0),
    certs: new FakeCertificateOps(CHAIN, 4),
    store: new FakeLedgerStore(),
    transport: new FakeNetwork().transport(0),
    validator: new MainThreadValidator(CHAIN),
    consensus: { baseTimeoutMs: 150, maxBatchCommands: 8, maxBatchBytes: 1 << 20 },
  });
  const ask = (service: QueryService, height: number, from: string) => service.handle(encodeQueryRequest({ kind: 'certificate', height }), from).then(decodeQueryResponse);

  it('answers a height far above the committed one at once, and holds at most a few waiting queries of one peer', async () => {
    const service = new QueryService({ chainId: CHAIN, node, store: new FakeLedgerStore(), waitMs: 60_000 });
    const far = await ask(service, QUERY_LOOKAHEAD_HEIGHTS + 1, 'peer-a');
    assert.equal(far.status, 'unavailable');
    // Heights within reach wait for their certificate: they hold their slots.
    const waiting = Array.from({ length: MAX_WAITING_PER_PEER }, () => ask(service, 1, 'peer-a'));
    const over = await ask(service, 1, 'peer-a');
    assert.equal(over.status, 'busy');
    // Another peer still has room to wait.
    const other = ask(service, 1, 'peer-b');
    // Stopping ends every waiting query instead of leaving it to its deadline.
    service.stop();
    for (const r of await Promise.all([...waiting, other])) assert.equal(r.status, 'unavailable');
  });

  it('a ready answer takes no slot: queries waiting under many peer ids never keep it from anyone', async () => {
    const service = new QueryService({ chainId: CHAIN, node, store: new FakeLedgerStore(), waitMs: 60_000 });
    const peers = Math.ceil(MAX_WAITING / MAX_WAITING_PER_PEER);
    const waiting = Array.from({ length: peers * MAX_WAITING_PER_PEER }, (_, i) => ask(service, 1, `flooder-${i % peers}`));
    assert.equal((await ask(service, 1, 'honest')).status, 'busy', 'every waiting slot is taken');
    // Answered from what this replica holds now (here: that the height is out of reach), not `busy`.
    const ready = await ask(service, QUERY_LOOKAHEAD_HEIGHTS + 1, 'honest');
    assert.equal(ready.status, 'unavailable');
    service.stop();
    for (const r of await Promise.all(waiting)) assert.equal(r.status, 'unavailable');
    assert.equal((await ask(service, QUERY_LOOKAHEAD_HEIGHTS + 3, 'peer-a')).status, 'unavailable');
  });
});
