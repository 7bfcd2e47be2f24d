import * as tf from '@tensorflow/tfjs-core';
import { checkInt, checkRank } from '../checks';
import { ShapeError, formatShape } from '../errors';
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

/**
 * gatherRows' transpose: out[ids[i]] += rows[i], [numRows, d], rows of repeated ids summed
 * (tfjs' ScatterNd has no gradient; this one's gradient gathers dy at ids).
 */
export function scatterAddRows(rows: tf.Tensor2D, ids: tf.Tensor1D, numRows: number): tf.Tensor2D {
  const block = 'scatterAddRows';
  checkRank(block, 'rows', rows, 2);
  checkRank(block, 'ids', ids, 1);
  checkInt(block, 'numRows', numRows, 1);
  if (ids.dtype !== 'int32' || ids.shape[0] !== rows.shape[0]) {
    throw new ShapeError(
      block,
      'ids',
      `int32 [${rows.shape[0]}] (one per row)`,
      `${ids.dtype} ${formatShape(ids.shape)}`,
    );
  }
  const scatter = withCustomGradient<[tf.Tensor, tf.Tensor]>((r, at, save) => {
    save([at]);
    return {
      value: tf.scatterND(tf.expandDims(at, 1), r, [numRows, rows.shape[1]]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.gather(dy, saved[0]!),
        tf.zerosLike(saved[0]!),
      ],
    };
  });
  return scatter(rows, ids) as tf.Tensor2D;
}
