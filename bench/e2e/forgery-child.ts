/**
 * The forged-request flood (forgery.ts) in a process of its own, so that its identities' setup
 * and its frames do not share an event loop with the honest load generator it runs beside:
 * `node forgery-child.js <genesis.json> <attackers> <frame requests> <command bytes> <max requests>`.
 * It floods until its stdin closes (or SIGTERM), then prints its ForgeryResult as one JSON line.
 */
import { loadGenesis } from '../../protocol/genesis.js';
import { runForgedFlood } from './forgery.js';

const [genesisPath, attackers, frameRequests, commandBytes, maxRequests] = process.argv.slice(2);
if (genesisPath === undefined || maxRequests === undefined) {
  process.stderr.write('usage: forgery-child <genesis.json> <attackers> <frame requests> <command bytes> <max requests>\n');
  process.exit(2);
}
const end = new AbortController();
process.stdin.on('close', () => end.abort());
process.stdin.resume();
process.once('SIGTERM', () => end.abort());
const result = await runForgedFlood(await loadGenesis(genesisPath), {
  attackers: Number(attackers),
  frameRequests: Number(frameRequests),
  commandBytes: Number(commandBytes),
  maxRequests: Number(maxRequests),
  signal: end.signal,
});
const cpu = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ ...result, cpuSeconds: Math.round((cpu.user + cpu.system) / 1e3) / 1e3 })}\n`);
process.exit(0);
