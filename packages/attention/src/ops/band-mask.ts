import * as tf from '@tensorflow/tfjs-core';
import { checkInt, maskToAdditive } from '@attnkit/core';

/**
 * Bidirectional local attention's band (Beltagy et al. 2020, Longformer, sec. 3.1: "each token
 * attends to ½w tokens on each side"): key j is visible to query i when |qp[i] - kp[j]| <= radius,
 * as a boolean [1, 1, tq, tk] mask.
 */
export function bandMask(
  queryPositions: number[],
  keyPositions: number[],
  radius: number,
): tf.Tensor4D {
  checkInt('bandMask', 'radius', radius, 0);
  return tf.tidy(() => {
    const q = tf.tensor2d(queryPositions, [queryPositions.length, 1], 'int32');
    const k = tf.tensor2d(keyPositions, [1, keyPositions.length], 'int32');
    const near = tf.lessEqual(tf.abs(tf.sub(q, k)), radius);
    return tf.reshape(near, [1, 1, queryPositions.length, keyPositions.length]) as tf.Tensor4D;
  });
}

/** `mask` (boolean or additive, or none) narrowed to the band; the same kind as `mask`. */
export function withBand(
  mask: tf.Tensor | undefined,
  queryPositions: number[],
  keyPositions: number[],
  radius: number,
): tf.Tensor {
  return tf.tidy(() => {
    const band = bandMask(queryPositions, keyPositions, radius);
    if (!mask) return band;
    return mask.dtype === 'bool' ? tf.logicalAnd(mask, band) : tf.add(mask, maskToAdditive(band));
  });
}
