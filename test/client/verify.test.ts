import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blsBackend } from '../../crypto/bls/index.js';
import { generateBlsKeyPair, popProve } from '../../crypto/bls/keys.js';
import { fromHex, toHex } from '../../crypto/bytes.js';
import { decodeQc, encodeQc } from '../../crypto/qc/codec.js';
import { MultisigQcScheme } from '../../crypto/qc/multisig.js';
import { ValidatorSet } from '../../crypto/qc/validator-set.js';
import { type BundleRejectReason, BundleVerifyError, verifyBundle, verifyCommitOf } from '../../client/verify.js';
import { checkCertificateMessage } from '../../client/light.js';
import { ed25519KeypairFromSeed } from '../../crypto/ed25519/backends.js';
import { decodeRequest, signRequest } from '../../protocol/request.js';
import { makeBlock } from '../../protocol/block.js';
import { BundleFormatError, bundleToJson, bundleToJsonValue, makeBundle, parseBundle, type ProofBundle } from '../../protocol/bundle.js';
import { sha256 } from '../../crypto/hash.js';
import { encodeStateProof, type StateProof } from '../../protocol/state-proof.js';
import { buildCertificateExample, type CertificateExample, certify, voteOf } from '../../node/cli/cert-example.js';
import { kvStateKey } from '../../node/app/state-keys.js';

const enc = new TextEncoder();
// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary paths of the bundle's JSON value
type Json = Record<string, any>;

/** JSON round trip with a mutation of the plain value: how a lying replica or a corrupted file looks. */
function mutate(b: ProofBundle, edit: (v: Json) => void): ProofBundle {
  const v = JSON.parse(bundleToJson(b)) as Json;
  edit(v);
  return parseBundle(v);
}

function flipHex(hex: string, byte: number, mask = 0x01): string {
  const bytes = fromHex(hex);
  bytes[byte]! ^= mask;
  return toHex(bytes);
}

function rejects(ex: CertificateExample, b: ProofBundle, reason: BundleRejectReason): void {
  assert.throws(
    () => verifyBundle(b, ex),
    (err: unknown) => {
      assert.ok(err instanceof BundleVerifyError, `expected BundleVerifyError, got ${String(err)}`);
      assert.equal(err.reason, reason, err.message);
      return true;
    },
  );
}

