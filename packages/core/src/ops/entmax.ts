import * as tf from '@tensorflow/tfjs-core';
import { alongLastAxis, resolveAxis } from './axis';
import { checkFloat } from './tensor-checks';
import { withCustomGradient } from './custom-grad';

/**
 * 1.5-entmax (Peters, Niculae & Martins 2019), exact sort-based solution:
 * p = [z/2 - τ]₊², τ from the sorted values (their Algorithm 2 with α = 1.5).
 * Gradient (their eq. 10 with α = 1.5): with g = √p, J v = g ⊙ v - g (gᵀv)/Σg.
 */
export function entmax15(x: tf.Tensor, axis = -1): tf.Tensor {
  checkFloat('entmax15', 'x', x);
  return alongLastAxis(x, resolveAxis('entmax15', x, axis), entmaxLastAxis);
}

function entmaxLastAxis(x: tf.Tensor): tf.Tensor {
  const op = withCustomGradient<[tf.Tensor]>((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.tidy(() => {
      const n = input.shape[input.rank - 1]!;
      // One entry: weight 1 (tf.oneHot below needs depth >= 2). Decoding's first key hits this.
      if (n === 1) return tf.onesLike(input);
      // entmax is shift invariant; centring keeps the squares well conditioned.
      const z = tf.div(tf.sub(input, tf.max(input, -1, true)), 2);
      const sorted = tf.topk(z, n, true).values;
      const k = tf.range(1, n + 1, 1, 'float32');
      const mean = tf.div(tf.cumsum(sorted, z.rank - 1), k);
      const meanSq = tf.div(tf.cumsum(tf.square(sorted), z.rank - 1), k);
      const ss = tf.mul(k, tf.sub(meanSq, tf.square(mean)));
      const delta = tf.div(tf.sub(1, ss), k);
      const tauK = tf.sub(mean, tf.sqrt(tf.relu(delta)));
      const supportSize = tf.sum(tf.cast(tf.lessEqual(tauK, sorted), 'int32'), -1);
      // Pick tau at the support size with a one-hot mask (batched gather misbehaves on wasm).
      const pick = tf.oneHot(tf.sub(supportSize, tf.scalar(1, 'int32')), n);
      const tau = tf.sum(tf.mul(tauK, pick), -1, true);
      return tf.square(tf.relu(tf.sub(z, tau)));
    });
    save([p]);
    return {
      value: p,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const g = tf.sqrt(saved[0]!);
          const dx = tf.mul(dy, g);
          const q = tf.div(tf.sum(dx, -1, true), tf.sum(g, -1, true));
          return tf.sub(dx, tf.mul(q, g));
        }),
    };
  });
  return op(x);
}
