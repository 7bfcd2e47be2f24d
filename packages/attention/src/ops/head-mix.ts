import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape } from '@attnkit/core';

/**
 * Mixes attention maps across heads: out[:, o] = Σ_h map[:, h] · matrix[h, o], for
 * map [batch, hIn, tq, tk] and matrix [hIn, hOut]. Talking-heads attention (Shazeer et al.
 * 2020, sec. 4: P_l before the softmax, P_w after) and MTA's head convolution (Golovneva
 * et al. 2025, sec. 3.2, a block-diagonal matrix from `groupedHeadMatrix`) are both this.
 */
export function mixHeads(map: tf.Tensor4D, matrix: tf.Tensor2D, block = 'mixHeads'): tf.Tensor4D {
  checkRank(block, 'map', map, 4);
  checkRank(block, 'matrix', matrix, 2);
  const [b, hIn, tq, tk] = map.shape;
  if (matrix.shape[0] !== hIn) {
    throw new ShapeError(
      block,
      'matrix',
      `shape [${hIn},hOut] (rows = heads of the map)`,
      `shape ${formatShape(matrix.shape)}`,
    );
  }
  const hOut = matrix.shape[1];
  return tf.tidy(() => {
    // Heads last, one matmul over every (batch, query, key) cell, heads back in place.
    const cells = tf.reshape(tf.transpose(map, [0, 2, 3, 1]), [b * tq * tk, hIn]);
    const mixed = tf.reshape(tf.matMul(cells, matrix), [b, tq, tk, hOut]);
    return tf.transpose(mixed, [0, 3, 1, 2]) as tf.Tensor4D;
  });
}

/**
 * A block-diagonal [groups·size, groups·size] head-mixing matrix from per-group kernels
 * `[groups, size, size]`: heads mix only within their group of `size` consecutive heads.
 */
export function groupedHeadMatrix(kernels: tf.Tensor3D): tf.Tensor2D {
  checkRank('groupedHeadMatrix', 'kernels', kernels, 3);
  const [groups, size, size2] = kernels.shape;
  if (size !== size2) {
    throw new ShapeError(
      'groupedHeadMatrix',
      'kernels',
      'shape [groups,size,size] (square per group)',
      `shape ${formatShape(kernels.shape)}`,
    );
  }
  const heads = groups * size;
  return tf.tidy(() => {
    if (groups === 1) return tf.reshape(kernels, [size, size]) as tf.Tensor2D;
    const rows = Array.from({ length: groups }, (_, g) =>
      tf.pad(tf.reshape(tf.slice(kernels, [g, 0, 0], [1, -1, -1]), [size, size]), [
        [0, 0],
        [g * size, heads - (g + 1) * size],
      ]),
    );
    return tf.concat(rows, 0) as tf.Tensor2D;
  });
}
