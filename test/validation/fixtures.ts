import { type Ed25519Keypair, ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { type Command, encodeCommand } from '../../protocol/command.js';
import { signRequest } from '../../protocol/request.js';

export const CHAIN = 'vsmr-test';

export function client(n: number): Ed25519Keypair {
  return ed25519KeypairFromSeed(new Uint8Array(32).fill(n + 1));
}

export function put(i: number): Command {
  return { type: 'put', key: Uint8Array.of(1, i & 0xff), value: new TextEncoder().encode(`v${i}`) };
}

export interface RequestSpec {
  client?: Ed25519Keypair;
  chainId?: string;
  sequence?: bigint;
  expiry?: bigint;
  command?: Command | Uint8Array;
}

export function request(spec: RequestSpec = {}): Uint8Array {
  const kp = spec.client ?? client(0);
  const cmd = spec.command ?? put(Number(spec.sequence ?? 0n));
  return signRequest(
    {
      chainId: spec.chainId ?? CHAIN,
      sequence: spec.sequence ?? 0n,
      expiry: spec.expiry ?? 1000n,
      command: cmd instanceof Uint8Array ? cmd : encodeCommand(cmd),
    },
    kp.secretKey,
  );
}
