import * as tf from '@tensorflow/tfjs-core';
import { LayerNorm, ShapeError, build, layerNorm } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('LayerNorm', () => {
  it('gives zero mean and unit variance on the last axis', () => {
    const y = layerNorm(tf.tensor2d([1, 2, 3, 4, 10, 20, 30, 40], [2, 4]));
    const { mean, variance } = tf.moments(y, -1);
    expectClose(mean, [0, 0], { atol: 1e-6 });
    expectClose(variance, [1, 1], { atol: 1e-4 });
  });

  it('applies gain and bias, or neither when affine is false', () => {
    const m = new LayerNorm({ dim: 2 });
    m.weight!.assign(tf.tensor1d([2, 2]));
    m.bias!.assign(tf.tensor1d([1, 1]));
    expectClose(m.forward(tf.tensor2d([0, 2], [1, 2])), [[-1, 3]], { atol: 1e-4 });
    expect(new LayerNorm({ dim: 2, affine: false }).numParams()).toBe(0);
    expect([...new LayerNorm({ dim: 2, bias: false }).namedParameters().keys()]).toEqual([
      'weight',
    ]);
  });

  it('reports the eps in use (default 1e-5)', () => {
    const a = new LayerNorm({ dim: 2 });
    const b = new LayerNorm({ dim: 2, eps: 1e-3 });
    expect([a.eps, b.eps]).toEqual([1e-5, 1e-3]);
    a.dispose();
    b.dispose();
  });

  it('has input gradients matching finite differences (golden.spec checks the parameters)', () => {
    const m = new LayerNorm({ dim: 4 });
    m.weight!.assign(tf.tensor1d([1.5, 0.5, -1, 2]));
    const x = tf.tensor2d([0.3, -1.2, 0.8, 2, 1, 0.1, -0.4, 0.6], [2, 4]);
    finiteDifferenceCheck((t) => m.forward(t), [x]);
    x.dispose();
    m.dispose();
  });

  it('rejects a wrong width, a scalar and bad config', () => {
    expect(() => new LayerNorm({ dim: 3 }).forward(tf.zeros([2, 4]))).toThrow(ShapeError);
    expect(() => new LayerNorm({ dim: 3 }).forward(tf.scalar(0))).toThrow(ShapeError);
    expect(() => build({ type: 'layer-norm', dim: 3, eps: -1 })).toThrow(
      'layer-norm: $.eps expected a value > 0, got -1',
    );
    expect(() => build({ type: 'layer-norm', dim: NaN })).toThrow(/\$\.dim/);
    expect(() => build<Module>({ type: 'layer-norm', dim: 3, affine: 'yes' })).toThrow(
      /\$\.affine expected boolean/,
    );
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new LayerNorm({ dim: 4 });
      const x = tf.randomNormal([2, 4]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(x))) as tf.Scalar);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
