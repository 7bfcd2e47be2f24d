import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape } from '@attnkit/core';

const BLOCK = 'gaussianAdaptiveAttention';

export interface GaussianAdaptiveParams {
  /** δ [heads, G]: learned offsets of each Gaussian's mean from the data mean. */
  meanOffset: tf.Tensor2D;
  /** c [heads, G]: learned scales; each Gaussian's variance is c²·σ². */
  scale: tf.Tensor2D;
  /** [heads, G] mixture logits: given, the Gaussians are summed with softmax weights instead of multiplied. */
  mixLogits?: tf.Tensor2D;
  /** Added to the variance and the floor of the normaliser (default 1e-8). */
  eps?: number;
}

/**
 * Multi-head Gaussian adaptive attention (GAAM; Ioannides et al. 2024, sec. 3 and Alg. 1).
 * Per head, with the data's mean μ and unbiased variance σ² along `axis` of x
 * [batch, heads, n, m]:
 *
 *   z_g = (x - (μ + δ_g)) / sqrt(σ² + eps),   N_g = exp(-z_g² / (2 c_g²)) / sqrt(2π c_g²)
 *   mixture = Π_g N_g     (or Σ_g softmax(w)_g · exp(-z_g² / (2 c_g²)) with mixLogits)
 *   weights = mixture / max(Σ_axis mixture, eps),   output = x ⊙ weights
 *
 * Returns the output and the weights (the paper's attention), both shaped like x.
 */
export function gaussianAdaptiveAttention(
  x: tf.Tensor4D,
  axis: 2 | 3,
  params: GaussianAdaptiveParams,
): { output: tf.Tensor4D; weights: tf.Tensor4D } {
  checkRank(BLOCK, 'x', x, 4);
  const heads = x.shape[1];
  const count = x.shape[axis];
  for (const [name, t] of [
    ['meanOffset', params.meanOffset],
    ['scale', params.scale],
    ['mixLogits', params.mixLogits],
  ] as const) {
    if (t && (t.rank !== 2 || t.shape[0] !== heads || t.shape[1] !== params.meanOffset.shape[1])) {
      throw new ShapeError(
        BLOCK,
        name,
        `shape [${heads},G] (heads of x, as meanOffset)`,
        `shape ${formatShape(t.shape)}`,
      );
    }
  }
  if (count < 2) {
    throw new ShapeError(
      BLOCK,
      'x',
      `at least 2 entries along axis ${axis} (for the unbiased variance)`,
      `shape ${formatShape(x.shape)}`,
    );
  }
  const eps = params.eps ?? 1e-8;
  const gaussians = params.meanOffset.shape[1];
  return tf.tidy(() => {
    const mean = tf.mean(x, axis, true);
    const variance = tf.div(tf.sum(tf.square(tf.sub(x, mean)), axis, true), count - 1);
    const std = tf.sqrt(tf.add(variance, eps));
    const perHead = (t: tf.Tensor, g: number) =>
      tf.reshape(tf.slice(t, [0, g], [-1, 1]), [1, heads, 1, 1]);
    const mix = params.mixLogits ? tf.softmax(params.mixLogits) : undefined;
    let mixture: tf.Tensor | undefined;
    for (let g = 0; g < gaussians; g++) {
      const c = perHead(params.scale, g);
      const z = tf.div(tf.sub(x, tf.add(mean, perHead(params.meanOffset, g))), std);
      const bell = tf.exp(tf.neg(tf.div(tf.square(z), tf.mul(2, tf.square(c)))));
      if (mix) {
        const term = tf.mul(bell, perHead(mix, g));
        mixture = mixture ? tf.add(mixture, term) : term;
      } else {
        const density = tf.div(bell, tf.sqrt(tf.mul(2 * Math.PI, tf.square(c))));
        mixture = mixture ? tf.mul(mixture, density) : density;
      }
    }
    const weights = tf.div(mixture!, tf.maximum(tf.sum(mixture!, axis, true), eps));
    return { output: tf.mul(x, weights) as tf.Tensor4D, weights: weights as tf.Tensor4D };
  });
}