describe('light client: proof bundle verification', () => {
  let ex: CertificateExample;
  before(() => {
    ex = buildCertificateExample();
  });

  it('accepts the honest bundle and reports what it proves', () => {
    const v = verifyBundle(ex.bundle, ex);
    assert.equal(v.executedHeight, 1);
    assert.equal(v.blockHeight, 2);
    assert.equal(v.signers, 3);
    assert.deepEqual(v.log?.position, 1);
    assert.deepEqual(v.state?.value, enc.encode('banana'));
    const absent = verifyBundle(ex.absentBundle, ex);
    assert.equal(absent.state?.value, null);
  });

  it("ties the proven log entry to the submitter's own request, not to its command bytes", () => {
    const v = verifyBundle(ex.bundle, ex);
    const mine = ex.requests[1]!;
    const receipt = { height: 1, position: 1, result: 0 };
    verifyCommitOf(v, mine, receipt);
    // The same command signed again under another sequence: the bundle proves the first one.
    const decoded = decodeRequest(mine);
    const twin = signRequest({ chainId: ex.chainId, sequence: decoded.sequence + 100n, expiry: decoded.expiry, command: decoded.command }, ed25519KeypairFromSeed(new Uint8Array(32).fill(7)).secretKey);
    const mismatch = (f: () => void) => assert.throws(f, (e: unknown) => e instanceof BundleVerifyError && e.reason === 'log-entry-mismatch');
    mismatch(() => verifyCommitOf(v, twin, receipt));
    mismatch(() => verifyCommitOf(v, ex.requests[0]!, receipt));
    mismatch(() => verifyCommitOf(v, mine, { ...receipt, position: 0 }));
    mismatch(() => verifyCommitOf(v, mine, { ...receipt, result: 8 }));
    mismatch(() => verifyCommitOf(v, mine, { ...receipt, height: 2 }));
    mismatch(() => verifyCommitOf(verifyBundle(ex.absentBundle, ex), mine, receipt));
  });

  it('JSON codec round-trips and is strict', () => {
    const text = bundleToJson(ex.bundle);
    assert.equal(bundleToJson(parseBundle(text)), text);
    const bad: [string, (v: Json) => void][] = [
      ['unknown field', (v) => { v['extra'] = 1; }],
      ['missing field', (v) => { delete v['qc']; }],
      ['uppercase hex', (v) => { v['blockId'] = v['blockId'].toUpperCase().replace('0X', '0x'); }],
      ['short hash', (v) => { v['header']['payloadHash'] = '0x00'; }],
      ['negative number', (v) => { v['header']['round'] = -1; }],
      ['fractional number', (v) => { v['height'] = 1.5; }],
      ['result above u8', (v) => { v['log']['result'] = 256; }],
      ['wrong version', (v) => { v['version'] = 1; }],
    ];
    for (const [what, edit] of bad) {
      const v = JSON.parse(text);
      edit(v);
      assert.throws(() => parseBundle(v), BundleFormatError, what);
    }
    assert.throws(() => parseBundle('{not json'), BundleFormatError);
  });

  describe('lies it must catch, each with its own reason', () => {
    it('a tampered value', () => {
      rejects(ex, mutate(ex.bundle, (v) => { v['state']['value'] = toHex(enc.encode('bananas')); }), 'state-value-mismatch');
      rejects(ex, mutate(ex.bundle, (v) => { v['state']['value'] = null; }), 'state-value-mismatch');
    });

    it('a tampered proof (log path, log result, state proof)', () => {
      rejects(ex, mutate(ex.bundle, (v) => { v['log']['path'][0] = flipHex(v['log']['path'][0], 5); }), 'log-inclusion');
      rejects(ex, mutate(ex.bundle, (v) => { v['log']['result'] = 3; }), 'log-inclusion');
      rejects(ex, mutate(ex.bundle, (v) => { v['log']['position'] = 0; }), 'log-inclusion');
      rejects(ex, mutate(ex.bundle, (v) => { v['log']['position'] = 5; }), 'log-position');
      // The leaf value inside the state proof, changed along with the claimed value.
      const proof = ex.app.proveKey(enc.encode('b'));
      assert.equal(proof.terminal.kind, 'leaf');
      const forged: StateProof = { ...proof, terminal: { kind: 'leaf', key: kvStateKey(enc.encode('b')), value: enc.encode('durian') } };
      rejects(ex, mutate(ex.bundle, (v) => {
        v['state']['proof'] = toHex(encodeStateProof(forged));
        v['state']['value'] = toHex(enc.encode('durian'));
      }), 'state-proof');
    });

    it('a tampered header field', () => {
      rejects(ex, mutate(ex.bundle, (v) => { v['header']['executed']['stateRoot'] = flipHex(v['header']['executed']['stateRoot'], 0); }), 'block-id-mismatch');
      rejects(ex, mutate(ex.bundle, (v) => { v['header']['author'] = 3; }), 'block-id-mismatch');
    });

    it('a header re-hashed to its new id is not what the QC signed', () => {
      const other = makeBlock(ex.chainId, { ...ex.block2, executed: { ...ex.block2.executed, height: 0 } });
      rejects(ex, { ...ex.bundle, header: { ...ex.bundle.header, executed: other.executed }, blockId: other.id, height: 0 }, 'qc-digest-mismatch');
    });

    it('a tampered signature byte', () => {
      // Byte 4 + 32 is the first signature byte; flipping its low bit leaves no valid point
      // of the right flags, and a byte deep inside gives a point off the curve or a wrong one.
      rejects(ex, mutate(ex.bundle, (v) => { v['qc'] = flipHex(v['qc'], 4 + 32 + 50); }), 'qc-signature-encoding');
    });

    it('a valid signature from other signers than the bitmap claims', () => {
      const qc = decodeQc(ex.bundle.qc);
      // Signed by 0, 1, 2; the bitmap now says 0, 1, 3.
      const lied = encodeQc({ ...qc, signers: Uint8Array.of(0b1011) });
      rejects(ex, { ...ex.bundle, qc: lied }, 'qc-bad-signature');
    });

    it('a bitmap below quorum, or with bits past n', () => {
      const scheme = new MultisigQcScheme(ex.validatorSet);
      const qc = decodeQc(ex.bundle.qc);
      rejects(ex, { ...ex.bundle, qc: encodeQc({ ...qc, signers: Uint8Array.of(0b0011) }) }, 'qc-below-quorum');
      rejects(ex, { ...ex.bundle, qc: encodeQc({ ...qc, signers: Uint8Array.of(0b1_0111) }) }, 'qc-bitmap-overflow');
      assert.equal(scheme.quorum, 3);
    });

    it('signers not in the validator set', () => {
      const backend = ex.backend;
      const outsiders = Array.from({ length: 4 }, (_, i) => generateBlsKeyPair(backend, new Uint8Array(32).fill(0x40 + i)));
      const set = ValidatorSet.load(backend, outsiders.map((p) => ({ publicKey: p.publicKey.bytes, proofOfPossession: popProve(backend, p.secretKey).bytes })));
      const qc = certify(ex.chainId, new MultisigQcScheme(set), outsiders.map((p) => p.secretKey), [0, 1, 2, 3], voteOf(ex.block2));
      rejects(ex, { ...ex.bundle, qc: qc.certificate }, 'qc-bad-signature');
      // A certificate from a larger set that includes outsiders does not even fit the bitmap.
      const seven = Array.from({ length: 7 }, (_, i) => generateBlsKeyPair(backend, new Uint8Array(32).fill(0x50 + i)));
      const set7 = ValidatorSet.load(backend, seven.map((p) => ({ publicKey: p.publicKey.bytes, proofOfPossession: popProve(backend, p.secretKey).bytes })));
      const qc7 = certify(ex.chainId, new MultisigQcScheme(set7), seven.map((p) => p.secretKey), [0, 1, 2, 3, 4], voteOf(ex.block2));
      rejects(ex, { ...ex.bundle, qc: qc7.certificate }, 'qc-validator-count');
    });

    it('a certificate from another chain id', () => {
      const other = buildCertificateExample(ex.backend, 'vsmr-other');
      // Same validator keys, same contents, another chain: refused as such...
      rejects(ex, other.bundle, 'wrong-chain');
      // ...and relabelled with our chain id, its block id and QC no longer match.
      rejects(ex, { ...other.bundle, chainId: ex.chainId }, 'block-id-mismatch');
      rejects(ex, { ...other.bundle, chainId: ex.chainId, blockId: ex.bundle.blockId, header: ex.bundle.header }, 'qc-digest-mismatch');
    });

    it('a stale certificate presented as newer', () => {
      rejects(ex, { ...ex.bundle, height: 2 }, 'stale-certificate');
    });

    it('a non-membership proof for a key that exists', () => {
      // The replica hides "b" by showing its own leaf as if it belonged to another key...
      const b = ex.app.proveKey(enc.encode('b'));
      assert.ok(b.terminal.kind === 'leaf');
      const leafAsOther: StateProof = {
        ...b,
        terminal: { kind: 'other', keyHash: sha256(b.terminal.key), valueHash: sha256(b.terminal.value) },
      };
      const hide = (proof: StateProof) => ({ ...ex.bundle, state: { key: kvStateKey(enc.encode('b')), value: null, proof: encodeStateProof(proof) } });
      rejects(ex, hide(leafAsOther), 'false-absence');
      // ...or an empty slot where its leaf is, or another key's absence proof: neither folds up
      // to the certified root (or the other key is off b's path).
      rejects(ex, hide({ ...b, terminal: { kind: 'empty' } }), 'state-proof');
      rejects(ex, hide(ex.app.proveKey(enc.encode('a'))), 'state-proof');
      rejects(ex, hide(ex.app.proveKey(enc.encode('zz'))), 'state-proof');
    });

    it('the executed state of a block that is not earlier', () => {
      const block = makeBlock(ex.chainId, { ...ex.block2, executed: { ...ex.block2.executed, height: 2 } });
      const scheme = new MultisigQcScheme(ex.validatorSet);
      const qc = certify(ex.chainId, scheme, ex.secretKeys, [0, 1, 2], voteOf(block));
      rejects(ex, makeBundle(ex.chainId, block, qc), 'executed-state');
    });
  });

  it('property: flipping any single byte of the signed or proved content makes verify fail', () => {
    // Every byte-string field of the bundle and every byte of its integers' u64 forms. The log's
    // treeSize is left out on purpose: an RFC 6962 root does not bind the tree size, and some
    // sizes share a path shape (docs/CERTIFICATE.md, "Log inclusion proofs"); a changed size that
    // still verifies proves the same entry at the same position under the same certified root.
    const base = bundleToJsonValue(ex.bundle) as Json;
    const hexPaths: string[][] = [
      ['blockId'], ['qc'],
      ['header', 'parent', 'blockId'], ['header', 'parent', 'parentId'], ['header', 'parentCertificateHash'], ['header', 'payloadHash'],
      ['header', 'executed', 'blockId'], ['header', 'executed', 'stateRoot'], ['header', 'executed', 'logRoot'],
      ['log', 'requestId'], ['log', 'path', '0'], ['log', 'path', '1'],
      ['state', 'key'], ['state', 'value'], ['state', 'proof'],
    ];
    const numPaths: string[][] = [
      ['header', 'round'], ['header', 'height'], ['header', 'author'], ['header', 'parent', 'round'], ['header', 'parent', 'height'],
      ['header', 'parent', 'parentRound'], ['header', 'executed', 'height'], ['log', 'position'], ['log', 'result'], ['height'],
    ];
    const get = (v: Json, p: string[]): Json[string] => p.reduce((o, k) => o[k], v);
    const set = (v: Json, p: string[], x: unknown) => {
      const parent = p.slice(0, -1).reduce((o, k) => o[k], v);
      parent[p[p.length - 1]!] = x;
    };
    const fails = (v: unknown): boolean => {
      try {
        verifyBundle(parseBundle(v), ex);
        return false;
      } catch (err) {
        return err instanceof BundleVerifyError || err instanceof BundleFormatError;
      }
    };
    fc.assert(
      fc.property(fc.nat(hexPaths.length - 1), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, mask) => {
        const v = structuredClone(base);
        const p = hexPaths[which]!;
        const bytes = fromHex(get(v, p));
        const i = at % bytes.length;
        bytes[i]! ^= mask;
        set(v, p, toHex(bytes));
        return fails(v);
      }),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(fc.nat(numPaths.length - 1), fc.nat(7), fc.integer({ min: 1, max: 255 }), (which, byte, mask) => {
        const v = structuredClone(base);
        const p = numPaths[which]!;
        // Flip one bit pattern in one of the low 7 bytes of the u64 (JSON numbers stop at 2^53).
        const flipped = Number(BigInt(get(v, p)) ^ (BigInt(mask) << BigInt(8 * Math.min(byte, 6))));
        fc.pre(Number.isSafeInteger(flipped));
        // A lower claimed height is a weaker claim the certificate still supports (executed
        // height >= claimed height), so it rightly verifies: only raising it must fail.
        fc.pre(!(p.length === 1 && p[0] === 'height' && flipped < Number(get(v, p))));
        set(v, p, flipped);
        return fails(v);
      }),
      { numRuns: 150 },
    );
  });

  it('verifies with the noble backend too', () => {
    const noble = blsBackend('noble');
    const set = ValidatorSet.load(noble, ex.publicKeys.map((publicKey, i) => ({ publicKey, proofOfPossession: ex.proofsOfPossession[i]! })));
    assert.equal(verifyBundle(ex.bundle, { chainId: ex.chainId, validatorSet: set }).executedHeight, 1);
  });
});

