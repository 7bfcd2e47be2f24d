import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape } from '@attnkit/core';

/**
 * Checks a padding mask `[batch, time]` (1 / true = token, 0 / false = padding, any dtype) against
 * the input it describes and returns it as float32 weights.
 */
export function paddingWeights(
  owner: string,
  argument: string,
  mask: tf.Tensor,
  batch: number,
  time: number,
): tf.Tensor2D {
  checkRank(owner, argument, mask, 2);
  if (mask.shape[0] !== batch || mask.shape[1] !== time) {
    throw new ShapeError(
      owner,
      argument,
      `shape [${batch},${time}] (batch, time of the input)`,
      formatShape(mask.shape),
    );
  }
  return tf.tidy(() => tf.cast(tf.notEqual(mask, 0), 'float32') as tf.Tensor2D);
}

/** `[batch, 1, 1, time]` boolean attention mask: every query sees only real tokens. */
export function keyMask(weights: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, t] = weights.shape;
    return tf.reshape(tf.greater(weights, 0), [b, 1, 1, t]) as tf.Tensor4D;
  });
}
