// DepthwiseConv2dNative on native (csrc/depthwise.cc) against the cpu kernel: the subset it
// runs (NHWC, stride 1, valid, multiplier 1) on odd and size-1 shapes, the cases it hands back
// to the cpu kernel, and the short causal convolution's gradients built on it.
import * as tf from '@tensorflow/tfjs-core';
import { causalConv1d } from '@attnkit/attention';
import { expectSame, onBoth, rand } from './helpers';

/** [x shape NHWC, filter shape [fh, fw, C, m], strides, pad] */
const NATIVE: Array<[string, number[], number[]]> = [
  ['size 1', [1, 1, 1, 1], [1, 1, 1, 1]],
  ['the short conv shape (time as width, kernel 4)', [2, 1, 13, 7], [1, 4, 7, 1]],
  ['a 2-D filter, odd sizes', [3, 5, 6, 9], [2, 3, 9, 1]],
  ['filter as large as the input', [1, 3, 4, 2], [3, 4, 2, 1]],
  ['many channels', [1, 1, 20, 130], [1, 3, 130, 1]],
];

describe('DepthwiseConv2dNative on native', () => {
  it.each(NATIVE)('matches cpu: %s', async (_n, xs, fs) => {
    expectSame(
      await onBoth(() =>
        tf.depthwiseConv2d(rand(xs, 1) as tf.Tensor4D, rand(fs, 2) as tf.Tensor4D, 1, 'valid'),
      ),
    );
  });

  it('hands strides, same padding, dilations and multipliers to the cpu kernel', async () => {
    const x = () => rand([2, 5, 7, 3], 3) as tf.Tensor4D;
    const f = (m: number) => rand([2, 2, 3, m], 4) as tf.Tensor4D;
    expectSame(await onBoth(() => tf.depthwiseConv2d(x(), f(1), 2, 'valid')));
    expectSame(await onBoth(() => tf.depthwiseConv2d(x(), f(1), 1, 'same')));
    expectSame(await onBoth(() => tf.depthwiseConv2d(x(), f(1), 1, 'valid', 'NHWC', 2)));
    expectSame(await onBoth(() => tf.depthwiseConv2d(x(), f(2), 1, 'valid')));
  });

  it('gives the causal convolution the same outputs and gradients', async () => {
    const run = () => {
      const x = rand([2, 9, 5], 5) as tf.Tensor3D;
      const w = rand([5, 4], 6) as tf.Tensor2D;
      const state = rand([2, 3, 5], 7) as tf.Tensor3D;
      const wy = rand([2, 9, 5], 8);
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            causalConv1d(a as tf.Tensor3D, b as tf.Tensor2D, {
              initialState: c as tf.Tensor3D,
              activation: 'silu',
            }).output,
            wy,
          ),
        );
      return [causalConv1d(x, w, { initialState: state }).output, ...tf.grads(f)([x, w, state])];
    };
    expectSame(await onBoth(run), 1e-4);
  });
});
