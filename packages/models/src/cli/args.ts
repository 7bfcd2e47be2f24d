// Checked numeric arguments: one rule per option, shared by the command-line parsers (commander)
// and the in-process commands (trainCommand(...) called from code), so `--batch-size 0` and
// `{ batchSize: 0 }` are refused alike, with one line naming the option.
import { InvalidArgumentError } from 'commander';
import { CliError } from './errors';

export interface NumberRule {
  integer?: boolean;
  min?: number;
  /** `min` itself is refused. */
  minExclusive?: boolean;
  max?: number;
}

export const COUNT: NumberRule = { integer: true, min: 1 };
export const NON_NEGATIVE_INT: NumberRule = { integer: true, min: 0 };
export const POSITIVE: NumberRule = { min: 0, minExclusive: true };
export const NON_NEGATIVE: NumberRule = { min: 0 };

/** What the rule asks for, in words ("an integer >= 1"). */
export function describeRule(r: NumberRule): string {
  const kind = r.integer ? 'an integer' : 'a number';
  const lo = r.min === undefined ? '' : ` ${r.minExclusive ? '>' : '>='} ${r.min}`;
  const hi = r.max === undefined ? '' : `${lo ? ' and' : ''} <= ${r.max}`;
  return `${kind}${lo}${hi}`;
}

/** Whether `n` satisfies `r` (finite, a safe integer where asked, within bounds). */
export function satisfies(n: number, r: NumberRule): boolean {
  if (!Number.isFinite(n)) return false;
  if (r.integer && !Number.isSafeInteger(n)) return false;
  if (r.min !== undefined && (r.minExclusive ? n <= r.min : n < r.min)) return false;
  return r.max === undefined || n <= r.max;
}

/** A commander parser for an option following `r` ("" and non-numbers refused too). */
export function numberArg(r: NumberRule): (v: string) => number {
  return (v: string) => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!satisfies(n, r)) throw new InvalidArgumentError(`expected ${describeRule(r)}`);
    return n;
  };
}

/** The in-process check: `command: --flag expected ..., got ...` as a CliError. */
export function checkArg(command: string, flag: string, value: unknown, r: NumberRule): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !satisfies(value, r))
    throw new CliError(`${command}: --${flag} expected ${describeRule(r)}, got ${String(value)}`);
}
