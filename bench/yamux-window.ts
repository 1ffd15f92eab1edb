/**
 * CPU per small direct frame between two libp2p hosts in this process (TCP, noise, yamux as the
 * node configures them), with yamux's own receive-window rule (a WindowUpdate answers every data
 * frame) and with the half-window rule vsmr installs (network/yamux-window.ts). Frames of 250
 * bytes, about a relayed request, each sent in its own tick as votes and relayed batches are;
 * both ends' CPU counts. Bounded: a fixed count of frames per run and a 60 s deadline. Not part
 * of `npm run bench`; run it with `npm run bench:yamux-window [-- --quick]`.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createNetworkHost, type NetworkHost } from '../network/host.js';
import type { YamuxWindowUpdates } from '../network/yamux-window.js';
import { benchPath, significant, writeJson } from './harness.js';

const quick = process.argv.includes('--quick');
const FRAMES = quick ? 2_000 : 20_000;
const BURST = 100;
const RUNS = quick ? 1 : 3;
const FRAME_BYTES = 250;

async function pair(rule: YamuxWindowUpdates): Promise<NetworkHost[]> {
  const keys = await Promise.all([0, 1].map(() => generateKeyPair('Ed25519')));
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
  const base = 20_000 + Math.floor(Math.random() * 11_000);
  const addrs = ids.map((_, i) => `/ip4/127.0.0.1/tcp/${base + i}`);
  const hosts: NetworkHost[] = [];
  for (let i = 0; i < 2; i++) {
    const peers = ids.map((p, j) => ({ peerId: p, multiaddr: addrs[j]! })).filter((_, j) => j !== i);
    hosts.push(await createNetworkHost({ chainId: 'vsmr-bench', privateKey: keys[i]!, listen: [addrs[i]!], peers, allowedPeers: new Set(ids), yamuxWindowUpdates: rule }));
  }
  return hosts;
}

async function run(rule: YamuxWindowUpdates): Promise<{ cpuUsPerFrame: number; framesPerSec: number }> {
  const [a, b] = await pair(rule);
  const deadline = performance.now() + 60_000;
  try {
    while (a!.peers().length < 1) {
      if (performance.now() > deadline) throw new Error('hosts did not connect');
      await new Promise((r) => setTimeout(r, 20));
    }
    let got = 0;
    let wake: (() => void) | undefined;
    b!.handle('requests', async () => {
      if (++got % BURST === 0) wake?.();
      return undefined;
    });
    const frame = new Uint8Array(FRAME_BYTES).fill(7);
    const burst = async () => {
      const delivered = new Promise<void>((r) => {
        wake = r;
      });
      for (let i = 0; i < BURST; i++) await a!.send(b!.peerId, 'requests', frame);
      await delivered;
    };
    for (let k = 0; k < 5; k++) await burst(); // warm-up: the channel open, the JIT warm
    got = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let k = 0; k < FRAMES / BURST && performance.now() < deadline; k++) await burst();
    const cpu = process.cpuUsage(cpu0);
    const s = (performance.now() - t0) / 1000;
    return { cpuUsPerFrame: significant((cpu.user + cpu.system) / got), framesPerSec: significant(got / s) };
  } finally {
    await Promise.all([a!.stop(), b!.stop()]);
  }
}

const rows: { rule: YamuxWindowUpdates; run: number; cpuUsPerFrame: number; framesPerSec: number }[] = [];
for (let r = 0; r < RUNS; r++) {
  for (const rule of ['every-frame', 'half-window'] as const) rows.push({ rule, run: r + 1, ...(await run(rule)) });
}
console.table(rows);
// A smoke run only shows it works; the figures worth keeping come from a full run.
if (!quick) await writeJson(benchPath('results', 'yamux-window.json'), { generatedAt: new Date().toISOString(), frameBytes: FRAME_BYTES, frames: FRAMES, rows });
