import * as tf from '@tensorflow/tfjs-core';
import { ScaleNorm, ShapeError, build } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('ScaleNorm', () => {
  it('scales unit-norm vectors by a learned scalar starting at sqrt(dim)', () => {
    const m = new ScaleNorm({ dim: 4 });
    expect(m.scale.dataSync()[0]).toBeCloseTo(2);
    expectClose(m.forward(tf.tensor2d([3, 4, 0, 0], [1, 4])), [[1.2, 1.6, 0, 0]]);
    m.dispose();
  });

  it('has a correct gradient', () => {
    const m = new ScaleNorm({ dim: 3 });
    finiteDifferenceCheck((x) => m.forward(x), [tf.tensor2d([0.5, -1, 2, 1, 1, -0.3], [2, 3])]);
    m.dispose();
  });

  it('learns its scale: d/dg sum(g · x/‖x‖) is the sum of the unit vectors', () => {
    const m = new ScaleNorm({ dim: 2 });
    const x = tf.tensor2d([3, 4, 0, -2], [2, 2]);
    const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
    expectClose(grads[m.scale.name]!, 0.6 + 0.8 + 0 - 1, { atol: 1e-6 });
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });

  it('rejects a wrong width and bad config', () => {
    expect(() => new ScaleNorm({ dim: 3 }).forward(tf.zeros([2]))).toThrow(ShapeError);
    expect(() => build({ type: 'scale-norm', dim: 0 })).toThrow(/scale-norm: \$\.dim/);
    expect(() => build({ type: 'scale-norm', dim: 4, eps: -1e-5 })).toThrow(/\$\.eps/);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const m = new ScaleNorm({ dim: 2 });
      const x = tf.ones([2, 2]);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
