import * as tf from '@tensorflow/tfjs-core';
import { ScaleNorm, ShapeError } from '@attnkit/core';
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

  it('rejects a wrong width', () => {
    expect(() => new ScaleNorm({ dim: 3 }).forward(tf.zeros([2]))).toThrow(ShapeError);
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
