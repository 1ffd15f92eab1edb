import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createServer } from 'node:http';
import { readStatus, startObservabilityServer } from '../../../node/observability/http.js';
import { createLogger } from '../../../node/observability/log.js';
import { createNodeMetrics } from '../../../node/observability/metrics.js';

describe('observability', () => {
  it('serves metrics, status and health on loopback', async () => {
    const metrics = createNodeMetrics({ chainId: 'vsmr-test', validator: 2 }, false);
    let healthy = true;
    const server = await startObservabilityServer({
      port: 0,
      registry: metrics.registry,
      status: () => ({ chainId: 'vsmr-test', index: 2, height: 7, round: 9, leader: 1, logRoot: '0x00', stateRoot: '0x01', peers: 3 }),
      health: () => (healthy ? { ok: true } : { ok: false, reason: 'no progress' }),
    });
    try {
      metrics.committedHeight.set(7);
      metrics.bytesIn.inc({ topic: 'proposal' }, 1234);
      const base = `http://127.0.0.1:${server.port}`;
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.match(text, /vsmr_committed_height\{chain_id="vsmr-test",validator="2"\} 7/);
      assert.match(text, /vsmr_bytes_in_total\{topic="proposal",chain_id="vsmr-test",validator="2"\} 1234/);
      const status = (await (await fetch(`${base}/status`)).json()) as { height: number; leader: number };
      assert.equal(status.height, 7);
      assert.equal(status.leader, 1);
      assert.equal((await fetch(`${base}/health`)).status, 200);
      healthy = false;
      const sick = await fetch(`${base}/health`);
      assert.equal(sick.status, 503);
      assert.deepEqual(await sick.json(), { ok: false, reason: 'no progress' });
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/status`, { method: 'POST' })).status, 405);
    } finally {
      await server.close();
    }
  });

  it("readStatus returns a validator's status and refuses what is not one", async () => {
    const good = { chainId: 'vsmr-test', index: 2, height: 7, round: 9, leader: 1, logRoot: '0x00', stateRoot: '0x01', peers: 3 };
    const answers: [number, string][] = [];
    // Another program on the port: whatever it answers, the reader must not take it as a status.
    const impostor = createServer((_req, res) => {
      const [code, body] = answers.shift() ?? [200, JSON.stringify(good)];
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const port = (impostor.address() as { port: number }).port;
    try {
      assert.deepEqual(await readStatus(port), good);
      answers.push([500, '']);
      await assert.rejects(readStatus(port), /HTTP 500/);
      answers.push([200, 'not json']);
      await assert.rejects(readStatus(port), /not JSON/);
      answers.push([200, JSON.stringify({ ok: true })]);
      await assert.rejects(readStatus(port), /not a validator's status \(index: undefined, height: undefined/);
      answers.push([200, JSON.stringify({ ...good, height: '7' })]);
      await assert.rejects(readStatus(port), /height: string/);
      answers.push([200, '[]']);
      await assert.rejects(readStatus(port), /not an object/);
    } finally {
      await new Promise((r) => impostor.close(r));
    }
  });

  it('keeps two nodes` metrics apart in one process', async () => {
    const a = createNodeMetrics({ chainId: 'c', validator: 0 }, false);
    const b = createNodeMetrics({ chainId: 'c', validator: 1 }, false);
    a.commits.inc(5);
    assert.match(await a.registry.metrics(), /vsmr_commits_total\{chain_id="c",validator="0"\} 5/);
    assert.match(await b.registry.metrics(), /vsmr_commits_total\{chain_id="c",validator="1"\} 0/);
  });

  it('logs JSON lines with the node`s identity', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger({ level: 'info', chainId: 'c', validator: 3, destination: sink });
    log.info({ height: 4 }, 'committed');
    log.debug('hidden at info level');
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(entry['msg'], 'committed');
    assert.equal(entry['validator'], 3);
    assert.equal(entry['height'], 4);
  });
});
