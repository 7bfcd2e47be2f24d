import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, softmax, softmaxWithSink } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('softmax', () => {
  it('is stable for large logits and works on any axis', () => {
    expectClose(softmax(tf.tensor1d([1000, 1000])), [0.5, 0.5]);
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    expectClose(softmax(x, { axis: 0 }), tf.transpose(tf.softmax(tf.transpose(x))));
  });

  it('divides by the temperature', () => {
    expectClose(softmax(tf.tensor1d([0, 2]), { temperature: 2 }), tf.softmax(tf.tensor1d([0, 1])));
    expect(() => softmax(tf.tensor1d([1]), { temperature: 0 })).toThrow(ConfigError);
    expect(() => softmax(tf.tensor1d([1]), { axis: 3 })).toThrow(ShapeError);
    expect(() => softmax(tf.tensor1d([1], 'int32'))).toThrow(
      'softmax: x expected dtype float32, got dtype int32',
    );
  });
});

describe('softmaxWithSink', () => {
  it('leaves mass for the sink: a zero sink on zero logits gives 1/(n+1)', () => {
    expectClose(softmaxWithSink(tf.zeros([3]), 0), [0.25, 0.25, 0.25]);
    const rowSums = tf.sum(softmaxWithSink(tf.randomNormal([2, 4]), 1), -1);
    expect(Array.from(rowSums.dataSync()).every((s) => s < 1)).toBe(true);
  });

  it('broadcasts a per-head sink and tends to softmax as the sink goes to -inf', () => {
    const x = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 3);
    const sink = tf.tensor3d([-1e4, 0], [1, 2, 1]);
    const p = softmaxWithSink(x, sink);
    expectClose(tf.slice(p, [0, 0], [1, 1]), tf.softmax(tf.slice(x, [0, 0], [1, 1])), {
      atol: 1e-6,
    });
  });

  it('has correct gradients for logits and sink', () => {
    finiteDifferenceCheck(
      (a, s) => softmaxWithSink(a, s),
      [tf.tensor2d([0.2, -0.5, 1, 0.3, 0.1, -1], [2, 3]), tf.tensor1d([0.4, -0.2])],
    );
  });

  it('rejects a sink of too high rank and non-finite sinks', () => {
    expect(() => softmaxWithSink(tf.zeros([2, 3]), tf.zeros([2, 3]))).toThrow(/at most rank 1/);
    expect(() => softmaxWithSink(tf.zeros([2]), NaN)).toThrow(ConfigError);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const x = tf.ones([2, 3]);
      const s = tf.zeros([2]);
      const [gx, gs] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(softmaxWithSink(a, b)))([
        x,
        s,
      ]);
      tf.dispose([x, s, gx!, gs!, softmax(x)]);
    });
  });
});
