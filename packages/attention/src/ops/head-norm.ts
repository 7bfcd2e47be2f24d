import * as tf from '@tensorflow/tfjs-core';
import { checkInt, checkRank } from '@attnkit/core';

/**
 * λ_init = 0.8 - 0.6·exp(-0.3·l) for the 0-based layer index l (Ye et al. 2024, DIFF
 * Transformer, sec. 2.1, written there with l - 1 for 1-based layers). Heads are scaled by
 * 1 - λ_init after their normalisation (DIFF sec. 2.2; MTA's "depth scaling", sec. 3.3).
 */
export function lambdaInit(layerIndex: number): number {
  checkInt('lambdaInit', 'layerIndex', layerIndex, 0);
  return 0.8 - 0.6 * Math.exp(-0.3 * layerIndex);
}

/** How each head's output [batch, heads, time, dim] is normalised over its own channels. */
export type HeadNormKind = 'rms' | 'group';

const headNorms: Record<HeadNormKind, (x: tf.Tensor, eps: number) => tf.Tensor> = {
  // RMSNorm per head (the DIFF and MTA reference code's "subln").
  rms: (x, eps) => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))),
  // GroupNorm with one group per head: zero mean, unit (biased) variance per head and token.
  group: (x, eps) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  },
};

/** Normalises each head's vector over its last axis, without affine parameters. */
export function headNorm(x: tf.Tensor4D, kind: HeadNormKind, eps = 1e-5): tf.Tensor4D {
  checkRank('headNorm', 'x', x, 4);
  return tf.tidy(() => headNorms[kind](x, eps) as tf.Tensor4D);
}
