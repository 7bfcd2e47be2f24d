import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkDtype,
  checkInt,
  checkNumber,
  checkOneOf,
  checkRank,
  checkShape,
  formatShape,
} from '@attnkit/core';
import type { LinearAttentionForm, LinearAttentionOptions } from './types';

export const BLOCK = 'linearAttention';
const FORMS: readonly LinearAttentionForm[] = ['parallel', 'chunk', 'recurrent'];

export interface LinearGeometry {
  batch: number;
  heads: number;
  time: number;
  keyDim: number;
  valueDim: number;
  form: LinearAttentionForm;
  chunkSize: number;
  scale: number;
  causal: boolean;
  normalize: boolean;
  eps: number;
}

/** Checks q, k, v and every option; one typed one-line error per problem. */
export function validateLinear(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  options: LinearAttentionOptions,
): LinearGeometry {
  for (const [name, x] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (!(x instanceof tf.Tensor)) throw new ShapeError(BLOCK, name, 'a tf.Tensor', typeof x);
    checkRank(BLOCK, name, x, 4);
    checkDtype(BLOCK, name, x, ['float32']);
  }
  const [batch, heads, time, keyDim] = q.shape as number[] as [number, number, number, number];
  if (time < 1 || keyDim < 1) {
    throw new ShapeError(
      BLOCK,
      'q',
      'at least one token and one feature',
      `shape ${formatShape(q.shape)}`,
    );
  }
  checkShape(BLOCK, 'k', k, [batch, heads, time, keyDim]);
  checkShape(BLOCK, 'v', v, [batch, heads, time, null]);
  const valueDim = v.shape[3]!;

  const form = checkOneOf(BLOCK, 'form', options.form ?? 'chunk', FORMS);
  const chunkSize = checkInt(BLOCK, 'chunkSize', options.chunkSize ?? 64, 1);
  const scale = checkNumber(BLOCK, 'scale', options.scale ?? 1);
  const causal = options.causal ?? true;
  if (typeof causal !== 'boolean') {
    throw new ConfigError(BLOCK, 'causal', 'a boolean', String(causal));
  }
  const normalize = options.normalize ?? false;
  if (typeof normalize !== 'boolean') {
    throw new ConfigError(BLOCK, 'normalize', 'a boolean', String(normalize));
  }
  const eps = checkNumber(BLOCK, 'eps', options.eps ?? 1e-6, { min: 0 });
  const checkValues = options.checkValues ?? true;

  if (!causal) {
    // Bidirectional attention has no running state to carry or to decay.
    if (form === 'recurrent') {
      throw new ConfigError(
        BLOCK,
        'form',
        "'parallel' or 'chunk' with causal: false",
        "'recurrent'",
      );
    }
    for (const name of ['initialState', 'decay', 'gate'] as const) {
      if (options[name] !== undefined) {
        throw new ConfigError(BLOCK, name, 'none with causal: false', `a ${name}`);
      }
    }
  }

  const { decay, gate, initialState } = options;
  if (decay !== undefined) checkDecay(decay, heads, checkValues);
  if (gate !== undefined) {
    if (!(gate instanceof tf.Tensor))
      throw new ShapeError(BLOCK, 'gate', 'a tf.Tensor', typeof gate);
    // A scalar per step, or one per key dimension (GLA).
    const scalar = [batch, heads, time];
    const vector = [...scalar, keyDim];
    const fits = (want: number[]) =>
      gate.rank === want.length && want.every((d, i) => d === gate.shape[i]);
    if (!fits(scalar) && !fits(vector)) {
      const want = `shape [${scalar.join(',')}] or [${vector.join(',')}]`;
      throw new ShapeError(BLOCK, 'gate', want, `shape ${formatShape(gate.shape)}`);
    }
    checkDtype(BLOCK, 'gate', gate, ['float32']);
    if (checkValues) {
      const max = tf.tidy(() => tf.max(gate).dataSync()[0]!);
      if (!(max <= 0)) {
        throw new ConfigError(BLOCK, 'gate', 'log decays <= 0 (finite)', `max ${max}`);
      }
    }
  }
  if (initialState !== undefined) {
    if (initialState === null || typeof initialState !== 'object' || !initialState.kv) {
      throw new ShapeError(BLOCK, 'initialState', '{ kv, kSum? }', String(initialState));
    }
    checkShape(BLOCK, 'initialState.kv', initialState.kv, [batch, heads, keyDim, valueDim]);
    checkDtype(BLOCK, 'initialState.kv', initialState.kv, ['float32']);
    if (normalize && !initialState.kSum) {
      throw new ShapeError(
        BLOCK,
        'initialState.kSum',
        `shape [${batch},${heads},${keyDim}] with normalize`,
        'none',
      );
    }
    if (!normalize && initialState.kSum) {
      throw new ConfigError(
        BLOCK,
        'initialState.kSum',
        'none without normalize',
        formatShape(initialState.kSum.shape),
      );
    }
    if (initialState.kSum) {
      checkShape(BLOCK, 'initialState.kSum', initialState.kSum, [batch, heads, keyDim]);
      checkDtype(BLOCK, 'initialState.kSum', initialState.kSum, ['float32']);
    }
  }
  return { batch, heads, time, keyDim, valueDim, form, chunkSize, scale, causal, normalize, eps };
}

function checkDecay(decay: number | number[] | tf.Tensor, heads: number, checkValues: boolean) {
  const inRange = (x: number) => Number.isFinite(x) && x > 0 && x <= 1;
  if (typeof decay === 'number') {
    if (!inRange(decay)) throw new ConfigError(BLOCK, 'decay', 'a number in (0, 1]', String(decay));
    return;
  }
  if (Array.isArray(decay)) {
    if (decay.length !== heads) {
      throw new ConfigError(BLOCK, 'decay', `${heads} per-head values`, `${decay.length} values`);
    }
    const bad = decay.find((x) => typeof x !== 'number' || !inRange(x));
    if (bad !== undefined) {
      throw new ConfigError(BLOCK, 'decay', 'values in (0, 1]', String(bad));
    }
    return;
  }
  if (!(decay instanceof tf.Tensor)) {
    throw new ConfigError(BLOCK, 'decay', 'a number, number[] or tf.Tensor', typeof decay);
  }
  checkShape(BLOCK, 'decay', decay, [heads]);
  checkDtype(BLOCK, 'decay', decay, ['float32']);
  if (checkValues) {
    const [lo, hi] = tf.tidy(() => [tf.min(decay).dataSync()[0]!, tf.max(decay).dataSync()[0]!]);
    if (!(lo > 0 && hi <= 1)) {
      throw new ConfigError(BLOCK, 'decay', 'values in (0, 1]', `range [${lo}, ${hi}]`);
    }
  }
}
