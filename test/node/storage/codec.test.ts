import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes } from '../../../crypto/bytes.js';
import { INITIAL_SAFETY_STATE } from '../../../node/consensus/safety-rules.js';
import {
  decodeBlock,
  decodeInlineTip,
  decodeTipRecord,
  encodeInlineTip,
  encodeTipRecord,
  decodeExecutedStateRecord,
  decodeQuorumCert,
  decodeSafetyState,
  encodeBlock,
  encodeExecutedStateRecord,
  encodeQuorumCert,
  encodeSafetyState,
  heightFromKey,
  heightKey,
  openDecoded,
  openValue,
  StorageCorruptionError,
  sealValue,
  ValueKind,
} from '../../../node/storage/codec.js';
import { CHAIN_ID, chain, executedFor, qcFor, votedFor } from './fixtures.js';

const KEY = heightKey(7);

function corrupt(fn: () => unknown, table = 'blocks', key = '7'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StorageCorruptionError, `expected StorageCorruptionError, got ${String(err)}`);
    assert.equal(err.table, table);
    assert.equal(err.key, key);
    assert.match(err.message, new RegExp(`table '${table}' at key '${key}'`));
    return true;
  });
}

describe('storage/codec', () => {
  const blocks = chain(CHAIN_ID, 6);

  it('round-trips blocks, QCs, executed states and safety states', () => {
    for (const b of blocks) {
      assert.deepEqual(decodeBlock(encodeBlock(b)), b);
      assert.deepEqual(decodeQuorumCert(encodeQuorumCert(qcFor(b))), qcFor(b));
      assert.deepEqual(decodeExecutedStateRecord(encodeExecutedStateRecord(executedFor(b))), executedFor(b));
      assert.deepEqual(decodeSafetyState(encodeSafetyState(votedFor(b))), votedFor(b));
    }
    assert.deepEqual(decodeSafetyState(encodeSafetyState(INITIAL_SAFETY_STATE)), INITIAL_SAFETY_STATE);
  });

  it('round-trips the certified tip, with and without a TC, and refuses a truncated or padded one', () => {
    const tc = {
      round: 9,
      signers: Uint8Array.of(0b1011),
      highQcRounds: [4, 5, 3],
      highestQc: qcFor(blocks[4]!),
      certificate: new Uint8Array(96).fill(3),
    };
    for (const tip of [{ blockIds: blocks.slice(3, 5).map((b) => b.id), highQc: qcFor(blocks[4]!) }, { blockIds: [], highQc: qcFor(blocks[1]!), highTc: tc }]) {
      const body = encodeTipRecord(tip);
      assert.deepEqual(decodeTipRecord(body), tip);
      for (const bad of [body.subarray(0, body.length - 1), concatBytes(body, Uint8Array.of(0))]) {
        corrupt(() => openDecoded('meta', KEY, '7', ValueKind.tipRecord, sealValue('meta', KEY, ValueKind.tipRecord, bad), decodeTipRecord), 'meta');
      }
    }
    // The layout the first builds of format 4 wrote, blocks inline: still read.
    for (const tip of [{ blocks: blocks.slice(3, 5), highQc: qcFor(blocks[4]!) }, { blocks: [], highQc: qcFor(blocks[1]!), highTc: tc }]) {
      const body = encodeInlineTip(tip);
      assert.deepEqual(decodeInlineTip(body), tip);
      for (const bad of [body.subarray(0, body.length - 1), concatBytes(body, Uint8Array.of(0))]) {
        corrupt(() => openDecoded('meta', KEY, '7', ValueKind.certifiedTip, sealValue('meta', KEY, ValueKind.certifiedTip, bad), decodeInlineTip), 'meta');
      }
    }
  });

  it('refuses to encode a tip it could not read back', () => {
    assert.throws(() => encodeTipRecord({ blockIds: Array.from({ length: 1025 }, () => blocks[0]!.id), highQc: qcFor(blocks[0]!) }), RangeError);
    assert.throws(() => encodeTipRecord({ blockIds: [new Uint8Array(31)], highQc: qcFor(blocks[0]!) }), RangeError);
  });

  it('round-trips arbitrary payloads through a sealed envelope', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), fc.nat({ max: 2 ** 40 }), (payload, round) => {
        const b = { ...blocks[2]!, payload, round };
        const sealed = sealValue('blocks', KEY, ValueKind.block, encodeBlock(b));
        assert.deepEqual(openDecoded('blocks', KEY, '7', ValueKind.block, sealed, decodeBlock), b);
      }),
    );
  });

  it('heights keys sort numerically and round-trip', () => {
    assert.equal(heightFromKey(heightKey(2 ** 40 + 3)), 2 ** 40 + 3);
    assert.ok(Buffer.compare(heightKey(255), heightKey(256)) < 0);
    assert.throws(() => heightKey(-1), RangeError);
  });

  it('any flipped bit of a sealed value is corruption, never data', () => {
    const sealed = sealValue('blocks', KEY, ValueKind.block, encodeBlock(blocks[3]!));
    fc.assert(
      fc.property(fc.nat({ max: sealed.length - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const bad = sealed.slice();
        bad[at]! ^= 1 << bit;
        corrupt(() => openDecoded('blocks', KEY, '7', ValueKind.block, bad, decodeBlock));
      }),
    );
  });

  it('truncated, garbage and empty values are corruption', () => {
    const sealed = sealValue('blocks', KEY, ValueKind.block, encodeBlock(blocks[1]!));
    for (const bad of [sealed.subarray(0, sealed.length - 1), sealed.subarray(1), new Uint8Array(0), Uint8Array.of(1, 3, 0)]) {
      corrupt(() => openValue('blocks', KEY, '7', ValueKind.block, bad));
    }
  });

  it('a valid value under another key, table or kind is corruption', () => {
    const sealed = sealValue('blocks', heightKey(8), ValueKind.block, encodeBlock(blocks[1]!));
    corrupt(() => openValue('blocks', KEY, '7', ValueKind.block, sealed));
    const here = sealValue('executed', KEY, ValueKind.block, encodeBlock(blocks[1]!));
    corrupt(() => openValue('blocks', KEY, '7', ValueKind.block, here));
    const kind = sealValue('blocks', KEY, ValueKind.executedState, encodeExecutedStateRecord(executedFor(blocks[1]!)));
    corrupt(() => openValue('blocks', KEY, '7', ValueKind.block, kind));
  });

  it('a checksummed body that does not decode is corruption too', () => {
    const body = encodeSafetyState(votedFor(blocks[0]!));
    const sealed = sealValue('safety', KEY, ValueKind.safetyState, body.subarray(0, body.length - 3));
    corrupt(() => openDecoded('safety', KEY, 'state', ValueKind.safetyState, sealed, decodeSafetyState), 'safety', 'state');
    const flag = body.slice();
    flag[32] = 2;
    const sealedFlag = sealValue('safety', KEY, ValueKind.safetyState, flag);
    corrupt(() => openDecoded('safety', KEY, 'state', ValueKind.safetyState, sealedFlag, decodeSafetyState), 'safety', 'state');
  });

  it('encodings are canonical (fixed layout of the safety state)', () => {
    const s = { ...INITIAL_SAFETY_STATE, lastVotedRound: 1, oneChainRound: 2, preferredRound: 3, highestTimeoutRound: 4, lastProposedRound: 5 };
    assert.equal(
      Buffer.from(encodeSafetyState(s)).toString('hex'),
      `${'0000000000000001'}${'0000000000000002'}${'0000000000000003'}${'0000000000000004'}00${'0000000000000005'}`,
    );
  });

  it('a safety state written before lastProposedRound existed decodes with it 0; other trailing bytes are corruption', () => {
    const s = votedFor(blocks[2]!);
    const body = encodeSafetyState(s);
    const old = body.subarray(0, body.length - 8);
    assert.deepEqual(decodeSafetyState(old), { ...s, lastProposedRound: 0 });
    assert.deepEqual(decodeSafetyState(body), s);
    for (const bad of [body.subarray(0, body.length - 1), Uint8Array.of(...body, 0)]) {
      corrupt(() => openDecoded('safety', KEY, 'state', ValueKind.safetyState, sealValue('safety', KEY, ValueKind.safetyState, bad), decodeSafetyState), 'safety', 'state');
    }
  });
});
