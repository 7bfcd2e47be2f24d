import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, describe, formatShape } from '@attnkit/core';
import type { FeatureMap } from './feature-maps';

/**
 * Fastmax's normalisation of queries and keys (Gerami et al. 2024, "FAST: Factorizable Attention
 * for Speeding up Transformers", § 2), per token: the vector minus its mean over the features,
 * divided by its norm, so s = q̂·k̂ lies in [-1, 1] and the score 1 + s + s²/2 in [½, 2.5] (the
 * range the authors' kernels assume). The authors' code divides by the
 * largest norm over the sequence instead, which is not causal. `eps` keeps a constant vector
 * (zero after centring) finite: x̃ / √(|x̃|² + eps).
 */
export function fastmaxNormalize(x: tf.Tensor, eps = 1e-6): tf.Tensor {
  if (!(x instanceof tf.Tensor) || x.rank < 1) {
    const got = x instanceof tf.Tensor ? 'a scalar' : describe(x);
    throw new ShapeError('fastmaxNormalize', 'x', 'a tensor of rank >= 1', got);
  }
  return tf.tidy(() => {
    const centred = tf.sub(x, tf.mean(x, -1, true));
    return tf.mul(centred, tf.rsqrt(tf.add(tf.sum(tf.square(centred), -1, true), eps)));
  });
}

/**
 * φ with φ(q)·φ(k) = 1 + s + s²/2, s = q̂·k̂ (§ 2: f(x) = Σ_{ℓ≤p} x^ℓ/ℓ! with p = 2,
 * factorised into sums over keys): the registered 'taylor' map (which scales by d^-¼ so that its s is q·k/√d) applied
 * to d^¼ · q̂, so its s is exactly q̂·k̂.
 */
export function fastmaxFeatures(
  x: tf.Tensor,
  taylor: FeatureMap,
  role: 'query' | 'key',
): tf.Tensor {
  const d = x.shape[x.rank - 1]!;
  if (taylor.outDim !== 1 + d + d * d) {
    throw new ShapeError(
      'fastmaxFeatures',
      'taylor',
      `the 'taylor' map for headDim ${d} (outDim ${1 + d + d * d})`,
      `a map with outDim ${taylor.outDim} for x of shape ${formatShape(x.shape)}`,
    );
  }
  return tf.tidy(() => taylor.apply(tf.mul(fastmaxNormalize(x), Math.pow(d, 0.25)), role));
}
