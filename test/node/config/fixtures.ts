/** Deterministic validator keys and a valid genesis document for the config tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { blsBackend, generateBlsKeyPair, popProve } from '../../../crypto/bls/index.js';
import { toHex } from '../../../crypto/bytes.js';
import type { NodeKeys } from '../../../node/config/keys.js';

export const backend = blsBackend('blst');

/** Repository root, from dist/test/node/config/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export async function testKeys(i: number): Promise<NodeKeys> {
  const bls = generateBlsKeyPair(backend, new Uint8Array(32).fill(i + 1));
  const libp2pPrivateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(i + 101));
  return { blsSecretKey: bls.secretKey, blsPublicKey: bls.publicKey, libp2pPrivateKey, peerId: peerIdFromPrivateKey(libp2pPrivateKey).toString() };
}

/** Plain JSON value of a valid n-validator genesis; tests mutate copies of it. */
export async function validGenesisJson(n = 4): Promise<Record<string, unknown>> {
  const validators = [];
  for (let i = 0; i < n; i++) {
    const k = await testKeys(i);
    validators.push({
      index: i,
      blsPublicKey: toHex(k.blsPublicKey.bytes),
      proofOfPossession: toHex(popProve(backend, k.blsSecretKey).bytes),
      peerId: k.peerId,
      address: `/ip4/127.0.0.1/tcp/${26600 + i}`,
    });
  }
  return {
    version: 1,
    chainId: 'test-chain',
    validators,
    consensus: { baseTimeoutMs: 1000, maxBatchCommands: 500, maxBatchBytes: 1 << 20 },
    app: { allowMint: true, initialBalances: [{ account: '0xaa', amount: '18446744073709551615' }] },
  };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vsmr-config-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A fresh temporary directory for each test of the calling `describe` block (registered as its
 * beforeEach and afterEach), removed after the test. Returns a getter for the current one.
 */
export function tempDirPerTest(prefix = 'vsmr-test-'): () => string {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error('tempDirPerTest: no test is running');
    return dir;
  };
}
