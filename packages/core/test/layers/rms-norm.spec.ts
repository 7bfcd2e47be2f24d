import * as tf from '@tensorflow/tfjs-core';
import { RMSNorm, ShapeError, build, rmsNorm } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

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

  it('rejects a wrong width and a misspelt option', () => {
    expect(() => new RMSNorm({ dim: 3 }).forward(tf.zeros([4]))).toThrow(ShapeError);
    expect(() => build({ type: 'rms-norm', dim: 3, epsilon: 1e-6 })).toThrow(
      /unknown option 'epsilon'/,
    );
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
