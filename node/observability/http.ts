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
 * benchmarks and the process tests all poll it). Throws when nothing answers in time, and when
 * what answers is not a validator's status (another program on the port, an error page): its
 * fields would otherwise print as "undefined" and a poller would wait on a height of undefined.
 */
export async function readStatus(port: number, timeoutMs = 2000): Promise<NodeStatus> {
  const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`/status answered HTTP ${res.status}`);
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new Error('/status answered something that is not JSON');
  }
  const missing = statusFieldsMissing(body);
  if (missing.length > 0) throw new Error(`/status answered JSON that is not a validator's status (${missing.join(', ')})`);
  return body as NodeStatus;
}

const STATUS_NUMBERS = ['index', 'height', 'round', 'leader', 'peers'] as const;
const STATUS_STRINGS = ['chainId', 'logRoot', 'stateRoot'] as const;

/** The NodeStatus fields `body` lacks or has of the wrong type, as "name: what it is". */
function statusFieldsMissing(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['not an object'];
  const o = body as Record<string, unknown>;
  return [
    ...STATUS_NUMBERS.filter((k) => !Number.isSafeInteger(o[k])).map((k) => `${k}: ${typeof o[k]}`),
    ...STATUS_STRINGS.filter((k) => typeof o[k] !== 'string').map((k) => `${k}: ${typeof o[k]}`),
  ];
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
