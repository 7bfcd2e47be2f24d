import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, logSumExpWithSink, softmaxWithSink } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('softmaxWithSink', () => {
  it('puts exp(s) in the denominator only: zero logits, zero sink give 1/(n+1)', () => {
    expectClose(softmaxWithSink(tf.zeros([3]), 0), [0.25, 0.25, 0.25]);
    const x = [0.5, -1, 2];
    const denominator = Math.exp(1.5) + x.reduce((a, v) => a + Math.exp(v), 0);
    expectClose(
      softmaxWithSink(tf.tensor1d(x), 1.5),
      x.map((v) => Math.exp(v) / denominator),
      { atol: 1e-6 },
    );
  });

  it('leaves rows summing to less than one, and is stable for large logits and sinks', () => {
    const rowSums = tf.sum(softmaxWithSink(tf.randomNormal([2, 4], 0, 1, 'float32', 5), 1), -1);
    expect(Array.from(rowSums.dataSync()).every((s) => s > 0 && s < 1)).toBe(true);
    expectClose(softmaxWithSink(tf.tensor1d([1000, 1000]), 1000), [1 / 3, 1 / 3]);
    expectClose(softmaxWithSink(tf.tensor1d([0, 0]), 1000), [0, 0]);
  });

  it('broadcasts a per-head sink [1, heads, 1] over logits [b, heads, tq, tk]', () => {
    const x = tf.randomNormal([2, 2, 3, 4], 0, 1, 'float32', 3);
    const sink = tf.tensor3d([-1e4, 0.5], [1, 2, 1]);
    const p = softmaxWithSink(x, sink);
    // head 0: the sink is negligible, so plain softmax
    const head0 = tf.slice(p, [0, 0], [-1, 1]);
    expectClose(head0, tf.softmax(tf.slice(x, [0, 0], [-1, 1])), { atol: 1e-6 });
    expectClose(tf.slice(p, [0, 1], [-1, 1]), softmaxWithSink(tf.slice(x, [0, 1], [-1, 1]), 0.5));
  });

  it('normalises along a non-last axis', () => {
    const x = tf.tensor2d([0.2, -0.5, 1, 0.3, 0.1, -1], [3, 2]);
    const sink = tf.tensor1d([0.4, -0.2]);
    expectClose(softmaxWithSink(x, sink, 0), tf.transpose(softmaxWithSink(tf.transpose(x), sink)));
  });

  it('has gradients for logits and a per-head sink matching finite differences', () => {
    finiteDifferenceCheck(
      (a, s) => softmaxWithSink(a, s),
      [tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 11), tf.tensor3d([0.4, -0.2], [1, 2, 1])],
    );
    finiteDifferenceCheck(
      (a, s) => softmaxWithSink(a, s, 0),
      [tf.tensor2d([0.2, -0.5, 1, 0.3, 0.1, -1], [3, 2]), tf.tensor1d([0.4, -0.2])],
    );
  });

  it('rejects sinks that do not broadcast, non-finite or non-float sinks, non-float logits', () => {
    expect(() => softmaxWithSink(tf.zeros([2, 3]), tf.zeros([2, 3]))).toThrow(
      'softmaxWithSink: sinkLogit expected a shape that broadcasts to [2], got shape [2,3]',
    );
    expect(() => softmaxWithSink(tf.zeros([2, 2, 3]), tf.zeros([3, 1]))).toThrow(ShapeError);
    expect(() => softmaxWithSink(tf.zeros([2]), NaN)).toThrow(ConfigError);
    expect(() => softmaxWithSink(tf.zeros([2, 2]), tf.zeros([2], 'int32'))).toThrow(/dtype/);
    expect(() => softmaxWithSink(tf.zeros([2], 'int32'), 0)).toThrow(ShapeError);
  });

  it('leaks nothing in forward and backward', async () => {
    const x = tf.ones([1, 2, 2, 3]);
    const s = tf.zeros([1, 2, 1]);
    await expectNoLeaks(() => {
      const [gx, gs] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(softmaxWithSink(a, b))),
      )([x, s]);
      tf.dispose([gx!, gs!, softmaxWithSink(x, 0.5, 2)]);
    });
    tf.dispose([x, s]);
  });
});

describe('logSumExpWithSink', () => {
  it('is log(exp(s) + sum exp(x)), the log of softmaxWithSink denominator', () => {
    const x = [
      [0.5, -1, 2],
      [3, 0, -2],
    ];
    const sink = [0.25, -4];
    const expected = x.map((row, i) =>
      Math.log(Math.exp(sink[i]!) + row.reduce((a, v) => a + Math.exp(v), 0)),
    );
    const t = tf.tensor2d(x);
    const lse = logSumExpWithSink(t, tf.tensor1d(sink));
    expect(lse.shape).toEqual([2]);
    expectClose(lse, expected, { atol: 1e-5 });
    // p_i = exp(x_i - lse), along another axis too.
    expectClose(
      softmaxWithSink(t, 1.5, 0),
      tf.exp(tf.sub(t, tf.expandDims(logSumExpWithSink(t, 1.5, 0), 0))),
      { atol: 1e-6 },
    );
  });

  it('checks its inputs as softmaxWithSink does and leaks nothing', async () => {
    expect(() => logSumExpWithSink(tf.zeros([2, 3]), tf.zeros([3]))).toThrow(
      'logSumExpWithSink: sinkLogit expected a shape that broadcasts to [2], got shape [3]',
    );
    expect(() => logSumExpWithSink(tf.zeros([2]), NaN)).toThrow(ConfigError);
    const x = tf.ones([1, 2, 3]);
    const sink = tf.zeros([1, 2]);
    await expectNoLeaks(() => {
      const g = tf.grad((a: tf.Tensor) => tf.sum(logSumExpWithSink(a, 0.5)))(x);
      tf.dispose([g, logSumExpWithSink(x, sink)]);
    });
    tf.dispose([x, sink]);
  });
});
