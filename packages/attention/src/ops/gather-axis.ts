import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '@attnkit/core';

/**
 * tf.gather(x, indices, axis) through core's gatherRows, whose gradient is a scatter: tf.gather's
 * own gradient (UnsortedSegmentSum) has no kernel on the wasm backend.
 */
export function gatherAxis<T extends tf.Tensor>(
  x: T,
  indices: ArrayLike<number> | tf.Tensor1D,
  axis: number,
): T {
  return tf.tidy(() => {
    const order = [axis, ...x.shape.map((_, i) => i).filter((i) => i !== axis)];
    const moved = tf.transpose(x, order);
    const rest = moved.shape.slice(1);
    const width = rest.reduce((a, b) => a * b, 1);
    const ids = indices instanceof tf.Tensor ? indices : tf.tensor1d(Array.from(indices), 'int32');
    const rows = gatherRows(tf.reshape(moved, [moved.shape[0]!, width]) as tf.Tensor2D, ids);
    const back = tf.reshape(rows, [ids.shape[0], ...rest]);
    const inverse = order.map((_, i) => order.indexOf(i));
    return tf.transpose(back, inverse) as T;
  });
}
