import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape } from '@attnkit/core';
import type { AttentionPart } from '@attnkit/attention';

const BLOCK = 'retrievedAttention';

/**
 * Softmax attention of each query over its own retrieved (key, value) pairs, Memorizing
 * Transformers' memory attention (Wu et al. 2022, sec. 3.2: each query attends its top-k
 * memories): q [b, h, tq, d], keys [b, h, tq, k, d], values [b, h, tq, k, dv] ->
 * output [b, h, tq, dv] and the log-sum-exp [b, h, tq] of its logits (for `mergeAttention`).
 * The retrieved pairs are constants (the memory is not differentiable, as in the paper); the
 * gradient reaches q. With k = every memory entry it is dense attention over the memory.
 */
export function retrievedAttention(
  q: tf.Tensor4D,
  keys: tf.Tensor5D,
  values: tf.Tensor5D,
  scale = 1 / Math.sqrt(q.shape[3]),
): AttentionPart {
  checkRank(BLOCK, 'q', q, 4);
  checkRank(BLOCK, 'keys', keys, 5);
  checkRank(BLOCK, 'values', values, 5);
  const [b, h, tq, d] = q.shape;
  const want = [b, h, tq, keys.shape[3], d];
  if (!tf.util.arraysEqual(keys.shape, want)) {
    throw new ShapeError(BLOCK, 'keys', `shape ${formatShape(want)}`, formatShape(keys.shape));
  }
  if (!tf.util.arraysEqual(values.shape.slice(0, 4), want.slice(0, 4))) {
    const wantV = `shape [${want.slice(0, 4).join(',')},dv]`;
    throw new ShapeError(BLOCK, 'values', wantV, formatShape(values.shape));
  }
  return tf.tidy(() => {
    const logits = tf.mul(tf.sum(tf.mul(tf.expandDims(q, 3), keys), -1), scale); // [b,h,tq,k]
    const logSumExp = tf.logSumExp(logits, -1) as tf.Tensor3D;
    const weights = tf.exp(tf.sub(logits, tf.expandDims(logSumExp, -1)));
    const output = tf.sum(tf.mul(tf.expandDims(weights, -1), values), 3) as tf.Tensor4D;
    return { output, logSumExp };
  });
}

/**
 * Memorizing Transformers' gate (Wu et al. 2022, sec. 3.2): V_a = V_m ⊙ g + V_c ⊙ (1 - g) with
 * g = σ(b_g), one learned scalar b_g per head; memory [b, h, t, dv], local alike, gate [h].
 */
export function gatedCombine(
  memory: tf.Tensor4D,
  local: tf.Tensor4D,
  gateLogits: tf.Tensor1D,
): tf.Tensor4D {
  return tf.tidy(() => {
    const g = tf.reshape(tf.sigmoid(gateLogits), [1, -1, 1, 1]);
    return tf.add(tf.mul(memory, g), tf.mul(local, tf.sub(1, g))) as tf.Tensor4D;
  });
}
