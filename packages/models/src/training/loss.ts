import * as tf from '@tensorflow/tfjs-core';
import { crossEntropyRows } from './cross-entropy-kernel';

/**
 * Mean cross-entropy of `logits` `[batch, time, vocab]` against `targets` `[batch, time]`
 * (int32), weighted per position by `weights` (default all ones). One fused kernel with its
 * gradient where the backend has it (the softmax and one-hot never built).
 */
export function crossEntropy(
  logits: tf.Tensor3D,
  targets: tf.Tensor2D,
  weights?: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() => {
    const rows = crossEntropyRows(logits, targets);
    if (rows) {
      if (!weights) return tf.mean(rows) as tf.Scalar;
      const w = tf.reshape(weights, [-1]);
      return tf.div(tf.sum(tf.mul(rows, w)), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
    }
    const vocab = logits.shape[2];
    const logp = tf.logSoftmax(tf.reshape(logits, [-1, vocab]));
    // A one-hot product, not a gather: a target outside the vocabulary picks 0 instead of failing.
    const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(targets, [-1]), vocab)), -1);
    if (!weights) return tf.neg(tf.mean(picked)) as tf.Scalar;
    const w = tf.reshape(weights, [-1]);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, w))), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
  });
}
