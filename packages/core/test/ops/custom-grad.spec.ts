import * as tf from '@tensorflow/tfjs-core';
import { withCustomGradient } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

// A deliberately "wrong" gradient shows the custom one is used instead of autodiff.
const scaledSquare = withCustomGradient<[tf.Tensor]>((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.square(x),
    gradFunc: (dy, [saved]) => tf.mul(dy, tf.mul(saved!, 10)),
  };
});

describe('withCustomGradient', () => {
  it('returns the forward value and uses the given gradient with saved tensors', () => {
    const x = tf.tensor1d([1, -2]);
    expectClose(scaledSquare(x), [1, 4]);
    expectClose(tf.grad((t: tf.Tensor) => tf.sum(scaledSquare(t)))(x), [10, -20]);
  });

  it('leaks nothing', async () => {
    const x = tf.tensor1d([1, -2]);
    await expectNoLeaks(() =>
      tf
        .grad((t: tf.Tensor) => tf.sum(scaledSquare(t)))(x)
        .dispose(),
    );
    x.dispose();
  });
});
