import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KvApplication } from '../../node/app/kv-app.js';
import { SnapshotDecodeError, decodeSnapshot } from '../../node/app/snapshot.js';
import {
  decodeBlock,
  decodeExecutedStateRecord,
  decodeInlineTip,
  decodeLedgerMeta,
  decodeQuorumCert,
  decodeSafetyState,
  decodeStoreMeta,
  decodeTipRecord,
  encodeBlock,
  encodeExecutedStateRecord,
  encodeInlineTip,
  encodeLedgerMeta,
  encodeQuorumCert,
  encodeStoreMeta,
  encodeSafetyState,
  encodeTipRecord,
  openDecoded,
  sealValue,
  StorageCorruptionError,
  ValueKind,
} from '../../node/storage/codec.js';
import { decodeMessage, encodeMessage, WireDecodeError } from '../../network/codec.js';
import { CommandDecodeError, decodeCommand, encodeCommand } from '../../protocol/command.js';
import { ConfigError } from '../../protocol/config-error.js';
import { parseGenesis } from '../../protocol/genesis.js';
import { decodeRequest, RequestDecodeError } from '../../protocol/request.js';
import { decodeStateProof, encodeStateProof, StateProofError } from '../../protocol/state-proof.js';
import { validGenesisJson } from '../node/config/fixtures.js';
import { chain, CHAIN_ID, executedFor, qcFor, votedFor } from '../node/storage/fixtures.js';
import { put, request } from '../validation/fixtures.js';
import { mutateBytes } from './mutate.js';

/**
 * Every decoder of bytes that come from outside (peers, clients, files, disk) against random
 * and mutated input: it either returns a value or throws its module's typed error, never
 * anything else (a TypeError or RangeError from deep inside would crash a handler).
 */

const RUNS = 300;

function expectTyped<T>(decode: (b: Uint8Array) => T, errorType: abstract new (...args: never[]) => Error, bytes: Uint8Array): void {
  try {
    decode(bytes);
  } catch (err) {
    if (!(err instanceof errorType)) assert.fail(`${errorType.name} expected, got ${(err as Error)?.constructor?.name}: ${String(err)}`);
  }
}

/** Random bytes, and mutations (flips, truncations, insertions, splices) of valid encodings. */
function fuzz<T>(name: string, decode: (b: Uint8Array) => T, errorType: abstract new (...args: never[]) => Error, valid: readonly Uint8Array[]): void {
  it(`${name}: random bytes give a value or ${errorType.name}`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => expectTyped(decode, errorType, b)),
      { numRuns: RUNS },
    );
  });
  it(`${name}: mutated valid encodings give a value or ${errorType.name}`, () => {
    for (const v of valid) decode(v);
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (v, seed) => expectTyped(decode, errorType, mutateBytes(v, seed))),
      { numRuns: RUNS },
    );
  });
}

const blocks = chain(CHAIN_ID, 3);

describe('fuzz: network/codec decodeMessage', () => {
  const b = blocks[2]!;
  const valid = [
    encodeMessage({ type: 'proposal', block: b }),
    encodeMessage({ type: 'vote', vote: { vote: qcFor(b).vote, signer: 1, signature: new Uint8Array(96).fill(7) } }),
    encodeMessage({ type: 'timeout', timeout: { round: 9, highQcRound: b.round, signer: 2, signature: new Uint8Array(96) }, highQc: qcFor(b) }),
    encodeMessage({ type: 'sync-request', fromHeight: 3 }),
    encodeMessage({ type: 'sync-response', blocks, highQc: qcFor(b) }),
  ];
  fuzz('decodeMessage', decodeMessage, WireDecodeError, valid);
});

describe('fuzz: protocol decoders', () => {
  fuzz('decodeRequest', decodeRequest, RequestDecodeError, [request(), request({ sequence: 5n }), request({ command: new Uint8Array(300).fill(1) })]);
  fuzz('decodeCommand', decodeCommand, CommandDecodeError, [
    encodeCommand(put(1)),
    encodeCommand({ type: 'transfer', from: new Uint8Array([1]), to: new Uint8Array([2]), amount: 5n }),
    encodeCommand({ type: 'cas', key: new Uint8Array([1]), expected: null, value: new Uint8Array([3]) }),
    encodeCommand({ type: 'mint', account: new Uint8Array([9]), amount: 1n }),
    encodeCommand({ type: 'delete', key: new Uint8Array([4]) }),
  ]);
  const app = new KvApplication({ chainId: CHAIN_ID });
  app.applyBlock([encodeCommand(put(1)), encodeCommand(put(2)), encodeCommand(put(3))]);
  const proofs = [app.proveKey(put(1).type === 'put' ? (put(1) as { key: Uint8Array }).key : new Uint8Array()), app.proveKey(new Uint8Array([0xee]))];
  fuzz('decodeStateProof', decodeStateProof, StateProofError, proofs.map(encodeStateProof));
});

