import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { gatherRows } from '@attnkit/core';

/**
 * How an encoder turns `[batch, time, dModel]` into one vector per sequence:
 * `cls`: the first position (BERT, Devlin et al. 2019, sec. 3; ViT's class token);
 * `mean`: the mean over real tokens (Sentence-BERT, Reimers & Gurevych 2019);
 * `last`: the last real token (decoder-based embedders, e.g. Neelakantan et al. 2022);
 * `latent`: NV-Embed latent-attention pooling (Lee et al. 2024, sec. 3.2).
 */
export const poolingSchema = z.enum(['cls', 'mean', 'last', 'latent']);
export type Pooling = z.infer<typeof poolingSchema>;

/**
 * Pools `h` `[batch, time, d]` by `cls`, `mean` or `last`; `weights` `[batch, time]` (1 = token,
 * 0 = padding) restricts `mean` and `last` to real tokens.
 */
export function poolHidden(
  h: tf.Tensor3D,
  kind: Exclude<Pooling, 'latent'>,
  weights?: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, t, d] = h.shape;
    if (kind === 'cls') return tf.reshape(tf.slice(h, [0, 0, 0], [b, 1, d]), [b, d]);
    if (kind === 'mean') return maskedMean(h, weights);
    // last: the real token with the highest index in each row (padding may sit anywhere)
    const w = weights ?? tf.ones([b, t]);
    const ranked = tf.mul(w, tf.range(1, t + 1, 1, 'float32'));
    const rows = tf.add(
      tf.argMax(ranked, 1),
      tf.mul(tf.range(0, b, 1, 'int32'), tf.scalar(t, 'int32')),
    );
    return gatherRows(tf.reshape(h, [b * t, d]) as tf.Tensor2D, rows as tf.Tensor1D);
  });
}

/** Mean over time of `h` `[batch, time, d]`, weighted by `weights` `[batch, time]` when given. */
export function maskedMean(h: tf.Tensor3D, weights?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    if (!weights) return tf.mean(h, 1) as tf.Tensor2D;
    const w = tf.expandDims(weights, 2);
    return tf.div(tf.sum(tf.mul(h, w), 1), tf.maximum(tf.sum(w, 1), 1)) as tf.Tensor2D;
  });
}
