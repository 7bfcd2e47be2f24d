import * as tf from '@tensorflow/tfjs-core';
import { entmax15 } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('entmax15', () => {
  it('sums to one, is sparse for spread scores and dense for close ones', () => {
    const p = entmax15(tf.tensor2d([3, 0, -3, 0.1, 0, -0.1], [2, 3]));
    expectClose(tf.sum(p, -1), [1, 1], { atol: 1e-5 });
    const v = Array.from(p.dataSync());
    expect(v[2]).toBe(0);
    expect(v.slice(3).every((t) => t > 0)).toBe(true);
  });

  it('solves [z/2 - tau]^2 with sum 1 (two-element closed form)', () => {
    // z = [1, 0]: both in support, (0.5 - tau)^2 + tau^2 = 1 -> tau = (0.5 - sqrt(1.75))/2
    const tau = (0.5 - Math.sqrt(1.75)) / 2;
    expectClose(entmax15(tf.tensor1d([1, 0])), [(0.5 - tau) ** 2, tau ** 2], { atol: 1e-6 });
  });

  it('is shift invariant and works along any axis', () => {
    const x = tf.tensor2d([0.3, 1.2, -0.4, 2, 0.1, 0.5], [2, 3]);
    expectClose(entmax15(tf.add(x, 100)), entmax15(x), { atol: 1e-5 });
    expectClose(entmax15(x, 0), tf.transpose(entmax15(tf.transpose(x))));
  });

  it('has a custom gradient matching finite differences', () => {
    finiteDifferenceCheck(
      (t) => entmax15(t),
      [tf.tensor2d([0.9, 0.4, -0.7, 0.1, 1.3, 0.2, -0.4, 0.8], [2, 4])],
      { epsilon: 1e-3 },
    );
  });

  it('leaks nothing in forward and backward', async () => {
    await expectNoLeaks(() => {
      const x = tf.tensor2d([1, 0.5, 0, 2], [2, 2]);
      tf.dispose([x, tf.grad((t: tf.Tensor) => tf.sum(tf.square(entmax15(t))))(x)]);
    });
  });
});
