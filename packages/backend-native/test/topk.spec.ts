// TopK on native (csrc/topk.cc) against the cpu kernel: values and indices, ties to the lower
// index, k = 1 and k = n, size-1 rows, and the cases handed to the cpu kernel (unsorted,
// int32, NaN / infinities).
import * as tf from '@tensorflow/tfjs-core';
import { expectSame, onBoth, rand } from './helpers';

/** Both outputs of topk, as onBoth takes them. */
const topk = (x: tf.Tensor, k: number, sorted?: boolean) => {
  const { values, indices } = tf.topk(x, k, sorted);
  return [values, indices];
};

describe('TopK on native', () => {
  it.each([
    ['rows of 64, k 16', [3, 4, 64], 16],
    ['k 1', [5, 7], 1],
    ['k = n', [2, 9], 9],
    ['one value', [1], 1],
    ['long rows', [2, 1000], 37],
  ] as Array<[string, number[], number]>)('matches cpu: %s', async (_n, shape, k) => {
    expectSame(await onBoth(() => topk(rand(shape, 1), k)));
  });

  it('breaks ties towards the lower index, -0 equal to 0', async () => {
    const x = tf.tensor2d([
      [1, 3, 3, 2, 3, 1],
      [0, -0, 0, -1, -0, 0],
    ]);
    const [, native] = await onBoth(() => tf.topk(x, 4).indices);
    expect(Array.from(native.values ?? [])).toEqual([1, 2, 4, 3, 0, 1, 2, 4]);
    expectSame(await onBoth(() => topk(x, 4)));
    x.dispose();
  });

  it('hands unsorted, int32 and non-finite inputs to the cpu kernel', async () => {
    expectSame(await onBoth(() => topk(rand([3, 8], 2), 3, false)));
    expectSame(await onBoth(() => topk(tf.tensor1d([4, 1, 9, 9], 'int32'), 2)));
    expectSame(await onBoth(() => topk(tf.tensor1d([1, Infinity, -Infinity, 2, 5]), 3)));
    expectSame(
      await onBoth(() =>
        topk(
          tf.tensor2d([
            [1, 0.5],
            [NaN, 2],
          ]),
          1,
        ),
      ),
    );
  });
});
