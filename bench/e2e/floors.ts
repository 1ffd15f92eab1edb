/**
 * Floors measured in the same run as the end-to-end point, so they share its machine state:
 *
 *  - validation ceiling: cores x single-core ed25519 verifications/s (sodium, the fastest backend
 *    the project ships) / n, the yardstick (each replica checks every request once);
 *  - crypto floor: the per-block cryptography alone, cluster-wide (n vote signatures, the
 *    leader's q vote checks and QC aggregation, n QC verifications, and n ed25519 checks per
 *    command unless the run is unsigned), turned into commands/s on `cores` cores for blocks of
 *    `batch` commands and, once the run has measured it, for the blocks it actually committed
 *    (cryptoFloorAt); multisig and threshold QCs measured side by side at the certificate level;
 *  - messaging floor: n libp2p hosts in this process (TCP, noise, yamux as the node configures
 *    them) carrying one round's traffic as the runtime sends it and no consensus: each host
 *    relays its share of the block's requests in one frame to each other host (the `requests`
 *    channel), the leader sends a compact proposal (a tag and a 32-byte id per request) to each follower,
 *    and the followers send a vote back; and, for comparison, the whole block's bytes on direct
 *    streams with no relay.
 * Every loop is bounded in time and count.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { type BlsBackendName, blsBackend, generateBlsKeyPair } from '../../crypto/bls/index.js';
import { ed25519Backend, ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { dealThresholdKeys, MultisigQcScheme, type QcKind, type QcScheme, ThresholdQcScheme, ValidatorSet } from '../../crypto/qc/index.js';
import { createNetworkHost, type NetworkHost } from '../../network/host.js';
import { REQUEST_OVERHEAD_BYTES } from '../../protocol/request.js';
import { batchBytes } from '../../protocol/request-batch.js';
import { measure, significant } from '../harness.js';

const round = (v: number, digits = 4) => significant(v, digits);

/** A request in a compact proposal: a tag byte and its 32-byte id (node/runtime/compact-proposals.ts). */
export const COMPACT_REF_BYTES = 33;

export interface CryptoFloor {
  readonly ed25519VerifyUs: number;
  readonly blsSignUs: number;
  readonly blsVerifyBatchPerVoteUs: number;
  readonly qcBuildUs: number;
  readonly qcVerifyUs: number;
  /** Cluster CPU per block of `batch` commands for the crypto alone (microseconds). */
  readonly perBlockUs: number;
  /** Of it, what a block costs whatever it carries: votes and QCs (microseconds). */
  readonly blsPerBlockUs: number;
  /** And what each command adds: n signature checks, 0 when the run is unsigned (microseconds). */
  readonly perCommandUs: number;
  /** commands/s if the cluster's cores did nothing but this crypto, with full blocks. */
  readonly commandsPerSec: number;
  readonly cores: number;
  readonly qcSchemes: { readonly multisig: { buildUs: number; verifyUs: number }; readonly threshold: { buildUs: number; verifyUs: number } };
}

export interface ValidationCeiling {
  readonly cores: number;
  readonly ed25519VerifiesPerSecSingleCore: number;
  readonly backend: 'sodium';
  readonly commandsPerSec: number;
}

export function measureValidationCeiling(n: number, quick: boolean): ValidationCeiling {
  const ed = ed25519Backend('sodium');
  const key = ed25519KeypairFromSeed(randomBytes(32));
  // A request's signed message: the domain prefix plus the body, about 128 + 130 bytes.
  const message = randomBytes(128 + REQUEST_OVERHEAD_BYTES);
  const sig = ed.sign(key.secretKey, message);
  const m = measure(() => ed.verify(key.publicKey, message, sig), { minMs: quick ? 150 : 500, minIterations: 50 });
  const perSec = 1000 / m.msPerOp;
  const cores = availableParallelism();
  return { cores, ed25519VerifiesPerSecSingleCore: round(perSec), backend: 'sodium', commandsPerSec: round((cores * perSec) / n) };
}

function qcCost(scheme: QcScheme, shares: Uint8Array[], digest: Uint8Array, quick: boolean): { buildUs: number; verifyUs: number; qc: ReturnType<QcScheme['newAggregator']>['certificate'] } {
  const o = { minMs: quick ? 40 : 150, minIterations: 3 };
  const build = () => {
    const agg = scheme.newAggregator(digest);
    for (let i = 0; i < scheme.quorum; i++) agg.add(i, shares[i]!);
    return agg.certificate;
  };
  const qc = build();
  if (!qc) throw new Error(`${scheme.kind}: no QC formed`);
  const b = measure(build, o);
  const v = measure(() => scheme.verify(qc), o);
  return { buildUs: round(b.msPerOp * 1000), verifyUs: round(v.msPerOp * 1000), qc };
}

