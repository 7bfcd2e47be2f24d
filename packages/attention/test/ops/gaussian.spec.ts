import * as tf from '@tensorflow/tfjs-core';
import { gaussianAdaptiveAttention } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('gaussianAdaptiveAttention (GAAM)', () => {
  const x = tf.tensor4d([[[[1, 2, 3, 6]]]]); // one head, one token, four channels
  const params = {
    meanOffset: tf.tensor2d([[0.5]]),
    scale: tf.tensor2d([[1.5]]),
  };

  it('weights one Gaussian of the standardised input, normalised over the axis', () => {
    const mean = 3;
    const std = Math.sqrt((4 + 1 + 0 + 9) / 3 + 1e-8); // unbiased
    const bell = [1, 2, 3, 6].map((v) => {
      const z = (v - (mean + 0.5)) / std;
      return Math.exp(-(z * z) / (2 * 1.5 * 1.5)) / Math.sqrt(2 * Math.PI * 1.5 * 1.5);
    });
    const total = bell.reduce((a, b) => a + b);
    const { output, weights } = gaussianAdaptiveAttention(x, 3, params);
    expectClose(weights, [[[bell.map((b) => b / total)]]], { atol: 1e-6 });
    expectClose(output, [[[bell.map((b, i) => ([1, 2, 3, 6][i]! * b) / total)]]], { atol: 1e-6 });
  });

  it('product of Gaussians = one Gaussian with the combined precision (same offsets)', () => {
    const two = {
      meanOffset: tf.tensor2d([[0.5, 0.5]]),
      scale: tf.tensor2d([[1, 2]]),
    };
    // 1/c² = 1/1 + 1/4  =>  c = sqrt(4/5)
    const one = { meanOffset: tf.tensor2d([[0.5]]), scale: tf.tensor2d([[Math.sqrt(0.8)]]) };
    expectClose(
      gaussianAdaptiveAttention(x, 3, two).weights,
      gaussianAdaptiveAttention(x, 3, one).weights,
      { atol: 1e-6 },
    );
  });

  it('has gradients for x and every parameter and leaks nothing', async () => {
    const input = tf.randomNormal([2, 2, 3, 4], 0, 1, 'float32', 1);
    const p = [
      tf.tensor2d([0, 0.4, -0.3, 0.2], [2, 2]),
      tf.tensor2d([1, 2, 1.5, 0.8], [2, 2]),
      tf.zeros([2, 2]),
    ];
    await expectNoLeaks(() => {
      const grads = tf.grads((xx: tf.Tensor, m: tf.Tensor, s: tf.Tensor, w: tf.Tensor) =>
        tf.sum(
          tf.square(
            gaussianAdaptiveAttention(xx as tf.Tensor4D, 2, {
              meanOffset: m as tf.Tensor2D,
              scale: s as tf.Tensor2D,
              mixLogits: w as tf.Tensor2D,
            }).output,
          ),
        ),
      )([input, ...p]);
      for (const g of grads)
        expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0])).toBeGreaterThan(0);
      tf.dispose(grads);
    });
  });

  it('rejects parameters of the wrong shape and an axis of one entry', () => {
    expect(() =>
      gaussianAdaptiveAttention(x, 3, { ...params, scale: tf.ones([2, 1]) as tf.Tensor2D }),
    ).toThrow(
      'gaussianAdaptiveAttention: scale expected shape [1,G] (heads of x, as meanOffset), got shape [2,1]',
    );
    expect(() => gaussianAdaptiveAttention(x, 2, params)).toThrow(
      'gaussianAdaptiveAttention: x expected at least 2 entries along axis 2 (for the unbiased variance), got shape [1,1,1,4]',
    );
  });
});
