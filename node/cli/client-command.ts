/**
 * `vsmr client cert | get | verify | follow | example`: the light client on the command line.
 * Every answer from a replica is verified against the genesis before anything is printed;
 * exit 0 when it verifies, 1 when the replica lied or could not answer, 2 on bad usage.
 */
import { open, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { integerFlag } from './flag-parsers.js';
import { checkFlagOutputFile, UsageError } from './usage-error.js';
import { fromHex, toHex } from '../../crypto/bytes.js';
import { fetchVerified, QueryFailedError, type ReplicaAddress, replicaFromMultiaddr, followCertificates } from '../../client/light.js';
import { BundleVerifyError, summarizeVerified, verifyBundle } from '../../client/verify.js';
import { BundleFormatError, bundleToJson, MAX_BUNDLE_JSON_BYTES, parseBundle } from '../../protocol/bundle.js';
import { type Genesis, loadGenesis } from '../../protocol/genesis.js';
import { QueryDecodeError } from '../../protocol/query.js';
import { kvStateKey } from '../app/state-keys.js';
import { readNodeConfig } from '../config/node-config.js';
import { renderCertificateExample } from './cert-example.js';
import { terminalSafe } from './terminal-safe.js';

/**
 * The first `max` bytes of `file` as UTF-8. A bundle has a size limit, and a file past it (or
 * `/dev/zero`, which has no end) is refused by the parser after this much, not read whole.
 */
async function readUpTo(file: string, max: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    let filled = 0;
    while (filled < max) {
      const { bytesRead } = await handle.read(buf, filled, max - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.toString('utf8', 0, filled);
  } finally {
    await handle.close();
  }
}

/** The replica to ask: --peer, else the validator whose home is --home, else validator 0. */
async function replicaOf(genesis: Genesis, opts: { home?: string; peer?: string }): Promise<ReplicaAddress> {
  if (opts.home !== undefined && opts.peer !== undefined) throw new UsageError('give --home or --peer, not both');
  if (opts.peer !== undefined) {
    try {
      return replicaFromMultiaddr(opts.peer);
    } catch (err) {
      throw new UsageError(`--peer: ${(err as Error).message}`);
    }
  }
  let index = 0;
  if (opts.home !== undefined) index = (await readNodeConfig(opts.home)).index;
  const v = genesis.validators[index];
  if (!v) throw new UsageError(`validator ${index} is not in the genesis`);
  return { peerId: v.peerId, multiaddr: v.address };
}

/** A KV key: text as UTF-8, or 0x-prefixed hex for raw bytes. */
function parseKey(k: string): Uint8Array {
  if (k.startsWith('0x')) {
    try {
      return fromHex(k);
    } catch {
      throw new UsageError(`--key: not hex: ${k}`);
    }
  }
  return new TextEncoder().encode(k);
}

function printable(bytes: Uint8Array): string | undefined {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return /^[\x20-\x7e]*$/.test(s) ? s : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs a subcommand body: a verdict it reached against the chain (a bundle that does not verify,
 * a query the replica failed) is one line and exit 1. Bad input is main.ts's: exit 2.
 */
async function guarded(name: string, body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    if (err instanceof BundleVerifyError || err instanceof BundleFormatError || err instanceof QueryFailedError || err instanceof QueryDecodeError) {
      process.stderr.write(`vsmr client ${name}: ${terminalSafe(err.message)}\n`);
      process.exitCode = 1;
    } else throw err;
  }
}

export function registerLightClientCommands(client: Command): void {
  client
    .command('cert')
    .description('fetch from one replica the certificate covering height H, verify it, write it as a JSON proof bundle')
    .requiredOption('--genesis <file>', 'genesis.json of the chain')
    .requiredOption('--height <h>', 'committed height to cover', integerFlag('--height', 0))
    .option('--home <dir>', 'ask the validator whose home this is (DIR/node-<i>)')
    .option('--peer <multiaddr>', 'ask this replica (/ip4/.../tcp/.../p2p/<peer id>)')
    .requiredOption('--out <file>', 'where to write the bundle')
    .action((opts: { genesis: string; height: number; home?: string; peer?: string; out: string }) =>
      guarded('cert', async () => {
        const genesis = await loadGenesis(opts.genesis);
        checkFlagOutputFile('--out', opts.out);
        const replica = await replicaOf(genesis, opts);
        const { bundle, verified } = await fetchVerified(genesis, replica, { kind: 'certificate', height: opts.height });
        if (bundle.height !== opts.height) throw new BundleVerifyError('stale-certificate', `asked for height ${opts.height}, the bundle claims ${bundle.height}`);
        await writeFile(opts.out, bundleToJson(bundle));
        process.stdout.write(`${summarizeVerified(verified)}\nwrote ${opts.out}\n`);
        return 0;
      }),
    );

  client
    .command('get')
    .description('verifiable read: a key`s value (or proven absence) from one replica, checked against the genesis')
    .requiredOption('--genesis <file>', 'genesis.json of the chain')
    .requiredOption('--key <k>', 'KV key: text, or 0x-prefixed hex')
    .option('--home <dir>', 'ask the validator whose home this is (DIR/node-<i>)')
    .option('--peer <multiaddr>', 'ask this replica (/ip4/.../tcp/.../p2p/<peer id>)')
    .option('--json', 'print one JSON object')
    .action((opts: { genesis: string; key: string; home?: string; peer?: string; json?: boolean }) =>
      guarded('get', async () => {
        const genesis = await loadGenesis(opts.genesis);
        const replica = await replicaOf(genesis, opts);
        const key = parseKey(opts.key);
        if (key.length < 1 || key.length > 256) throw new UsageError('--key must be 1..256 bytes');
        const stateKey = kvStateKey(key);
        const { verified } = await fetchVerified(genesis, replica, { kind: 'state', key: stateKey });
        // The bundle must answer the question asked, not another key.
        if (!verified.state || toHex(verified.state.key) !== toHex(stateKey)) throw new BundleVerifyError('state-proof', 'the bundle proves another key');
        const value = verified.state.value;
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({
              key: opts.key,
              present: value !== null,
              value: value === null ? null : toHex(value),
              text: value === null ? null : (printable(value) ?? null),
              height: verified.executedHeight,
              blockHeight: verified.blockHeight,
              blockId: toHex(verified.blockId),
              stateRoot: toHex(verified.stateRoot),
              verified: true,
            })}\n`,
          );
        } else {
          const shown = value === null ? 'absent' : `= ${printable(value) !== undefined ? JSON.stringify(printable(value)) : toHex(value)}`;
          process.stdout.write(`${opts.key} ${shown} (verified at height ${verified.executedHeight}, block ${verified.blockHeight} ${toHex(verified.blockId)}, state root ${toHex(verified.stateRoot)})\n`);
        }
        return 0;
      }),
    );

  client
    .command('verify')
    .description('verify a proof bundle offline against the genesis: exit 0 and a summary, or exit 1 and the reason')
    .argument('<file>', 'the bundle (JSON)')
    .requiredOption('--genesis <file>', 'genesis.json of the chain')
    .action((file: string, opts: { genesis: string }) =>
      guarded('verify', async () => {
        const genesis = await loadGenesis(opts.genesis);
        let text: string;
        try {
          text = await readUpTo(file, MAX_BUNDLE_JSON_BYTES + 1);
        } catch (err) {
          throw new UsageError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
        }
        const verified = verifyBundle(parseBundle(text), genesis);
        process.stdout.write(`${summarizeVerified(verified)}\n`);
        return 0;
      }),
    );

  client
    .command('follow')
    .description('join the mesh as a light peer and verify every certificate on the certificates topic')
    .requiredOption('--genesis <file>', 'genesis.json of the chain')
    .option('--count <n>', 'stop after N new certificates', integerFlag('--count', 1))
    .option('--duration <s>', 'stop after S seconds', integerFlag('--duration', 1))
    .option('--json', 'one JSON object per line')
    .action((opts: { genesis: string; count?: number; duration?: number; json?: boolean }) =>
      guarded('follow', async () => {
        const genesis = await loadGenesis(opts.genesis);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const seen = await followCertificates(genesis, {
            ...(opts.count === undefined ? {} : { count: opts.count }),
            ...(opts.duration === undefined ? {} : { durationMs: opts.duration * 1000 }),
            signal: stop.signal,
            onCertificate: (v) => {
              const line = opts.json
                ? JSON.stringify({ height: v.executedHeight, blockHeight: v.blockHeight, block: toHex(v.blockId), stateRoot: toHex(v.stateRoot), logRoot: toHex(v.logRoot), signers: v.signers })
                : `height ${v.executedHeight} block ${v.blockHeight} ${toHex(v.blockId)} state ${toHex(v.stateRoot)} (verified, ${v.signers === null ? 'threshold' : `${v.signers} signers`})`;
              process.stdout.write(`${line}\n`);
            },
            onRejected: (reason) => process.stderr.write(`rejected certificate: ${terminalSafe(reason)}\n`),
          });
          return opts.count !== undefined && seen < opts.count ? 1 : 0;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );

  client
    .command('example')
    .description('print the worked example of docs/CERTIFICATE.md, computed by the code')
    .action(() =>
      guarded('example', async () => {
        process.stdout.write(renderCertificateExample());
        return 0;
      }),
    );
}
