import * as tf from '@tensorflow/tfjs-core';
import { entmax15, softmaxWithSink, sparsemax } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';

// Fixtures: tools/reference/core/ops_reference.py (bisection solutions + PyTorch autograd).
type Fixture = Record<string, number[]>;
const load = (name: string): Fixture => require(`../fixtures/ops-${name}.json`);
const tol = { atol: 2e-5, rtol: 1e-4 };

describe('normalisers against the reference', () => {
  for (const [name, fn] of [
    ['sparsemax', sparsemax],
    ['entmax15', entmax15],
  ] as const) {
    it(`${name}: output and gradient`, () => {
      const fx = load(name);
      const x = tf.tensor(fx.x!, fx.shape);
      const probe = tf.tensor(fx.probe!, fx.shape);
      expectClose(fn(x), tf.tensor(fx.output!, fx.shape), tol);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fn(t), probe)))(x);
      expectClose(g, tf.tensor(fx.grad_x!, fx.shape), tol);
    });
  }

  it('softmaxWithSink: output and gradients for x and a per-row sink', () => {
    const fx = load('softmax-sink');
    const x = tf.tensor(fx.x!, fx.shape);
    const sink = tf.tensor(fx.sink!, fx.sinkShape);
    const probe = tf.tensor(fx.probe!, fx.shape);
    expectClose(softmaxWithSink(x, sink), tf.tensor(fx.output!, fx.shape), tol);
    const [gx, gs] = tf.grads((a: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(softmaxWithSink(a, s), probe)),
    )([x, sink]);
    expectClose(gx!, tf.tensor(fx.grad_x!, fx.shape), tol);
    expectClose(gs!, tf.tensor(fx.grad_sink!, fx.sinkShape), tol);
  });
});