describe('light client: the certificate topic rule (checkCertificateMessage)', () => {
  let ex: CertificateExample;
  let certificate: ProofBundle;
  before(() => {
    ex = buildCertificateExample();
    const { log: _log, state: _state, ...header } = ex.bundle;
    certificate = header;
  });

  it('accepts a certificate in the form validators publish, and no other spelling of the same one', () => {
    const text = bundleToJson(certificate);
    const ok = checkCertificateMessage(enc.encode(text), ex);
    assert.ok(ok.ok, ok.ok ? '' : ok.reason);
    // The same value, re-spaced or with a number spelt otherwise: true, but a new message id
    // each time, which a peer could mint by the thousand.
    const compact = JSON.stringify(JSON.parse(text));
    const spelt = text.replace(/"height": (\d+)/, '"height": $1.0');
    for (const variant of [compact, `${text}\n`, ` ${text}`, spelt]) {
      assert.notEqual(variant, text);
      const r = checkCertificateMessage(enc.encode(variant), ex);
      assert.ok(!r.ok && /canonical/.test(r.reason), `accepted: ${JSON.stringify(variant.slice(0, 60))}`);
    }
    const withProofs = checkCertificateMessage(enc.encode(bundleToJson(ex.bundle)), ex);
    assert.ok(!withProofs.ok && /no proofs/.test(withProofs.reason));
  });
});
