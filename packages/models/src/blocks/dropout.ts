import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@attnkit/core';

/**
 * Inverted dropout (Srivastava et al. 2014) drawing its mask from a seeded `Rng`, so a training
 * run replays exactly from a checkpoint on any backend.
 */
export function seededDropout<T extends tf.Tensor>(
  x: T,
  rate: number,
  rng: Rng,
  training: boolean,
): T {
  if (!training || rate <= 0) return x;
  return tf.tidy(() => {
    const keep = new Float32Array(x.size);
    for (let i = 0; i < keep.length; i++) keep[i] = rng.uniform() >= rate ? 1 / (1 - rate) : 0;
    return tf.mul(x, tf.tensor(keep, x.shape)) as T;
  });
}
