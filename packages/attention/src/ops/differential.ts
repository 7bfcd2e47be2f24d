import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape } from '@attnkit/core';

/**
 * Differential attention's subtraction (Ye et al. 2024, eq. 1): heads come in pairs
 * (2h, 2h+1) = (softmax(Q1 K1ᵀ) V, softmax(Q2 K2ᵀ) V); returns first - λ·second,
 * [batch, 2H, t, e] -> [batch, H, t, e]. Works on outputs and on weight maps alike.
 */
export function differentialCombine(pairs: tf.Tensor4D, lambda: tf.Tensor | number): tf.Tensor4D {
  checkRank('differentialCombine', 'pairs', pairs, 4);
  const [b, twoH, t, e] = pairs.shape;
  if (twoH % 2 !== 0) {
    throw new ShapeError(
      'differentialCombine',
      'pairs',
      'an even number of heads (pairs of maps)',
      `shape ${formatShape(pairs.shape)}`,
    );
  }
  return tf.tidy(() => {
    const split = tf.reshape(pairs, [b, twoH / 2, 2, t * e]);
    const first = tf.slice(split, [0, 0, 0, 0], [-1, -1, 1, -1]);
    const second = tf.slice(split, [0, 0, 1, 0], [-1, -1, 1, -1]);
    return tf.reshape(tf.sub(first, tf.mul(second, lambda)), [b, twoH / 2, t, e]) as tf.Tensor4D;
  });
}
