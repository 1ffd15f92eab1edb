/**
 * Commander argument parsers for numeric flags, shared by every command so that one spelling
 * is accepted everywhere: an integer is decimal digits only (no `1e3`, `0x10`, `-0` or `4.0`,
 * which `Number` would take), a number is digits with at most one decimal point. A bad value becomes one line that
 * names the flag, the accepted range and what was given; commander exits 2.
 */
import { InvalidArgumentError } from 'commander';

const DIGITS = /^\d+$/;
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;

/** An integer flag in [min, max]; without `max`, any safe integer of at least `min`. */
export function integerFlag(flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer in [${min}, ${max}]`;
  return (value) => {
    const text = value.trim();
    const n = Number(text);
    if (!DIGITS.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be ${range}, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A decimal number flag in [min, max] (no sign, exponent or hex: `0.5`, `10`, `.5`). */
export function numberFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const n = Number(text);
    if (!DECIMAL.test(text) || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
    return n;
  };
}
