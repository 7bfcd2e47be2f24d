import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, sparsemax } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('sparsemax', () => {
  it('projects onto the simplex and zeroes small scores', () => {
    expectClose(sparsemax(tf.tensor1d([2, 1, -1])), [1, 0, 0]);
    expectClose(sparsemax(tf.tensor1d([0.5, 0.3, -1])), [0.6, 0.4, 0], { atol: 1e-6 });
    const p = sparsemax(tf.randomNormal([4, 9], 0, 2, 'float32', 1));
    expectClose(tf.sum(p, -1), [1, 1, 1, 1], { atol: 1e-5 });
    expect(Math.min(...Array.from(p.dataSync()))).toBeGreaterThanOrEqual(0);
  });

  it('works along a non-last axis', () => {
    const x = tf.tensor2d([0.5, 2, 0.3, 1, -1, -1], [3, 2]);
    expectClose(sparsemax(x, 0), tf.transpose(sparsemax(tf.transpose(x))));
  });

  it('has a custom gradient matching finite differences', () => {
    finiteDifferenceCheck(
      (t) => sparsemax(t),
      [tf.tensor2d([0.9, 0.4, -0.7, 0.1, 1.3, 0.2, -0.4, 0.8], [2, 4])],
      { epsilon: 1e-3 },
    );
  });

  it('rejects integer input and a bad axis', () => {
    expect(() => sparsemax(tf.tensor1d([1], 'int32'))).toThrow(ShapeError);
    expect(() => sparsemax(tf.ones([2]), 1)).toThrow(/axis/);
  });

  it('leaks nothing in forward and backward', async () => {
    await expectNoLeaks(() => {
      const x = tf.tensor2d([1, 0.5, 0, 2], [2, 2]);
      tf.dispose([x, tf.grad((t: tf.Tensor) => tf.sum(tf.square(sparsemax(t))))(x)]);
    });
  });
});
