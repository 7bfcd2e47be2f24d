import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, formatShape } from './errors';
import { MAX_QUOTE_LENGTH, cut } from './safe-json';

/** Throws unless `x` has rank `rank`. */
export function checkRank(block: string, argument: string, x: tf.Tensor, rank: number): void {
  if (x.rank !== rank) {
    throw new ShapeError(block, argument, `rank ${rank}`, `rank ${x.rank} ${formatShape(x.shape)}`);
  }
}

/** Throws unless `x` has `shape`; `null` entries match any size. */
export function checkShape(
  block: string,
  argument: string,
  x: tf.Tensor,
  shape: readonly (number | null)[],
): void {
  const ok = x.rank === shape.length && shape.every((d, i) => d === null || d === x.shape[i]);
  if (!ok) {
    const want = `[${shape.map((d) => (d === null ? '*' : String(d))).join(',')}]`;
    throw new ShapeError(block, argument, `shape ${want}`, `shape ${formatShape(x.shape)}`);
  }
}

/** Throws unless `x` has one of the given dtypes. */
export function checkDtype(
  block: string,
  argument: string,
  x: tf.Tensor,
  dtypes: readonly tf.DataType[],
): void {
  if (!dtypes.includes(x.dtype)) {
    throw new ShapeError(block, argument, `dtype ${dtypes.join(' or ')}`, `dtype ${x.dtype}`);
  }
}

/** Throws unless `value` is a finite integer >= `min`. */
export function checkInt(block: string, argument: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(block, argument, `an integer >= ${min}`, describe(value));
  }
  return value;
}

/** Throws unless `value` is a finite number inside [min, max] (bounds optional). */
export function checkNumber(
  block: string,
  argument: string,
  value: unknown,
  bounds: { min?: number; max?: number; minExclusive?: boolean } = {},
): number {
  const { min, max, minExclusive = false } = bounds;
  const tooSmall =
    typeof value === 'number' && min !== undefined && (minExclusive ? value <= min : value < min);
  const tooLarge = typeof value === 'number' && max !== undefined && value > max;
  if (typeof value !== 'number' || !Number.isFinite(value) || tooSmall || tooLarge) {
    const lo = min === undefined ? '' : `${minExclusive ? '>' : '>='} ${min}`;
    const hi = max === undefined ? '' : `<= ${max}`;
    const range = [lo, hi].filter(Boolean).join(' and ');
    throw new ConfigError(
      block,
      argument,
      `a finite number${range ? ' ' + range : ''}`,
      describe(value),
    );
  }
  return value;
}

/** Throws unless `value` is one of `choices`. */
export function checkOneOf<T extends string>(
  block: string,
  argument: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new ConfigError(
      block,
      argument,
      `one of ${choices.map((c) => `'${c}'`).join(', ')}`,
      describe(value),
    );
  }
  return value as T;
}

/**
 * Short printable form of any value for error messages: one line, at most `MAX_QUOTE_LENGTH`
 * characters, and no recursion past a few levels (a config nested thousands deep, or holding a
 * 10 MB string, still gives a short message).
 */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${cut(value)}'`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  if (typeof value === 'bigint') return `${cut(String(value))}n`;
  if (typeof value !== 'object') return cut(String(value));
  return cut(brief(value, 4, { left: MAX_QUOTE_LENGTH + 1 }, new Set()));
}

// JSON-like text of `value`, nested at most `depth` levels, stopping once `budget.left` is spent.
function brief(value: unknown, depth: number, budget: { left: number }, seen: Set<object>): string {
  if (budget.left <= 0) return '...';
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(cut(value, budget.left));
  else if (typeof value !== 'object' || value === null) text = String(value);
  else if (seen.has(value)) text = '[circular]';
  else if (depth === 0) text = Array.isArray(value) ? '[...]' : '{...}';
  else {
    seen.add(value);
    const parts: string[] = [];
    const array = Array.isArray(value);
    // Arrays by index, so a huge array is not listed before the budget runs out.
    const keys = array ? null : Object.keys(value);
    const count = array ? (value as unknown[]).length : keys!.length;
    for (let i = 0; i < count; i++) {
      const key = array ? i : keys![i]!;
      if (budget.left <= 0) {
        parts.push('...');
        break;
      }
      const item = brief((value as Record<string, unknown>)[key], depth - 1, budget, seen);
      parts.push(array ? item : `${JSON.stringify(cut(String(key), 40))}:${item}`);
    }
    text = array ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
    seen.delete(value);
  }
  budget.left -= text.length;
  return text;
}

/** Throws unless the last axis of `x` has size `size`. */
export function checkLastAxis(block: string, argument: string, x: tf.Tensor, size: number): void {
  if (x.rank < 1 || x.shape[x.rank - 1] !== size) {
    throw new ShapeError(block, argument, `last axis ${size}`, `shape ${formatShape(x.shape)}`);
  }
}
