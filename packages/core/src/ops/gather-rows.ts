import * as tf from '@tensorflow/tfjs-core';
import { withCustomGradient } from './custom-grad';

/**
 * Row lookup with a scatter-add gradient. tf.gather's own gradient needs the
 * UnsortedSegmentSum kernel, which the wasm backend lacks; ScatterNd sums
 * duplicate indices the same way and exists on every backend.
 */
export function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const lookup = withCustomGradient<[tf.Tensor, tf.Tensor]>((t, rows, save) => {
    save([rows]);
    return {
      value: tf.gather(t, rows),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.scatterND(tf.expandDims(saved[0]!, 1), dy, table.shape),
        tf.zerosLike(saved[0]!),
      ],
    };
  });
  return lookup(table, ids) as tf.Tensor2D;
}
