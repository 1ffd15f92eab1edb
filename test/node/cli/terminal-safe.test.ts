import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_PRINTED_CHARS, terminalSafe } from '../../../node/cli/terminal-safe.js';

describe('node/cli/terminal-safe', () => {
  it('leaves ordinary text as it is', () => {
    assert.equal(terminalSafe('malformed bundle: bundle.qc: 12 bytes, expected 113'), 'malformed bundle: bundle.qc: 12 bytes, expected 113');
    assert.equal(terminalSafe('clé ✓ 検証'), 'clé ✓ 検証');
  });

  it('escapes what would start a line, move the cursor or reorder the text', () => {
    assert.equal(terminalSafe('a\nclient-7 = "forged"'), 'a\\u000aclient-7 = "forged"');
    assert.equal(terminalSafe('\u001b[2K\rheight 9'), '\\u001b[2K\\u000dheight 9');
    assert.equal(terminalSafe('x\u202ey\u2028z\u0085'), 'x\\u202ey\\u2028z\\u0085');
  });

  it('never prints a control, a separator or more than the limit, for any text (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (s) => {
        const out = terminalSafe(s);
        for (const ch of out) {
          const c = ch.codePointAt(0)!;
          assert.ok(c > 0x1f && !(c >= 0x7f && c <= 0x9f) && !(c >= 0x2028 && c <= 0x202e), `U+${c.toString(16)} printed`);
        }
        const kept = [...out.replace(/\.\.\. \(\d+ more characters\)$/, '')].length;
        // An escaped character prints as six.
        assert.ok(kept <= 6 * MAX_PRINTED_CHARS, `${kept} characters kept`);
      }),
    );
  });
});
