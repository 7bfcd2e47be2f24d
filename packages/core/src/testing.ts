/**
 * Test helpers for attnkit blocks and for users' own blocks:
 * `import { expectNoLeaks, expectClose, finiteDifferenceCheck } from '@attnkit/core/testing'`.
 * They throw plain `Error`s, so they work under any test runner.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Runs `fn` and throws if it leaves tensors behind (tensor count before == after). */
export async function expectNoLeaks(fn: () => unknown | Promise<unknown>): Promise<void> {
  const before = tf.memory().numTensors;
  await fn();
  const after = tf.memory().numTensors;
  if (after !== before) {
    throw new Error(
      `expectNoLeaks: expected ${before} live tensors after the call, got ${after} (${after - before > 0 ? '+' : ''}${after - before})`,
    );
  }
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
}

type Numeric =
  tf.Tensor | number | number[] | number[][] | number[][][] | number[][][][] | Float32Array;

function toFlat(x: Numeric): { values: Float64Array; shape: number[] } {
  if (x instanceof tf.Tensor) return { values: Float64Array.from(x.dataSync()), shape: x.shape };
  if (typeof x === 'number') return { values: Float64Array.of(x), shape: [] };
  if (x instanceof Float32Array) return { values: Float64Array.from(x), shape: [x.length] };
  const shape: number[] = [];
  let level: unknown = x;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return { values: Float64Array.from((x as unknown[]).flat(Infinity) as number[]), shape };
}

/**
 * Throws unless `|actual - expected| <= atol + rtol * |expected|` elementwise (numpy's allclose),
 * naming the worst element. Shapes must agree (a plain array is compared by its nesting).
 */
export function expectClose(actual: Numeric, expected: Numeric, options: CloseOptions = {}): void {
  const { atol = 1e-5, rtol = 1e-5 } = options;
  const a = toFlat(actual);
  const e = toFlat(expected);
  const sameShape = a.shape.length === e.shape.length && a.shape.every((d, i) => d === e.shape[i]);
  if (!sameShape || a.values.length !== e.values.length) {
    throw new Error(`expectClose: expected shape [${e.shape}], got [${a.shape}]`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.values.length; i++) {
    const av = a.values[i]!;
    const ev = e.values[i]!;
    if (Number.isNaN(av) !== Number.isNaN(ev)) {
      worst = i;
      worstExcess = Infinity;
      break;
    }
    if (Number.isNaN(av)) continue;
    if (av === ev) continue; // equal infinities
    const excess = Math.abs(av - ev) - (atol + rtol * Math.abs(ev));
    if (excess > worstExcess || (Number.isNaN(excess) && worst < 0)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `expectClose: element ${worst} expected ${e.values[worst]} (atol ${atol}, rtol ${rtol}), got ${a.values[worst]}`,
    );
  }
}

/** Max |a - b| over all elements. */
export function maxAbsDiff(a: Numeric, b: Numeric): number {
  const x = toFlat(a).values;
  const y = toFlat(b).values;
  if (x.length !== y.length)
    throw new Error(`maxAbsDiff: sizes differ (${x.length} vs ${y.length})`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

export interface FiniteDifferenceOptions {
  /** Step (central differences). Float32 math: keep it around 1e-2..1e-3. */
  epsilon?: number;
  atol?: number;
  rtol?: number;
  /** Check at most this many coordinates per input, chosen evenly. */
  maxChecks?: number;
}

/**
 * Compares the analytic gradient of `sum(f(...inputs) * w)` (w a fixed random
 * projection) with central finite differences at each checked coordinate.
 * Returns the largest absolute error; throws when one exceeds `atol + rtol*|g|`.
 */
export function finiteDifferenceCheck(
  f: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  options: FiniteDifferenceOptions = {},
): number {
  const { epsilon = 1e-2, atol = 2e-3, rtol = 2e-2, maxChecks = 64 } = options;
  const probe = tf.tidy(() => f(...inputs));
  const weights = tf.tensor(
    Array.from({ length: probe.size }, (_, i) => Math.sin(i * 12.9898 + 1.618) * 0.5 + 0.75),
    probe.shape,
  );
  probe.dispose();
  const objective = (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), weights)) as tf.Scalar;
  const analytic = tf.grads(objective)(inputs);
  let maxError = 0;
  try {
    inputs.forEach((input, which) => {
      const base = Float32Array.from(input.dataSync() as Float32Array);
      const grad = analytic[which]!.dataSync();
      const step = Math.max(1, Math.floor(base.length / maxChecks));
      for (let i = 0; i < base.length; i += step) {
        const evalAt = (delta: number): number =>
          tf.tidy(() => {
            const values = base.slice();
            values[i] = values[i]! + delta;
            const xs = inputs.map((x, j) =>
              j === which ? tf.tensor(values, x.shape, x.dtype) : x,
            );
            return objective(...xs).dataSync()[0]!;
          });
        const numeric = (evalAt(epsilon) - evalAt(-epsilon)) / (2 * epsilon);
        const error = Math.abs(numeric - grad[i]!);
        maxError = Math.max(maxError, error);
        if (error > atol + rtol * Math.abs(numeric)) {
          throw new Error(
            `finiteDifferenceCheck: input ${which} element ${i}: numeric gradient ${numeric}, analytic ${grad[i]}`,
          );
        }
      }
    });
  } finally {
    tf.dispose(analytic);
    weights.dispose();
  }
  return maxError;
}
export { mixerContract, type ContractCheck, type MixerContractOptions } from './mixer-contract';
