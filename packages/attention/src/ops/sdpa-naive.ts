import * as tf from '@tensorflow/tfjs-core';
import { applyMask, combineMasks, softcap } from '@attnkit/core';
import type { AttentionOptions, AttentionResult } from './options';
import { repeatKvHeads, structuralMask, type AttentionGeometry } from './validate';
import { sinkAsTensor } from './sink';

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
    const { heads, scale } = geometry;
    const keys = repeatKvHeads(k, heads);
    const values = repeatKvHeads(v, heads);
    let logits: tf.Tensor = tf.mul(tf.matMul(q, keys, false, true), scale);
    if (options.logitSoftcap !== undefined) logits = softcap(logits, options.logitSoftcap);
    if (options.bias) logits = tf.add(logits, options.bias);
    const structural = structuralMask(
      options,
      geometry.queryPositions,
      geometry.keyPositions,
      options.querySegments,
      options.keySegments,
    );
    const booleanMask = options.mask?.dtype === 'bool' ? options.mask : undefined;
    if (options.mask && !booleanMask) logits = tf.add(logits, options.mask);
    logits = applyMask(logits, combineMasks(structural, booleanMask));
    let weights: tf.Tensor;
    if (options.sinkLogit !== undefined) {
      // Softmax with a sink: the sink joins the max and the denominator only.
      const sink = sinkAsTensor(options.sinkLogit, heads);
      const rowMax = tf.max(logits, -1, true);
      const max = tf.maximum(rowMax, tf.broadcastTo(sink, rowMax.shape));
      const ex = tf.exp(tf.sub(logits, max));
      weights = tf.div(ex, tf.add(tf.sum(ex, -1, true), tf.exp(tf.sub(sink, max))));
    } else {
      weights = tf.softmax(logits);
    }
    if ((options.dropout ?? 0) > 0) {
      const keep = tf.cast(
        tf.greaterEqual(
          tf.randomUniform(weights.shape, 0, 1, 'float32', options.seed),
          options.dropout!,
        ),
        'float32',
      );
      weights = tf.mul(weights, tf.div(keep, 1 - options.dropout!));
    }
    const output = tf.matMul(weights, values) as tf.Tensor4D;
    return options.returnWeights ? { output, weights: weights as tf.Tensor4D } : { output };
  });
}
