// ScatterNd on native (csrc/scatter.cc) against the cpu kernel: row scatters with repeated
// indices (summed in update order: equal bit for bit), multi-dimensional indices, scalar
// slices, and the cases handed to the cpu kernel (int32 updates, an index outside the output).
import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '@attnkit/core';
import { expectSame, onBoth, rand } from './helpers';

describe('ScatterNd on native', () => {
  it('sums rows at repeated indices as the cpu kernel does', async () => {
    const ids = tf.tensor2d([[3], [0], [3], [5], [3]], [5, 1], 'int32');
    expectSame(await onBoth(() => tf.scatterND(ids, rand([5, 7], 1), [6, 7])), 0);
    ids.dispose();
  });

  it('takes multi-dimensional indices and scalar slices', async () => {
    const idx = tf.tensor2d(
      [
        [1, 2],
        [0, 0],
        [1, 2],
        [2, 1],
      ],
      [4, 2],
      'int32',
    );
    expectSame(await onBoth(() => tf.scatterND(idx, rand([4, 3], 2), [3, 4, 3])), 0);
    expectSame(await onBoth(() => tf.scatterND(idx, rand([4], 3), [3, 4])), 0);
  });

  it('hands int32 updates and bad indices to the cpu kernel', async () => {
    const ids = tf.tensor2d([[1], [1]], [2, 1], 'int32');
    expectSame(await onBoth(() => tf.scatterND(ids, tf.tensor1d([2, 5], 'int32'), [3])));
    const outside = tf.tensor2d([[4]], [1, 1], 'int32');
    const [cpu, native] = await onBoth(() => tf.scatterND(outside, tf.ones([1, 2]), [3, 2]));
    expect(cpu.error).toMatch(/Invalid indices/);
    expect(native.error).toBe(cpu.error);
    tf.dispose([ids, outside]);
  });

  it('gives gatherRows (the embedding lookup) the cpu gradient', async () => {
    const ids = tf.tensor1d([2, 0, 2, 1], 'int32');
    expectSame(
      await onBoth(() =>
        tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(gatherRows(t as tf.Tensor2D, ids), rand([4, 5], 4))),
        )(rand([3, 5], 5)),
      ),
      0,
    );
    ids.dispose();
  });
});
