import * as tf from '@tensorflow/tfjs-core';
import { groupedHeadMatrix, mixHeads } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('mixHeads and groupedHeadMatrix', () => {
  const map = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 1) as tf.Tensor4D;

  it('out[:, o] = Σ_h map[:, h] · matrix[h, o]', () => {
    const matrix = tf.tensor2d([1, 2, 0, -1, 0.5, 3], [3, 2]);
    const [m0, m1, m2] = tf.split(map, 3, 1);
    const expected = tf.concat(
      [
        tf.addN([m0!, tf.mul(m1!, 0), tf.mul(m2!, 0.5)]),
        tf.addN([tf.mul(m0!, 2), tf.neg(m1!), tf.mul(m2!, 3)]),
      ],
      1,
    );
    expectClose(mixHeads(map, matrix), expected, { atol: 1e-5 });
    expectClose(mixHeads(map, tf.eye(3) as tf.Tensor2D), map, { atol: 0 });
  });

  it('a grouped kernel becomes a block-diagonal matrix', () => {
    const kernels = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
    expectClose(groupedHeadMatrix(kernels), [
      [1, 2, 0, 0],
      [3, 4, 0, 0],
      [0, 0, 5, 6],
      [0, 0, 7, 8],
    ]);
    expect(groupedHeadMatrix(tf.ones([1, 3, 3]) as tf.Tensor3D).shape).toEqual([3, 3]);
  });

  it('has gradients and leaks nothing', async () => {
    const kernels = tf.randomNormal([3, 1, 1], 0, 1, 'float32', 2) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const grads = tf.grads((m: tf.Tensor, k: tf.Tensor) =>
        tf.sum(tf.square(mixHeads(m as tf.Tensor4D, groupedHeadMatrix(k as tf.Tensor3D)))),
      )([map, kernels]);
      expect(grads[1]!.shape).toEqual([3, 1, 1]);
      tf.dispose(grads);
    });
  });

  it('rejects a matrix whose rows are not the heads, and non-square group kernels', () => {
    expect(() => mixHeads(map, tf.ones([2, 3]) as tf.Tensor2D)).toThrow(
      'mixHeads: matrix expected shape [3,hOut] (rows = heads of the map), got shape [2,3]',
    );
    expect(() => groupedHeadMatrix(tf.ones([2, 2, 3]) as tf.Tensor3D)).toThrow(
      'groupedHeadMatrix: kernels expected shape [groups,size,size] (square per group), got shape [2,2,3]',
    );
  });
});
