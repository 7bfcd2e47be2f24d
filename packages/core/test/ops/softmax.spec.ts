import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, softmax } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('softmax', () => {
  it('matches exp(x)/sum and is stable for large logits', () => {
    const e = [0, 1, 2].map((v) => Math.exp(v));
    const total = e[0]! + e[1]! + e[2]!;
    expectClose(
      softmax(tf.tensor1d([0, 1, 2]), {}),
      e.map((v) => v / total),
      { atol: 1e-6 },
    );
    expectClose(softmax(tf.tensor1d([1000, 1000, -1000])), [0.5, 0.5, 0]);
  });

  it('normalises along any axis, negative or not', () => {
    const x = tf.tensor3d([1, 2, 3, 4, -1, 0, 0.5, 2, 7, 1, 1, 1], [2, 3, 2]);
    const sums = tf.sum(softmax(x, { axis: 1 }), 1);
    expectClose(sums, tf.ones([2, 2]), { atol: 1e-6 });
    expectClose(softmax(x, { axis: -2 }), softmax(x, { axis: 1 }));
    expectClose(
      softmax(x, { axis: 0 }),
      tf.transpose(tf.softmax(tf.transpose(x, [2, 1, 0])), [2, 1, 0]),
    );
  });

  it('divides by the temperature', () => {
    expectClose(softmax(tf.tensor1d([0, 2]), { temperature: 2 }), tf.softmax(tf.tensor1d([0, 1])));
  });

  it('has gradients matching finite differences (with temperature, on axis 0)', () => {
    finiteDifferenceCheck(
      (t) => softmax(t, { axis: 0, temperature: 0.7 }),
      [tf.tensor2d([0.2, -0.5, 1, 0.3, 0.1, -1], [3, 2])],
    );
  });

  it('rejects temperature <= 0, a bad axis and non-float input', () => {
    expect(() => softmax(tf.tensor1d([1]), { temperature: 0 })).toThrow(ConfigError);
    expect(() => softmax(tf.tensor1d([1]), { temperature: -1 })).toThrow(
      'softmax: temperature expected a finite number > 0, got -1',
    );
    expect(() => softmax(tf.tensor1d([1]), { axis: 3 })).toThrow(ShapeError);
    expect(() => softmax(tf.tensor1d([1], 'int32'))).toThrow(
      'softmax: x expected dtype float32, got dtype int32',
    );
  });

  it('leaks nothing in forward and backward', async () => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    await expectNoLeaks(() => {
      tf.dispose([
        softmax(x, { axis: 0, temperature: 2 }),
        tf.grad((t: tf.Tensor) => tf.sum(tf.square(softmax(t, { axis: 0 }))))(x),
      ]);
    });
    x.dispose();
  });
});
