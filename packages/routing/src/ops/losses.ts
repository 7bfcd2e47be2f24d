import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkRank } from '@attnkit/core';

/**
 * Switch load-balancing loss (Fedus et al. 2021, eq. 4 without α): N · Σ_i f_i · P_i, where
 * f_i is the fraction of routing assignments that chose expert i (before capacity drops; for
 * top-k, out of tokens·k) and P_i the mean router probability of expert i. Equals 1 when
 * perfectly balanced. Only P carries a gradient, as in the paper.
 */
export function loadBalanceLoss(probs: tf.Tensor2D, demand: readonly number[]): tf.Scalar {
  checkRank('load-balance-loss', 'probs', probs, 2);
  const E = probs.shape[1];
  if (demand.length !== E) {
    throw new ConfigError('load-balance-loss', 'demand', `${E} counts`, `${demand.length}`);
  }
  const total = demand.reduce((a, b) => a + b, 0);
  return tf.tidy(() => {
    const f = tf.tensor1d(demand.map((d) => (total > 0 ? d / total : 0)));
    const P = tf.mean(probs, 0);
    return tf.mul(E, tf.sum(tf.mul(f, P))) as tf.Scalar;
  });
}

/**
 * Router z-loss (Zoph et al. 2022, ST-MoE, eq. 5): mean over tokens of (log Σ_j exp(x_j))²,
 * which keeps router logits small for numerical stability.
 */
export function routerZLoss(logits: tf.Tensor2D): tf.Scalar {
  checkRank('router-z-loss', 'logits', logits, 2);
  return tf.tidy(() => tf.mean(tf.square(tf.logSumExp(logits, 1))) as tf.Scalar);
}
