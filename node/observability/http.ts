import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** What `vsmr status` prints; the node fills it from its live state. */
export interface NodeStatus {
  readonly chainId: string;
  readonly index: number;
  readonly height: number;
  readonly round: number;
  readonly leader: number;
  readonly logRoot: string;
  readonly stateRoot: string;
  readonly peers: number;
}

/**
 * Reads a validator's `/status` on this host's loopback (`vsmr status`, the devnet, the
 * benchmarks and the process tests all poll it). Throws when nothing answers in time.
 */
export async function readStatus(port: number, timeoutMs = 2000): Promise<NodeStatus> {
  const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  return (await res.json()) as NodeStatus;
}

export interface ObservabilityServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus text), `/status` (JSON for `vsmr status`) and `/health` (200 while the
 * node is healthy, 503 with the reason otherwise), on loopback unless told otherwise: none of
 * it is meant for the open network.
 */
export async function startObservabilityServer(opts: {
  port: number;
  host?: string;
  /** Without a registry, /metrics answers 404 (a status-only server). */
  registry?: Registry;
  status: () => NodeStatus;
  health?: () => { ok: boolean; reason?: string };
}): Promise<ObservabilityServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
    try {
      const registry = opts.registry;
      if (path === '/metrics' && registry) {
        registry.metrics().then(
          (text) => reply(200, registry.contentType, text),
          (err: unknown) => reply(500, 'text/plain', `metrics failed: ${String(err)}\n`),
        );
        return;
      }
      if (path === '/status') return reply(200, 'application/json', `${JSON.stringify(opts.status())}\n`);
      if (path === '/health') {
        const h = opts.health?.() ?? { ok: true };
        return reply(h.ok ? 200 : 503, 'application/json', `${JSON.stringify(h)}\n`);
      }
      reply(404, 'text/plain', 'not found\n');
    } catch (err) {
      reply(500, 'text/plain', `internal error: ${String(err)}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