/** `qc` picks which scheme's build and verify costs enter the per-block figure; both are reported. */
export function measureCryptoFloor(n: number, batch: number, blsName: BlsBackendName, quick: boolean, qc: QcKind = 'multisig', unsigned = false): CryptoFloor {
  const bls = blsBackend(blsName);
  const digest = randomBytes(32);
  const pairs = Array.from({ length: n }, () => generateBlsKeyPair(bls));
  const set = ValidatorSet.loadWithoutProofsOfPossession(
    bls,
    pairs.map((p) => p.publicKey.bytes),
  );
  const o = { minMs: quick ? 40 : 150, minIterations: 3 };
  // Each replica hashes a block's vote digest once, to sign it (a fresh backend: no memo); the
  // QC checks below reuse that hash, as in a replica, where noble memoises it.
  const sign = measure(() => blsBackend(blsName).sign(pairs[0]!.secretKey, digest), o);
  const sigs = pairs.map((p) => bls.sign(p.secretKey, digest));
  const q = set.quorum;
  const votes = Array.from({ length: q }, (_, i) => ({ publicKey: pairs[i]!.publicKey, message: digest, signature: sigs[i]! }));
  const batchVerify = measure(() => bls.verifyBatch(votes), o);
  const multisig = qcCost(new MultisigQcScheme(set), sigs.map((s) => s.bytes), digest, quick);
  const deal = dealThresholdKeys(n);
  const threshold = new ThresholdQcScheme(bls, deal.setup);
  const partials = deal.shares.map((s) => threshold.signShare(bls.secretKeyFromBytes(s), digest));
  const thr = qcCost(threshold, partials, digest, quick);
  const ceiling = measureValidationCeiling(n, quick);
  const edUs = 1e6 / ceiling.ed25519VerifiesPerSecSingleCore;
  const signUs = sign.msPerOp * 1000;
  const chosen = qc === 'threshold' ? thr : multisig;
  const blsPerBlockUs = n * signUs + batchVerify.msPerOp * 1000 + chosen.buildUs + n * chosen.verifyUs;
  const perCommandUs = unsigned ? 0 : n * edUs;
  const perBlockUs = blsPerBlockUs + batch * perCommandUs;
  return {
    ed25519VerifyUs: round(edUs),
    blsSignUs: round(signUs),
    blsVerifyBatchPerVoteUs: round((batchVerify.msPerOp * 1000) / q),
    qcBuildUs: chosen.buildUs,
    qcVerifyUs: chosen.verifyUs,
    perBlockUs: round(perBlockUs),
    blsPerBlockUs: round(blsPerBlockUs),
    perCommandUs: round(perCommandUs),
    commandsPerSec: round((ceiling.cores * batch * 1e6) / perBlockUs),
    cores: ceiling.cores,
    qcSchemes: { multisig: { buildUs: multisig.buildUs, verifyUs: multisig.verifyUs }, threshold: { buildUs: thr.buildUs, verifyUs: thr.verifyUs } },
  };
}

/**
 * The crypto floor for blocks of `commandsPerBlock` commands (what a run committed on average,
 * often well below its batch limit): the per-block certificate work spread over fewer commands.
 */
export function cryptoFloorAt(floor: CryptoFloor, commandsPerBlock: number): number {
  if (!(commandsPerBlock > 0)) return 0;
  return round((floor.cores * 1e6) / (floor.blsPerBlockUs / commandsPerBlock + floor.perCommandUs));
}

export interface MessagingFloor {
  /**
   * Blocks/s and commands/s with the runtime's traffic: the requests relayed in one frame per
   * host and peer, a compact proposal, votes back (what fractionOfMessagingFloor divides by).
   */
  readonly relayBlocksPerSec: number;
  readonly relayCommandsPerSec: number;
  /** Bytes each round puts on the wire (frame payloads), and per command: compare with the run's wireBytesPerCommand. */
  readonly relayBytesPerRound: number;
  readonly relayBytesPerCommand: number;
  /** The whole block on a direct stream to each of n-1 peers, votes back, no relay. */
  readonly streamBlocksPerSec: number;
  readonly streamCommandsPerSec: number;
  readonly blockBytes: number;
  /** All n hosts share this one thread: the floor is for one core, the cluster had `cores`. */
  readonly threads: 1;
}

