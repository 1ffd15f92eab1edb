import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { FakeCertificateOps, fakeSigner } from '../../../node/consensus/fake-certs.js';
import { createLogger } from '../../../node/observability/log.js';
import { createNodeMetrics } from '../../../node/observability/metrics.js';
import { EvidenceRecorder } from '../../../node/runtime/evidence-recorder.js';
import { genesisQc, makeBlock } from '../../../protocol/block.js';
import { type SignedVote, voteDigest, type VoteData } from '../../../protocol/types.js';

const CHAIN = 'evidence-test';

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

const data = (id: number, round = 7): VoteData => ({ blockId: new Uint8Array(32).fill(id), round, height: 3, parentId: new Uint8Array(32), parentRound: round - 1 });
const signed = (signer: number, d: VoteData): SignedVote => ({ vote: d, signer, signature: fakeSigner(signer).sign(voteDigest(CHAIN, d)) });

async function counter(metrics: ReturnType<typeof createNodeMetrics>, kind: string): Promise<number> {
  const m = await metrics.equivocationEvidence.get();
  return m.values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

describe('equivocation evidence in the honest runtime', () => {
  it('records a double vote once: a warn log line with both signed votes and the counter', async () => {
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 0 }, false);
    const { lines, stream } = capture();
    const rec = new EvidenceRecorder(new FakeCertificateOps(CHAIN, 4), CHAIN, metrics, createLogger({ level: 'info', chainId: CHAIN, validator: 0, destination: stream }));
    assert.equal(rec.observe(2, { type: 'vote', vote: signed(2, data(1)) }), undefined);
    assert.equal(rec.observe(2, { type: 'vote', vote: { ...signed(2, data(2)), signature: new Uint8Array(8) } }), undefined, 'a forged second vote proves nothing');
    assert.equal(rec.observe(2, { type: 'vote', vote: signed(2, data(2)) })?.kind, 'double-vote');
    assert.equal(rec.observe(2, { type: 'vote', vote: signed(2, data(3)) }), undefined, 'once per signer and round');
    assert.equal(rec.recorded, 1);
    assert.equal(await counter(metrics, 'double-vote'), 1);
    await new Promise((r) => setImmediate(r));
    const warn = lines.filter((l) => l.level === 40);
    assert.equal(warn.length, 1);
    const ev = warn[0]!.evidence as { offender: number; first: { signature: string }; second: { signature: string } };
    assert.equal(ev.offender, 2);
    assert.notEqual(ev.first.signature, ev.second.signature);
  });

  it('records two well-formed proposals of one round straight from their author, and nothing from relays or garbage ids', async () => {
    const metrics = createNodeMetrics({ chainId: CHAIN, validator: 0 }, false);
    const rec = new EvidenceRecorder(new FakeCertificateOps(CHAIN, 4), CHAIN, metrics);
    const block = (author: number, cmd: number) => makeBlock(CHAIN, { round: 9, height: 2, parentQc: genesisQc(CHAIN), author, payload: [new Uint8Array([cmd])] });
    const a = block(1, 1);
    const b = block(1, 2);
    assert.equal(rec.observe(1, { type: 'proposal', block: a }), undefined);
    assert.equal(rec.observe(1, { type: 'proposal', block: { ...b, id: new Uint8Array(32).fill(9) } }), undefined, 'an id that does not recompute proves nothing');
    assert.equal(rec.observe(3, { type: 'proposal', block: b }), undefined, 'relayed by someone other than the author');
    const e = rec.observe(1, { type: 'proposal', block: b });
    assert.equal(e?.kind, 'conflicting-proposals');
    assert.equal(e?.offender, 1);
    assert.equal(rec.observe(1, { type: 'proposal', block: a }), undefined, 'once per author and round');
    assert.equal(await counter(metrics, 'conflicting-proposals'), 1);
    // A garbage first proposal is replaced, so it cannot hide a real equivocation.
    const rec2 = new EvidenceRecorder(new FakeCertificateOps(CHAIN, 4), CHAIN);
    assert.equal(rec2.observe(1, { type: 'proposal', block: { ...a, id: new Uint8Array(32) } }), undefined);
    assert.equal(rec2.observe(1, { type: 'proposal', block: a }), undefined);
    assert.equal(rec2.observe(1, { type: 'proposal', block: b })?.kind, 'conflicting-proposals');
  });
});
