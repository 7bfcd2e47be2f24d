import * as tf from '@tensorflow/tfjs-core';
import { MASK_NEGATIVE, ShapeError, applyMask, causalMask, sparsemax } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('sparsemax', () => {
  it('projects onto the simplex: z - tau on the support, exact zeros elsewhere', () => {
    expectClose(sparsemax(tf.tensor1d([2, 1, -1])), [1, 0, 0]);
    // support {0, 1}: tau = (0.5 + 0.3 - 1) / 2 = -0.1
    const p = sparsemax(tf.tensor1d([0.5, 0.3, -1]));
    expectClose(p, [0.6, 0.4, 0], { atol: 1e-6 });
    expect(p.dataSync()[2]).toBe(0);
    // close scores: dense, uniform shift
    expectClose(sparsemax(tf.tensor1d([0.1, 0, -0.1])), [0.4333333, 0.3333333, 0.2333333]);
  });

  it('sums to one and is non-negative on random rows', () => {
    const p = sparsemax(tf.randomNormal([4, 9], 0, 2, 'float32', 1));
    expectClose(tf.sum(p, -1), [1, 1, 1, 1], { atol: 1e-5 });
    const v = Array.from(p.dataSync());
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(v.filter((t) => t === 0).length).toBeGreaterThan(0);
  });

  it('is shift invariant and works along a non-last axis', () => {
    const x = tf.tensor3d([0.5, 2, 0.3, 1, -1, -1, 0.2, 0.1, 0, 0.4, 1.1, 0.9], [2, 3, 2]);
    expectClose(sparsemax(tf.add(x, 50)), sparsemax(x), { atol: 1e-5 });
    expectClose(sparsemax(x, 1), tf.transpose(sparsemax(tf.transpose(x, [0, 2, 1])), [0, 2, 1]));
    expectClose(sparsemax(x, -2), sparsemax(x, 1));
  });

  it('has a custom gradient matching finite differences (last axis and axis 1)', () => {
    // scores at least 0.05 away from the threshold, no ties, so the support is stable under eps
    finiteDifferenceCheck(
      (t) => sparsemax(t),
      [tf.tensor2d([0.9, 0.4, -0.7, 0.1, 1.3, 0.2, -0.4, 0.8], [2, 4])],
      { epsilon: 1e-3 },
    );
    finiteDifferenceCheck(
      (t) => sparsemax(t, 1),
      [tf.tensor3d([0.5, 0.1, 0.3, -0.6, -1.2, 0.35, 0.25, 0.9], [1, 4, 2])],
      { epsilon: 1e-3 },
    );
  });

  it('gives exact zeros to masked logits and a uniform row when all are masked', () => {
    const logits = tf.tensor2d([0.3, 0.2, 0.9, 0.1, 0.2, 0.25], [2, 3]);
    const p = sparsemax(applyMask(logits, causalMask(2, 3, 0)));
    expect(Array.from(p.dataSync()).slice(0, 3)).toEqual([1, 0, 0]);
    expect(p.dataSync()[5]).toBe(0);
    expectClose(tf.sum(p, -1), [1, 1], { atol: 1e-6 });
    expectClose(sparsemax(tf.fill([3], MASK_NEGATIVE)), [1 / 3, 1 / 3, 1 / 3]);
  });

  it('rejects non-float input and a bad axis', () => {
    expect(() => sparsemax(tf.tensor1d([1], 'int32'))).toThrow(
      'sparsemax: x expected dtype float32, got dtype int32',
    );
    expect(() => sparsemax(tf.ones([2]), 1)).toThrow(ShapeError);
    expect(() => sparsemax(tf.ones([2]), 0.5)).toThrow(/axis/);
  });

  it('leaks nothing in forward and backward', async () => {
    const x = tf.tensor2d([1, 0.5, 0, 2], [2, 2]);
    await expectNoLeaks(() => {
      tf.dispose([
        sparsemax(x, 0),
        tf.grad((t: tf.Tensor) => tf.sum(tf.square(sparsemax(t, 0))))(x),
      ]);
    });
    x.dispose();
  });
});
