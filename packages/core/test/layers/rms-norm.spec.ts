import * as tf from '@tensorflow/tfjs-core';
import { RMSNorm, ShapeError, build, rmsNorm } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('RMSNorm', () => {
  it('divides by the root mean square of the last axis', () => {
    expectClose(rmsNorm(tf.tensor2d([3, 4], [1, 2]), 0), [
      [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)],
    ]);
  });

  it('has one gain vector, optional', () => {
    expect([...new RMSNorm({ dim: 4 }).namedParameters().keys()]).toEqual(['weight']);
    expect(new RMSNorm({ dim: 4, affine: false }).numParams()).toBe(0);
  });

  it('reports the eps in use (default 1e-6)', () => {
    const a = new RMSNorm({ dim: 2 });
    const b = new RMSNorm({ dim: 2, eps: 1e-3 });
    expect([a.eps, b.eps]).toEqual([1e-6, 1e-3]);
    a.dispose();
    b.dispose();
  });

  it('has input gradients matching finite differences', () => {
    const m = new RMSNorm({ dim: 3 });
    m.weight!.assign(tf.tensor1d([0.5, 2, -1]));
    const x = tf.tensor2d([0.3, -1.2, 0.8, 2, 1, 0.1], [2, 3]);
    finiteDifferenceCheck((t) => m.forward(t), [x]);
    x.dispose();
    m.dispose();
  });

  it('rejects a wrong width, a scalar, a misspelt option and bad values', () => {
    expect(() => new RMSNorm({ dim: 3 }).forward(tf.zeros([4]))).toThrow(ShapeError);
    expect(() => new RMSNorm({ dim: 3 }).forward(tf.scalar(1))).toThrow(ShapeError);
    expect(() => build<Module>({ type: 'rms-norm', dim: 3, epsilon: 1e-6 })).toThrow(
      /unknown option 'epsilon'/,
    );
    expect(() => build({ type: 'rms-norm', dim: 3, eps: NaN })).toThrow(/rms-norm: \$\.eps/);
    expect(() => build({ type: 'rms-norm', dim: -3 })).toThrow(/\$\.dim expected a value > 0/);
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new RMSNorm({ dim: 4 });
      const x = tf.randomNormal([3, 4]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(x))) as tf.Scalar);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
