import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Linear, Rng, ShapeError, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('Linear', () => {
  it('computes x W + b on the last axis of any rank', () => {
    const m = new Linear({ inFeatures: 3, outFeatures: 2 }, { rng: new Rng(0) });
    m.weight.assign(tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2]));
    m.bias!.assign(tf.tensor1d([0.5, -0.5]));
    const y = m.forward(tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 2, 3]));
    expect(y.shape).toEqual([1, 2, 2]);
    expectClose(y, [
      [
        [4.5, 4.5],
        [10.5, 10.5],
      ],
    ]);
    expect(m.forward(tf.tensor1d([1, 1, 1])).shape).toEqual([2]);
    m.dispose();
  });

  it('omits the bias when asked and names parameters', () => {
    const m = new Linear({ inFeatures: 4, outFeatures: 5, bias: false });
    expect([...m.namedParameters().keys()]).toEqual(['weight']);
    expect(m.numParams()).toBe(20);
    m.dispose();
  });

  it('is built from config with its initializer and seed', () => {
    const a = build<Linear>(
      { type: 'linear', inFeatures: 4, outFeatures: 3, init: 'kaiming-normal' },
      { rng: new Rng(3) },
    );
    const b = build<Linear>(
      { type: 'linear', inFeatures: 4, outFeatures: 3, init: 'kaiming-normal' },
      { rng: new Rng(3) },
    );
    expect(Array.from(a.weight.dataSync())).toEqual(Array.from(b.weight.dataSync()));
    a.dispose();
    b.dispose();
  });

  it('gives gradients for weight and bias', () => {
    const m = new Linear({ inFeatures: 2, outFeatures: 1 });
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const { grads, value } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
    expectClose(grads[m.weight.name]!, [[4], [6]]);
    expectClose(grads[m.bias!.name]!, [2]);
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });

  it('has an input gradient matching finite differences', () => {
    const m = new Linear({ inFeatures: 3, outFeatures: 2 }, { rng: new Rng(1) });
    const x = tf.tensor3d([0.1, -0.4, 0.7, 1.2, 0.3, -0.9], [1, 2, 3]);
    finiteDifferenceCheck((t) => m.forward(t), [x]);
    x.dispose();
    m.dispose();
  });

  it('rejects bad input and bad config', () => {
    const m = new Linear({ inFeatures: 3, outFeatures: 2 });
    expect(() => m.forward(tf.zeros([2, 4]))).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([2, 4]))).toThrow(
      'linear: x expected last axis 3, got shape [2,4]',
    );
    expect(() => m.forward(tf.scalar(1))).toThrow(/got shape \[\]/);
    m.dispose();
    expect(() => build({ type: 'linear', inFeatures: 0, outFeatures: 2 })).toThrow(ConfigError);
    expect(() => build({ type: 'linear', inFeatures: NaN, outFeatures: 2 })).toThrow(
      /linear: \$\.inFeatures expected number, got NaN/,
    );
    expect(() => build({ type: 'linear', inFeatures: 2.5, outFeatures: 2 })).toThrow(
      /\$\.inFeatures/,
    );
    expect(() =>
      build<Module>({ type: 'linear', inFeatures: 2, outFeatures: 2, bais: true }),
    ).toThrow(/unknown option 'bais'/);
    expect(() =>
      build({ type: 'linear', inFeatures: 2, outFeatures: 2 }, { path: '$.layers[1].proj' }),
    ).not.toThrow();
    expect(() =>
      build({ type: 'linear', inFeatures: 2, outFeatures: -2 }, { path: '$.layers[1].proj' }),
    ).toThrow(/\$\.layers\[1\]\.proj\.outFeatures expected a value > 0, got -2/);
    expect(() => new Linear({ inFeatures: -3, outFeatures: 2 })).toThrow(/linear: \$\.inFeatures/);
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new Linear({ inFeatures: 3, outFeatures: 2 });
      const x = tf.ones([4, 3]);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
