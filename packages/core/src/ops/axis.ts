import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, formatShape } from '../errors';

/** Resolves a possibly negative axis, with an error naming the block. */
export function resolveAxis(block: string, x: tf.Tensor, axis: number): number {
  const resolved = axis < 0 ? x.rank + axis : axis;
  if (!Number.isInteger(axis) || resolved < 0 || resolved >= x.rank) {
    throw new ShapeError(
      block,
      'axis',
      `an axis of a rank-${x.rank} tensor`,
      `${axis} for shape ${formatShape(x.shape)}`,
    );
  }
  return resolved;
}

/**
 * Runs `fn` with `axis` moved to the last position and moves it back, so the
 * normalisers are written once for the last axis.
 */
export function alongLastAxis(
  x: tf.Tensor,
  axis: number,
  fn: (x: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  if (axis === x.rank - 1) return fn(x);
  return tf.tidy(() => {
    const perm = [...Array(x.rank).keys()];
    perm[axis] = x.rank - 1;
    perm[x.rank - 1] = axis;
    return tf.transpose(fn(tf.transpose(x, perm)), perm);
  });
}
