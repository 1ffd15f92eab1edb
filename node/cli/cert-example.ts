/**
 * The worked example of docs/CERTIFICATE.md, computed by the real code: four validators with
 * fixed keys, one block of three signed requests, the block after it carrying its executed
 * state, a QC by validators 0, 1 and 2, and a proof bundle with a log entry and a state proof.
 * Everything is deterministic (fixed seeds; BLS and ed25519 signing are deterministic), so the
 * document's hex can be regenerated (`vsmr client example`) and a test checks it has not gone
 * stale.
 */
import { blsBackend } from '../../crypto/bls/index.js';
import { generateBlsKeyPair, popMessage, popProve } from '../../crypto/bls/keys.js';
import type { BlsBackend, BlsSecretKey } from '../../crypto/bls/types.js';
import { toHex } from '../../crypto/bytes.js';
import { ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { DOMAIN_TAGS, domainPrefix, sha256 } from '../../crypto/hash.js';
import { merkleLeafHash } from '../../crypto/merkle.js';
import { encodeQc } from '../../crypto/qc/codec.js';
import { MultisigQcScheme } from '../../crypto/qc/multisig.js';
import { ValidatorSet } from '../../crypto/qc/validator-set.js';
import { blockHeader, genesisQc, headerVoteData, makeBlock, payloadHash } from '../../protocol/block.js';
import { bundleToJson, makeBundle, type ProofBundle } from '../../protocol/bundle.js';
import { encodeCommand } from '../../protocol/command.js';
import { encodeLogEntry, logLeafData } from '../../protocol/log-proof.js';
import { decodeRequest, signRequest } from '../../protocol/request.js';
import { encodeStateProof, pathBit, StateHasher, stateRootOf } from '../../protocol/state-proof.js';
import { type Block, encodeExecutedState, encodeVoteData, type QuorumCert, type VoteData, voteDigest } from '../../protocol/types.js';
import { applicationInputs } from '../app/block-inputs.js';
import { KvApplication } from '../app/kv-app.js';
import { kvStateKey } from '../app/state-keys.js';

export const EXAMPLE_CHAIN_ID = 'vsmr-example';
export const EXAMPLE_N = 4;

export interface CertificateExample {
  readonly chainId: string;
  readonly backend: BlsBackend;
  readonly validatorSet: ValidatorSet;
  readonly secretKeys: readonly BlsSecretKey[];
  readonly publicKeys: readonly Uint8Array[];
  readonly proofsOfPossession: readonly Uint8Array[];
  readonly requests: readonly Uint8Array[];
  readonly block1: Block;
  readonly qc1: QuorumCert;
  readonly block2: Block;
  readonly qc2: QuorumCert;
  readonly app: KvApplication;
  /** Bundle: header of block 2 + QC, log entry at position 1, KV key "b". */
  readonly bundle: ProofBundle;
  /** Bundle proving that KV key "zz" is absent. */
  readonly absentBundle: ProofBundle;
}

/** Signs `vote` with the given validators and aggregates a multisig QC. */
export function certify(chainId: string, scheme: MultisigQcScheme, keys: readonly BlsSecretKey[], signers: readonly number[], vote: VoteData): QuorumCert {
  const digest = voteDigest(chainId, vote);
  const agg = scheme.newAggregator(digest);
  for (const i of signers) agg.add(i, scheme.signShare(keys[i]!, digest));
  const cert = agg.certificate;
  if (!cert) throw new Error('not enough signers for a QC');
  return { vote, certificate: encodeQc(cert) };
}

export function voteOf(block: Block): VoteData {
  return { blockId: block.id, round: block.round, height: block.height, parentId: block.parentQc.vote.blockId, parentRound: block.parentQc.vote.round };
}

export function buildCertificateExample(backend: BlsBackend = blsBackend('blst'), chainId = EXAMPLE_CHAIN_ID): CertificateExample {
  const pairs = Array.from({ length: EXAMPLE_N }, (_, i) => generateBlsKeyPair(backend, new Uint8Array(32).fill(i + 1)));
  const publicKeys = pairs.map((p) => p.publicKey.bytes);
  const proofsOfPossession = pairs.map((p) => popProve(backend, p.secretKey).bytes);
  const validatorSet = ValidatorSet.load(
    backend,
    publicKeys.map((publicKey, i) => ({ publicKey, proofOfPossession: proofsOfPossession[i]! })),
  );
  const scheme = new MultisigQcScheme(validatorSet);
  const secretKeys = pairs.map((p) => p.secretKey);

  const client = ed25519KeypairFromSeed(new Uint8Array(32).fill(7));
  const enc = new TextEncoder();
  const commands = [
    { type: 'put' as const, key: enc.encode('a'), value: enc.encode('apple') },
    { type: 'put' as const, key: enc.encode('b'), value: enc.encode('banana') },
    { type: 'put' as const, key: enc.encode('c'), value: enc.encode('cherry') },
  ];
  const requests = commands.map((c, k) =>
    signRequest({ chainId, sequence: BigInt(k), expiry: 1000n, command: encodeCommand(c) }, client.secretKey),
  );

  const app = new KvApplication({ chainId });
  const block1 = makeBlock(chainId, { round: 1, height: 1, parentQc: genesisQc(chainId), author: 1, payload: requests });
  const qc1 = certify(chainId, scheme, secretKeys, [0, 1, 2], voteOf(block1));
  const { commands: applied, origins } = applicationInputs(block1.payload);
  const outcome = app.applyBlock(applied, origins);
  const executed = { height: 1, blockId: block1.id, stateRoot: outcome.stateRoot, logRoot: outcome.logRoot };
  const block2 = makeBlock(chainId, { round: 2, height: 2, parentQc: qc1, author: 2, payload: [], executed });
  const qc2 = certify(chainId, scheme, secretKeys, [0, 1, 2], voteOf(block2));

  const { entry, proof } = app.proveLogEntry(1);
  const bundle = makeBundle(chainId, block2, qc2, {
    height: 1,
    log: { entry, proof },
    state: { key: kvStateKey(enc.encode('b')), value: enc.encode('banana'), proof: app.proveKey(enc.encode('b')) },
  });
  const absentBundle = makeBundle(chainId, block2, qc2, {
    height: 1,
    state: { key: kvStateKey(enc.encode('zz')), value: null, proof: app.proveKey(enc.encode('zz')) },
  });
  return { chainId, backend, validatorSet, secretKeys, publicKeys, proofsOfPossession, requests, block1, qc1, block2, qc2, app, bundle, absentBundle };
}

/** Splits long hex into 64-character lines so the document stays readable. */
function wrap(hex: string): string {
  const body = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (body.length <= 64) return hex;
  const lines: string[] = [];
  for (let i = 0; i < body.length; i += 64) lines.push(body.slice(i, i + 64));
  return `0x${lines.join('\n  ')}`;
}

/** The example as the Markdown block pasted into docs/CERTIFICATE.md (between its markers). */
export function renderCertificateExample(ex: CertificateExample = buildCertificateExample()): string {
  const out: string[] = [];
  const line = (label: string, value: string) => out.push(`${label}:\n  ${wrap(value)}`);
  const chainId = ex.chainId;
  out.push(`chain id: ${chainId}`);
  line('domainPrefix("vsmr/vote/v1", chain id)', toHex(domainPrefix(DOMAIN_TAGS.vote, chainId)));
  line('validator 0 BLS public key (KeyGen from 32 bytes of 0x01)', toHex(ex.publicKeys[0]!));
  line('validator 0 PoP message', toHex(popMessage(ex.publicKeys[0]!)));
  line('validator 0 proof of possession', toHex(ex.proofsOfPossession[0]!));
  for (let i = 1; i < EXAMPLE_N; i++) line(`validator ${i} BLS public key (KeyGen from 32 bytes of 0x0${i + 1})`, toHex(ex.publicKeys[i]!));
  const b1 = ex.block1;
  const cmd1 = decodeRequest(ex.requests[1]!).command;
  line('block 1 request 1 (put "b" = "banana", client seed 32 bytes of 0x07, sequence 1, expiry 1000)', toHex(ex.requests[1]!));
  line('block 1 request 1 command', toHex(cmd1));
  line('block 1 payload hash', toHex(payloadHash(b1.payload)));
  line('block 1 id', toHex(b1.id));
  line('block 1 vote data (encodeVoteData)', toHex(encodeVoteData(ex.qc1.vote)));
  line('block 1 QC (signers 0, 1, 2)', toHex(ex.qc1.certificate));
  const h2 = blockHeader(chainId, ex.block2);
  line('block 2 executed state (encodeExecutedState)', toHex(encodeExecutedState(h2.executed)));
  line('block 2 parent certificate hash = SHA-256(block 1 QC)', toHex(h2.parentCertificateHash));
  line('block 2 payload hash (empty payload)', toHex(h2.payloadHash));
  line('block 2 id', toHex(ex.block2.id));
  const vote2 = headerVoteData(chainId, h2);
  line('block 2 vote data', toHex(encodeVoteData(vote2)));
  line('block 2 vote digest = SHA-256(prefix || vote data)', toHex(voteDigest(chainId, vote2)));
  line('block 2 QC (signers 0, 1, 2)', toHex(ex.qc2.certificate));
  const entry = ex.app.logEntry(1);
  line('log entry 1 (encodeLogEntry: position, request id, result)', toHex(encodeLogEntry(entry)));
  line('log entry 1 leaf data', toHex(logLeafData(chainId, entry)));
  line('log entry 1 leaf hash = SHA-256(0x00 || leaf data)', toHex(merkleLeafHash(logLeafData(chainId, entry))));
  line('log root (3 entries)', toHex(ex.app.logRoot()));
  const key = kvStateKey(new TextEncoder().encode('b'));
  line('state key of KV key "b"', toHex(key));
  const hasher = new StateHasher(chainId);
  const keyHash = hasher.keyHash(key);
  line('state key hash = SHA-256(state key): its path, most significant bit first', toHex(keyHash));
  line('value hash = SHA-256("banana")', toHex(hasher.valueHash(new TextEncoder().encode('banana'))));
  line('leaf hash = taggedHash(state, 0x00 || key hash || value hash)', toHex(hasher.leaf(keyHash, hasher.valueHash(new TextEncoder().encode('banana')))));
  const proof = ex.app.proveKey(new TextEncoder().encode('b'));
  line(`state tree root (sparse Merkle tree of ${proof.treeSize} leaves: three keys and the client's replay record)`, toHex(proof.treeRoot));
  line(`state root = taggedHash(state, 0x02 || u128 ${proof.treeSize} || tree root)`, toHex(stateRootOf(chainId, proof.treeSize, proof.treeRoot)));
  const bits = Array.from({ length: proof.siblings.length }, (_, d) => pathBit(keyHash, d)).join('');
  out.push(`state proof of "b": ${proof.terminal.kind} terminal at depth ${proof.siblings.length}, path bits (depth 0 first) ${bits}`);
  line('state proof of "b" (canonical encoding)', toHex(encodeStateProof(proof)));
  line('SHA-256 of the bundle JSON below', toHex(sha256(new TextEncoder().encode(bundleToJson(ex.bundle)))));
  out.push(`bundle (vsmr client verify accepts it with the genesis of these four keys):\n${bundleToJson(ex.bundle).trimEnd()}`);
  return `${out.join('\n')}\n`;
}