describe('fuzz: node decoders', () => {
  const app = new KvApplication({ chainId: CHAIN_ID });
  app.applyBlock([encodeCommand(put(1)), encodeCommand(put(2))]);
  fuzz('decodeSnapshot', (b) => decodeSnapshot(b, CHAIN_ID), SnapshotDecodeError, [app.snapshot(), new KvApplication({ chainId: CHAIN_ID }).snapshot()]);

  const key = new Uint8Array([0, 0, 0, 1]);
  const open =
    <T>(kind: number, decode: (body: Uint8Array) => T) =>
    (stored: Uint8Array): T =>
      openDecoded('t', key, 'k', kind as ValueKind, stored, decode);
  const sealed = (kind: number, body: Uint8Array): Uint8Array => sealValue('t', key, kind as ValueKind, body);
  const b = blocks[1]!;
  // Sealed values: corruption of the envelope or checksum.
  fuzz('storage: sealed block', open(ValueKind.block, decodeBlock), StorageCorruptionError, [sealed(ValueKind.block, encodeBlock(b))]);
  // Bodies resealed after mutation: the checksum passes, so the body decoders see the damage.
  const bodies: [string, number, (x: Uint8Array) => unknown, Uint8Array][] = [
    ['block', ValueKind.block, decodeBlock, encodeBlock(b)],
    ['quorum cert', ValueKind.quorumCert, decodeQuorumCert, encodeQuorumCert(qcFor(b))],
    ['safety state', ValueKind.safetyState, decodeSafetyState, encodeSafetyState(votedFor(b))],
    ['executed state', ValueKind.executedState, decodeExecutedStateRecord, encodeExecutedStateRecord(executedFor(b))],
    ['tip record', ValueKind.tipRecord, decodeTipRecord, encodeTipRecord({ highQc: qcFor(blocks[2]!), blockIds: blocks.slice(1, 3).map((x) => x.id) })],
    ['inline tip', ValueKind.certifiedTip, decodeInlineTip, encodeInlineTip({ highQc: qcFor(blocks[2]!), blocks: blocks.slice(1, 3) })],
  ];
  for (const [name, kind, decode, body] of bodies) {
    fuzz(`storage: ${name} body`, (x) => open(kind, decode)(sealed(kind, x)), StorageCorruptionError, [body]);
  }
  fuzz('storage: store meta body', (x) => open(ValueKind.meta, decodeStoreMeta)(sealed(ValueKind.meta, x)), StorageCorruptionError, [encodeStoreMeta({ chainId: CHAIN_ID })]);
  fuzz('storage: ledger meta body', (x) => open(ValueKind.ledger, decodeLedgerMeta)(sealed(ValueKind.ledger, x)), StorageCorruptionError, [encodeLedgerMeta({ committedHeight: 9, lowestBlockHeight: 3 })]);
});

describe('fuzz: genesis parsing', function () {
  this.timeout(60_000);

  it('mutated genesis JSON text gives a genesis or a ConfigError', async () => {
    const text = JSON.stringify(await validGenesisJson(4));
    parseGenesis(text);
    const bytes = new TextEncoder().encode(text);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const mutated = new TextDecoder().decode(mutateBytes(bytes, seed));
        try {
          parseGenesis(mutated);
        } catch (err) {
          if (!(err instanceof ConfigError)) assert.fail(`ConfigError expected, got ${String(err)}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('structurally mutated genesis values (wrong types, missing and extra fields) parse or give a ConfigError, nothing else', async () => {
    const base = await validGenesisJson(4);
    const junk = fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.integer(), { maxLength: 3 }), fc.constant({}), fc.double(), fc.boolean());
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(base)), junk, fc.boolean(), (field, value, remove) => {
        const copy: Record<string, unknown> = structuredClone(base);
        if (remove) delete copy[field];
        else copy[field] = value;
        // A mutation can land on a valid value (chainId "!" is a legal chain id), so the
        // property is: parsed, or refused with a ConfigError, never any other failure; and a
        // chain id that is not a string is always refused.
        let thrown: unknown;
        try {
          parseGenesis(copy);
        } catch (err) {
          thrown = err;
        }
        if (thrown !== undefined) assert.ok(thrown instanceof ConfigError, `not a ConfigError: ${String(thrown)}`);
        if (field === 'chainId' && (remove || typeof value !== 'string')) assert.ok(thrown instanceof ConfigError, 'a bad chainId was accepted');
      }),
      { numRuns: 100 },
    );
  });
});