async function hosts(n: number, basePort: number): Promise<NetworkHost[]> {
  const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')));
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
  const addrs = ids.map((_, i) => `/ip4/127.0.0.1/tcp/${basePort + i}`);
  const out: NetworkHost[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await createNetworkHost({
        chainId: 'vsmr-floor',
        privateKey: keys[i]!,
        listen: [addrs[i]!],
        peers: ids.map((p, j) => ({ peerId: p, multiaddr: addrs[j]! })).filter((_, j) => j !== i),
        allowedPeers: new Set(ids),
      }),
    );
  }
  return out;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const by = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > by) throw new Error(`messaging floor: ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Rounds of one block each, one at a time (the protocol's fast path is one block per round). */
async function rounds(durationMs: number, maxRounds: number, one: (r: number) => Promise<void>): Promise<number> {
  const start = performance.now();
  let done = 0;
  while (performance.now() - start < durationMs && done < maxRounds) {
    await one(done);
    done++;
  }
  return done / ((performance.now() - start) / 1000);
}

export async function measureMessagingFloor(n: number, batch: number, commandBytes: number, durationMs: number): Promise<MessagingFloor> {
  const requestBytes = commandBytes + 2 + 'vsmr-floor'.length + 32 + 8 + 8 + 2 + 64;
  const blockBytes = batch * requestBytes + 400;
  const net = await hosts(n, 20_000 + Math.floor(Math.random() * 11_000));
  try {
    await waitFor(() => net.every((h) => h.peers().length >= n - 1), 20_000, 'hosts did not connect');
    const leader = net[0]!;
    const followers = net.slice(1);
    let proposals = 0;
    let votes = 0;
    // Event-driven waits: polling on a timer would cap the floor at the timer's rate.
    let waiter: { cond: () => boolean; resolve: () => void } | undefined;
    const bump = () => {
      if (waiter?.cond()) {
        const w = waiter;
        waiter = undefined;
        w.resolve();
      }
    };
    const until = (cond: () => boolean, what: string) =>
      cond()
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`messaging floor: ${what} within 10 s`)), 10_000);
            waiter = {
              cond,
              resolve: () => {
                clearTimeout(t);
                resolve();
              },
            };
          });
    let relayed = 0;
    for (const h of net) {
      h.handle('requests', async () => {
        relayed++;
        bump();
        return undefined;
      });
    }
    for (const f of followers) {
      f.handle('consensus', async () => {
        proposals++;
        bump();
        return undefined;
      });
    }
    leader.handle('vote', async () => {
      votes++;
      bump();
      return undefined;
    });
    const vote = randomBytes(200);
    const leaderId = leader.peerId;
    // Each host admitted its clients' share of the block's requests (the first `batch % n` one
    // more) and relays it in one frame; a host with none sends nothing.
    const shares = Array.from({ length: n }, (_, i) => Math.floor(batch / n) + (i < batch % n ? 1 : 0));
    const frameBytes = (share: number) => batchBytes(share * requestBytes, share);
    const senders = shares.filter((k) => k > 0).length;
    const compactBytes = 400 + COMPACT_REF_BYTES * batch;
    const oneRound = async (runtimeShaped: boolean) => {
      const wantProposals = proposals + followers.length;
      const wantVotes = votes + followers.length;
      const wantRelayed = relayed + (runtimeShaped ? senders * (n - 1) : 0);
      if (runtimeShaped) {
        const proposal = randomBytes(compactBytes);
        await Promise.all([
          ...net.map((h, i) => {
            if (shares[i] === 0) return Promise.resolve([]);
            const frame = randomBytes(frameBytes(shares[i]!));
            return Promise.all(net.filter((o) => o !== h).map((o) => h.send(o.peerId, 'requests', frame)));
          }),
          ...followers.map((f) => leader.send(f.peerId, 'consensus', proposal)),
        ]);
      } else {
        const block = randomBytes(blockBytes);
        await Promise.all(followers.map((f) => leader.send(f.peerId, 'consensus', block)));
      }
      await until(() => proposals >= wantProposals && relayed >= wantRelayed, 'a proposal or a relay frame was not delivered');
      await Promise.all(followers.map((f) => f.send(leaderId, 'vote', vote)));
      await until(() => votes >= wantVotes, 'votes were not delivered');
    };
    const stream = await rounds(durationMs / 2, 10_000, () => oneRound(false));
    const relay = await rounds(durationMs / 2, 10_000, () => oneRound(true));
    const relayBytesPerRound = shares.reduce((a, k) => a + (k > 0 ? (n - 1) * frameBytes(k) : 0), 0) + (n - 1) * (compactBytes + vote.length);
    return {
      relayBlocksPerSec: round(relay),
      relayCommandsPerSec: round(relay * batch),
      relayBytesPerRound,
      relayBytesPerCommand: round(relayBytesPerRound / batch),
      streamBlocksPerSec: round(stream),
      streamCommandsPerSec: round(stream * batch),
      blockBytes,
      threads: 1,
    };
  } finally {
    await Promise.all(net.map((h) => h.stop().catch(() => undefined)));
  }
}
