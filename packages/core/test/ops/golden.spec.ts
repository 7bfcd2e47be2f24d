import * as tf from '@tensorflow/tfjs-core';
import { entmax15, softmaxWithSink, sparsemax } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';

// Fixtures: tools/reference/core/ops_reference.py (thresholds by bisection, gradients by
// PyTorch autograd through the closed form on the support), float64.
interface Fixture {
  shape: number[];
  axis: number;
  x: number[];
  probe: number[];
  output: number[];
  grad_x: number[];
  sinkShape?: number[];
  sink?: number[];
  grad_sink?: number[];
}
const load = (name: string): Fixture => require(`../fixtures/ops-${name}.json`) as Fixture;
const tol = { atol: 2e-5, rtol: 1e-4 };

describe('normalisers against the reference', () => {
  for (const [name, fn] of [
    ['sparsemax', sparsemax],
    ['entmax15', entmax15],
  ] as const) {
    it(`${name}: output, exact zeros and gradient`, () => {
      const fx = load(name);
      const x = tf.tensor(fx.x, fx.shape);
      const probe = tf.tensor(fx.probe, fx.shape);
      const y = fn(x, fx.axis);
      expectClose(y, tf.tensor(fx.output, fx.shape), tol);
      const zeros = (v: ArrayLike<number>) => Array.from(v, (t) => t === 0);
      expect(zeros(y.dataSync())).toEqual(zeros(fx.output));
      expect(fx.output.filter((t) => t === 0).length).toBeGreaterThan(0);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fn(t, fx.axis), probe)))(x);
      expectClose(g, tf.tensor(fx.grad_x, fx.shape), tol);
    });
  }

  it('softmaxWithSink: output and gradients for logits and a per-head sink', () => {
    const fx = load('softmax-sink');
    const x = tf.tensor(fx.x, fx.shape);
    const sink = tf.tensor(fx.sink!, fx.sinkShape);
    const probe = tf.tensor(fx.probe, fx.shape);
    expectClose(softmaxWithSink(x, sink, fx.axis), tf.tensor(fx.output, fx.shape), tol);
    const [gx, gs] = tf.grads((a: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(softmaxWithSink(a, s, fx.axis), probe)),
    )([x, sink]);
    expectClose(gx!, tf.tensor(fx.grad_x, fx.shape), tol);
    expectClose(gs!, tf.tensor(fx.grad_sink!, fx.sinkShape), tol);
  });
});
