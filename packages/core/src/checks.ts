import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, formatShape } from './errors';

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

/** Short printable form of any value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** Throws unless the last axis of `x` has size `size`. */
export function checkLastAxis(block: string, argument: string, x: tf.Tensor, size: number): void {
  if (x.rank < 1 || x.shape[x.rank - 1] !== size) {
    throw new ShapeError(block, argument, `last axis ${size}`, `shape ${formatShape(x.shape)}`);
  }
}
