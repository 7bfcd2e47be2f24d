import * as tf from '@tensorflow/tfjs-core';
import { alongLastAxis, resolveAxis } from './axis';
import { checkFloat } from './tensor-checks';
import { withCustomGradient } from './custom-grad';

/**
 * Sparsemax (Martins & Astudillo 2016): the Euclidean projection onto the simplex,
 * p = max(z - τ, 0) with τ from the sorted values (eq. 3 and Algorithm 1).
 * Gradient (eq. 14): J v = s ⊙ (v - Σ_{j∈S} v_j / |S|), s the support indicator.
 */
export function sparsemax(x: tf.Tensor, axis = -1): tf.Tensor {
  checkFloat('sparsemax', 'x', x);
  return alongLastAxis(x, resolveAxis('sparsemax', x, axis), sparsemaxLastAxis);
}

function sparsemaxLastAxis(x: tf.Tensor): tf.Tensor {
  const op = withCustomGradient<[tf.Tensor]>((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.tidy(() => {
      const n = input.shape[input.rank - 1]!;
      // sparsemax is shift invariant; centring keeps the cumulative sums accurate.
      const z = tf.sub(input, tf.max(input, -1, true));
      const sorted = tf.topk(z, n, true).values;
      const cumulative = tf.cumsum(sorted, z.rank - 1);
      const k = tf.range(1, n + 1, 1, 'float32');
      const inSupport = tf.cast(tf.greater(tf.add(1, tf.mul(k, sorted)), cumulative), 'float32');
      const supportSize = tf.sum(inSupport, -1, true);
      const tau = tf.div(tf.sub(tf.sum(tf.mul(sorted, inSupport), -1, true), 1), supportSize);
      return tf.relu(tf.sub(z, tau));
    });
    save([p]);
    return {
      value: p,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const support = tf.cast(tf.greater(saved[0]!, 0), 'float32');
          const mean = tf.div(tf.sum(tf.mul(dy, support), -1, true), tf.sum(support, -1, true));
          return tf.mul(support, tf.sub(dy, mean));
        }),
    };
  });
  return op(x);
}
