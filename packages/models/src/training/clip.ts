import * as tf from '@tensorflow/tfjs-core';

/**
 * Scales every gradient by `min(1, maxNorm / ||g||)` with `||g||` the norm over all of them
 * (Pascanu et al. 2013, Algorithm 1). Returns new tensors (the caller frees the old ones) and the
 * norm before clipping.
 */
export function clipByGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = tf.tidy(
    () => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]!,
  );
  const scale = Number.isFinite(maxNorm) && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  const out = new Map<string, tf.Tensor>();
  for (const [path, g] of grads) out.set(path, scale === 1 ? tf.clone(g) : tf.mul(g, scale));
  return { grads: out, norm };
}
