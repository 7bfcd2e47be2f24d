import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, softcap } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('softcap', () => {
  it('bounds values by cap and is near-identity for small ones', () => {
    expectClose(softcap(tf.tensor1d([1000, -1000, 0.01]), 30), [30, -30, 0.01], { atol: 1e-5 });
    expect(() => softcap(tf.ones([1]), 0)).toThrow(ConfigError);
  });
  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const x = tf.ones([2]);
      tf.dispose([x, softcap(x, 5), tf.grad((t: tf.Tensor) => tf.sum(softcap(t, 5)))(x)]);
    });
  });
});
