import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { integerFlag, numberFlag } from '../../../node/cli/flag-parsers.js';

const run = promisify(execFile);
const CLI = join(resolve(import.meta.dirname, '..', '..', '..', '..'), 'bin', 'vsmr.js');

function refusal(parse: (v: string) => number, value: string): string {
  try {
    return `accepted as ${parse(value)}`;
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, `a typed refusal for ${JSON.stringify(value)}`);
    return err.message;
  }
}

describe('CLI numeric flag parsers', () => {
  it('an integer flag takes exactly the decimal integers in its range', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(1_000_000), fc.nat(2_000_000), (a, b, x) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const parse = integerFlag('--n', min, max);
        if (x >= min && x <= max) assert.equal(parse(String(x)), x);
        else assert.match(refusal(parse, String(x)), new RegExp(`^--n must be an integer in \\[${min}, ${max}\\], got "${x}"$`));
      }),
    );
  });

  it('an integer flag refuses what Number() would read as one: exponents, hex, signs, fractions, blanks', () => {
    const parse = integerFlag('--count', 0);
    for (const value of ['1e3', '0x10', '0b1', '+4', '-0', '-1', '4.0', '4.', '', ' ', '4 5', 'Infinity', '9007199254740993']) {
      assert.match(refusal(parse, value), /^--count must be an integer of at least 0, got /, JSON.stringify(value));
    }
    assert.equal(parse(' 12 '), 12);
  });

  it('a number flag takes decimals in its range and nothing else', () => {
    const parse = numberFlag('--drop', 0, 0.9);
    assert.equal(parse('0.25'), 0.25);
    assert.equal(parse('.5'), 0.5);
    assert.equal(parse('0'), 0);
    for (const value of ['', '  ', 'NaN', 'Infinity', '-0.1', '0.91', 'x', '0x0', '1e-1', '+0.1', '0.1.2']) {
      assert.match(refusal(parse, value), /^--drop must be a number in \[0, 0\.9\], got /, JSON.stringify(value));
    }
  });

  it('every command refuses an exponent where it takes an integer, naming the flag (exit 2)', async () => {
    for (const [flag, ...args] of [
      ['--duration', 'devnet', '--duration', '1e1'],
      ['--batch', 'bench', 'e2e', '--batch', '1e2'],
      ['--seeds', 'sim', '--seeds', '1e1'],
      ['--validators', 'genesis', '--validators', '4e0'],
      ['--count', 'client', 'submit', '--genesis', 'unused.json', '--count', '1e1'],
    ] as const) {
      const r = await run(process.execPath, [CLI, ...args]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, new RegExp(`${flag} must be an integer .*, got "\\de\\d"`), args.join(' '));
    }
  });
});
