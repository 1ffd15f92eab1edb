import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CLIENT_CONDUCT_DEFAULTS, ClientConduct } from '../../../node/runtime/client-conduct.js';
import { accept, ignore, reject, type Verdict } from '../../../validation/verdict.js';

const ok: Verdict = accept(new Uint8Array(32));
const forged: Verdict = reject('bad-signature');
const stale: Verdict = ignore('expired');
const times = (v: Verdict, k: number): Verdict[] => Array.from({ length: k }, () => v);

/** Checks `verdicts` as one piece: begun and ended. */
function check(c: ClientConduct, peer: string, verdicts: readonly Verdict[]): boolean {
  c.begin(peer, verdicts.length);
  return c.end(peer, verdicts.length, verdicts);
}

describe('runtime/client-conduct', () => {
  it('bans a peer at its rejectLimit-th rejected request, not one before, and reports each ban once', () => {
    let now = 0;
    const c = new ClientConduct({ rejectLimit: 4, banMs: 1000 }, () => now);
    assert.equal(check(c, 'p', times(forged, 3)), false);
    assert.equal(check(c, 'p', [stale, ok, stale]), false, 'ignored and accepted requests are no fault');
    assert.equal(check(c, 'p', [forged]), true);
    // Checks begun before the ban and ending during it count toward nothing, and ban nobody again.
    assert.equal(check(c, 'p', times(forged, 10)), false);
    assert.equal(c.allowance('p'), 0, 'nothing of a banned peer is checked');
    now = 1000;
    assert.equal(c.allowance('p'), CLIENT_CONDUCT_DEFAULTS.probe, 'back from its ban, on probation');
    assert.equal(check(c, 'p', times(forged, 3)), false, 'its record starts over');
    assert.equal(check(c, 'p', [forged]), true, 'and a new ban is a new one');
    assert.equal(check(c, 'q', times(forged, 10)), true, 'one piece can bring the ban');
  });

  it('allows a peer probe requests in check at once, growing by one per accepted request up to maxInCheck', () => {
    const c = new ClientConduct({ probe: 3, maxInCheck: 10 });
    assert.equal(c.allowance('p'), 3);
    c.begin('p', 2);
    assert.equal(c.allowance('p'), 1, 'requests in check, over all its frames, count against it');
    c.end('p', 2, [ok, ok]);
    assert.equal(c.allowance('p'), 5);
    check(c, 'p', times(stale, 8));
    assert.equal(c.allowance('p'), 5, 'ignored requests (expired ones cost nothing to refuse) earn nothing');
    check(c, 'p', times(ok, 20));
    assert.equal(c.allowance('p'), 10);
    check(c, 'p', [forged]);
    assert.equal(c.allowance('p'), 3, 'a reject outstanding puts the peer back on probation');
    c.begin('p', 3);
    c.end('p', 3, []);
    assert.equal(c.allowance('p'), 3, 'a check that failed on our side ends without verdicts');
  });

  it('forgives a reject per forgiveEvery accepted requests, so a client with a rare bad request is never banned', () => {
    const c = new ClientConduct({ rejectLimit: 3, forgiveEvery: 100 });
    // One bad request in every 150 over 150,000 requests.
    for (let k = 0; k < 1000; k++) assert.equal(check(c, 'honest-but-buggy', [forged, ...times(ok, 149)]), false);
    // One in every 50 is too many.
    const d = new ClientConduct({ rejectLimit: 3, forgiveEvery: 100 });
    let banned = false;
    for (let k = 0; k < 10 && !banned; k++) banned = check(d, 'sloppy', [forged, ...times(ok, 49)]);
    assert.ok(banned);
  });

  it('keeps at most maxPeers records, the least recently seen going first', () => {
    const c = new ClientConduct({ maxPeers: 3, rejectLimit: 2 });
    for (const p of ['a', 'b', 'c']) check(c, p, [forged]);
    check(c, 'a', [ok]);
    check(c, 'd', [ok]);
    assert.equal(c.size, 3);
    assert.equal(check(c, 'b', [forged]), false, 'b was forgotten: its first reject is gone');
    assert.equal(check(c, 'a', [forged]), true, 'a was kept');
  });

  it('lets a peer with rejects outstanding have only the rejects left before its ban in check: frames of 2, 7 and 8 forgeries get 16 checked', () => {
    // Found by the property below: before, the third frame got all 8 checked (17 in all).
    const c = new ClientConduct({ probe: 16, rejectLimit: 16 });
    assert.equal(check(c, 'p', times(forged, 2)), false);
    assert.equal(c.allowance('p'), 14);
    assert.equal(check(c, 'p', times(forged, 7)), false);
    // The third frame of 8 is checked in pieces of the allowance, as launch.ts does: 7, then none.
    const take = Math.min(8, c.allowance('p'));
    assert.equal(take, 7);
    assert.equal(check(c, 'p', times(forged, take)), true, 'the 16th reject bans it');
    assert.equal(c.allowance('p'), 0, 'its 8th forgery goes unchecked');
  });

  it('keeps no record of an exempt peer: never banned, maxInCheck requests in check at once', () => {
    const c = new ClientConduct({ rejectLimit: 2, probe: 2, maxInCheck: 8 }, undefined, new Set(['validator']));
    for (let i = 0; i < 10; i++) assert.equal(check(c, 'validator', times(forged, 8)), false);
    assert.equal(c.allowance('validator'), 8);
    c.begin('validator', 5);
    assert.equal(c.allowance('validator'), 3, 'what is in check counts against the cap');
    c.end('validator', 5, times(forged, 5));
    assert.equal(c.allowance('validator'), 8);
    assert.equal(c.size, 0, 'no record kept');
    assert.equal(check(c, 'client', times(forged, 2)), true, 'others are held to their record');
  });

  it('refuses options that are not positive integers, or a maxInCheck below probe', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ClientConduct({ probe: bad }), RangeError);
    assert.throws(() => new ClientConduct({ probe: 10, maxInCheck: 5 }), RangeError);
    assert.deepEqual(new ClientConduct().options, CLIENT_CONDUCT_DEFAULTS);
  });

  it('a caller that checks frames in pieces of the allowance lets an identity have at most probe forgeries checked, plus one per valid request, however it orders and overlaps its frames (property)', () => {
    const probe = 16;
    fc.assert(
      fc.property(
        // Frames of forged (f), expired (e) and valid (v) requests, each frame started at once
        // (all pieces begun before any ends: the worst overlap) or one after the other.
        // Frames of forgeries alone are drawn as often as mixed ones: a mix rarely holds 16.
        fc.array(
          fc.oneof(
            fc.array(fc.constantFrom<'f' | 'e' | 'v'>('f', 'e', 'v'), { minLength: 1, maxLength: 64 }),
            fc.array(fc.constant<'f'>('f'), { minLength: 1, maxLength: 24 }),
          ),
          { maxLength: 12 },
        ),
        fc.boolean(),
        (frames, overlap) => {
          const c = new ClientConduct({ probe, rejectLimit: 16, maxInCheck: 4096 });
          const verdictOf = { f: forged, e: stale, v: ok } as const;
          let forgedChecked = 0;
          let validChecked = 0;
          let banned = false;
          // Overlapped: each frame's first piece is begun before any verdict lands.
          const pending: { frame: ('f' | 'e' | 'v')[]; at: number }[] = frames.map((frame) => ({ frame, at: 0 }));
          const runPiece = (p: { frame: ('f' | 'e' | 'v')[]; at: number }, begun: number): void => {
            const piece = p.frame.slice(p.at, p.at + begun);
            forgedChecked += piece.filter((x) => x === 'f').length;
            validChecked += piece.filter((x) => x === 'v').length;
            if (c.end('x', begun, piece.map((x) => verdictOf[x]))) banned = true;
            p.at += begun;
          };
          if (overlap) {
            const begun = pending.map((p) => {
              const take = Math.min(p.frame.length, c.allowance('x'));
              c.begin('x', take);
              return take;
            });
            pending.forEach((p, i) => {
              if (begun[i]! > 0) runPiece(p, begun[i]!);
            });
          } else {
            for (const p of pending) {
              for (;;) {
                const take = Math.min(p.frame.length - p.at, c.allowance('x'));
                if (take <= 0) break;
                c.begin('x', take);
                runPiece(p, take);
              }
            }
          }
          // Every forgery beyond the probe had to be paid for with a valid request checked.
          assert.ok(forgedChecked <= probe + validChecked, `${forgedChecked} forged checked, ${validChecked} valid`);
          if (forgedChecked >= 16 + validChecked / 256 + 1) assert.ok(banned);
        },
      ),
      { numRuns: 500 },
    );
  });
});
