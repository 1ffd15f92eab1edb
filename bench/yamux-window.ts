/**
 * CPU per small direct frame between two libp2p hosts in this process (TCP, noise, yamux as the
 * node configures them), with yamux's own receive-window rule (a WindowUpdate answers every data
 * frame) and with the half-window rule vsmr installs (network/yamux-window.ts). Frames of 250
 * bytes, about a relayed request, each sent and flushed before the next (so each is its own
 * data frame, as lone votes and relayed batches are); both ends' CPU counts. The two rules
 * alternate, each run starting with the other one. Bounded: a fixed count of frames per run, and
 * a 60 s deadline that also bounds every wait. Not part of `npm run bench`; run it with
 * `npm run bench:yamux-window [-- --quick]`.
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
  const allowedPeers = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()));
  const hosts = await Promise.all(
    keys.map((privateKey) => createNetworkHost({ chainId: 'vsmr-bench', privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers, yamuxWindowUpdates: rule })),
  );
  await hosts[0]!.dial(hosts[1]!.multiaddrs()[0]!);
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
      let timer: NodeJS.Timeout | undefined;
      const delivered = new Promise<void>((resolve, reject) => {
        wake = resolve;
        timer = setTimeout(() => reject(new Error('frames not delivered by the deadline')), Math.max(0, deadline - performance.now()));
      });
      try {
        for (let i = 0; i < BURST; i++) await a!.send(b!.peerId, 'requests', frame);
        await delivered;
      } finally {
        clearTimeout(timer);
      }
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
  const order = r % 2 === 0 ? (['every-frame', 'half-window'] as const) : (['half-window', 'every-frame'] as const);
  for (const rule of order) rows.push({ rule, run: r + 1, ...(await run(rule)) });
}
console.table(rows);
// A smoke run only shows it works; the figures worth keeping come from a full run.
if (!quick) await writeJson(benchPath('results', 'yamux-window.json'), { generatedAt: new Date().toISOString(), frameBytes: FRAME_BYTES, frames: FRAMES, rows });
