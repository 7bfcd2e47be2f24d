import * as tf from '@tensorflow/tfjs-core';
import { differentialCombine, headNorm, lambdaInit } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

describe('lambdaInit, headNorm and differentialCombine', () => {
  it('λ_init follows 0.8 - 0.6·exp(-0.3·l) and rejects negative layers', () => {
    expect(lambdaInit(0)).toBeCloseTo(0.2, 12);
    expect(lambdaInit(5)).toBeCloseTo(0.8 - 0.6 * Math.exp(-1.5), 12);
    expect(() => lambdaInit(-1)).toThrow('lambdaInit: layerIndex expected an integer >= 0, got -1');
  });

  it("'rms' gives unit mean square per head, 'group' zero mean and unit variance", () => {
    const x = tf.randomNormal([2, 3, 4, 8], 2, 3, 'float32', 1) as tf.Tensor4D;
    const rms = headNorm(x, 'rms');
    expectClose(tf.mean(tf.square(rms), -1), tf.ones([2, 3, 4]), { atol: 1e-4 });
    const group = headNorm(x, 'group');
    const { mean, variance } = tf.moments(group, -1);
    expectClose(mean, tf.zeros([2, 3, 4]), { atol: 1e-5 });
    expectClose(variance, tf.ones([2, 3, 4]), { atol: 1e-3 });
  });

  it('differentialCombine subtracts λ times the second map of each pair', () => {
    const pairs = tf.tensor4d([[[[1, 2]], [[3, 4]], [[5, 6]], [[7, 8]]]]); // [1, 4, 1, 2]
    expectClose(differentialCombine(pairs, 0.5), [[[[1 - 1.5, 2 - 2]], [[5 - 3.5, 6 - 4]]]]);
    expect(() => differentialCombine(tf.zeros([1, 3, 1, 1]) as tf.Tensor4D, 1)).toThrow(
      'differentialCombine: pairs expected an even number of heads (pairs of maps), got shape [1,3,1,1]',
    );
  });
});
