import * as tf from '@tensorflow/tfjs-core';
import type { AttentionOptions, AttentionResult } from './options';
import { repeatKvHeads, type AttentionGeometry } from './validate';
import { dropWeights, normalizeScores, scoresOf } from './scores';

/**
 * softmax(q kᵀ · scale + bias, masked) v (Vaswani et al. 2017, eq. 1), building the full
 * [tq, tk] weight matrix. The reference form: exact, differentiable by tfjs, O(tq·tk) memory.
 */
export function attentionNaive(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: AttentionOptions,
  geometry: AttentionGeometry,
): AttentionResult {
  return tf.tidy(() => {
    const { logits, keep } = scoresOf(q, k, options, geometry);
    const weights = dropWeights(
      normalizeScores(logits, keep, options),
      options.dropout ?? 0,
      options.seed,
    );
    const output = tf.matMul(weights, repeatKvHeads(v, geometry.heads)) as tf.Tensor4D;
    return options.returnWeights ? { output, weights } : { output };
  });
}
