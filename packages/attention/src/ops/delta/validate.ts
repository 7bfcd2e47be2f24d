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
import type { DeltaRuleForm, DeltaRuleOptions } from './types';

export const BLOCK = 'deltaRule';
const FORMS: readonly DeltaRuleForm[] = ['chunk', 'recurrent'];

export interface DeltaGeometry {
  batch: number;
  heads: number;
  time: number;
  keyDim: number;
  valueDim: number;
  form: DeltaRuleForm;
  chunkSize: number;
  scale: number;
}

/** Checks q, k, v, beta and every option; one typed one-line error per problem. */
export function validateDelta(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  beta: tf.Tensor,
  options: DeltaRuleOptions,
): DeltaGeometry {
  for (const [name, x, rank] of [
    ['q', q, 4],
    ['k', k, 4],
    ['v', v, 4],
    ['beta', beta, 3],
  ] as const) {
    if (!(x instanceof tf.Tensor)) throw new ShapeError(BLOCK, name, 'a tf.Tensor', typeof x);
    checkRank(BLOCK, name, x, rank);
    checkDtype(BLOCK, name, x, ['float32']);
  }
  const [batch, heads, time, keyDim] = q.shape as [number, number, number, number];
  if (time < 1 || keyDim < 1) {
    const got = `shape ${formatShape(q.shape)}`;
    throw new ShapeError(BLOCK, 'q', 'at least one token and one feature', got);
  }
  checkShape(BLOCK, 'k', k, [batch, heads, time, keyDim]);
  checkShape(BLOCK, 'v', v, [batch, heads, time, null]);
  const valueDim = v.shape[3]!;
  if (valueDim < 1) {
    throw new ShapeError(BLOCK, 'v', 'at least one feature', `shape ${formatShape(v.shape)}`);
  }
  checkShape(BLOCK, 'beta', beta, [batch, heads, time]);

  const form = checkOneOf(BLOCK, 'form', options.form ?? 'chunk', FORMS);
  const chunkSize = checkInt(BLOCK, 'chunkSize', options.chunkSize ?? 64, 1);
  const scale = checkNumber(BLOCK, 'scale', options.scale ?? 1 / Math.sqrt(keyDim));
  const { gate, initialState } = options;
  if (gate !== undefined) {
    if (!(gate instanceof tf.Tensor))
      throw new ShapeError(BLOCK, 'gate', 'a tf.Tensor', typeof gate);
    checkShape(BLOCK, 'gate', gate, [batch, heads, time]);
    checkDtype(BLOCK, 'gate', gate, ['float32']);
    if (options.checkValues ?? true) {
      const max = tf.tidy(() => tf.max(gate).dataSync()[0]!);
      if (!(max <= 0)) {
        throw new ConfigError(BLOCK, 'gate', 'log forget gates <= 0 (finite)', `max ${max}`);
      }
    }
  }
  if (initialState !== undefined) {
    if (!(initialState instanceof tf.Tensor)) {
      throw new ShapeError(BLOCK, 'initialState', 'a tf.Tensor', typeof initialState);
    }
    checkShape(BLOCK, 'initialState', initialState, [batch, heads, keyDim, valueDim]);
    checkDtype(BLOCK, 'initialState', initialState, ['float32']);
  }
  return { batch, heads, time, keyDim, valueDim, form, chunkSize, scale };
}
