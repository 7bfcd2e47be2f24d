import * as tf from '@tensorflow/tfjs-core';
import {
  MASK_NEGATIVE,
  ShapeError,
  applyMask,
  causalMask,
  entmax15,
  softmax,
  sparsemax,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('entmax15', () => {
  it('solves p = [z/2 - tau]^2 with sum 1 (two-element closed form)', () => {
    // z = [1, 0]: (0.5 - tau)^2 + tau^2 = 1 -> tau = (0.5 - sqrt(1.75)) / 2
    const tau = (0.5 - Math.sqrt(1.75)) / 2;
    expectClose(entmax15(tf.tensor1d([1, 0])), [(0.5 - tau) ** 2, tau ** 2], { atol: 1e-6 });
    // a gap of 2 or more (z/2 differs by >= 1) leaves one winner
    expectClose(entmax15(tf.tensor1d([3, 0.5, 1])), [1, 0, 0]);
  });

  it('sums to one, is sparse for spread scores and dense for close ones', () => {
    const p = entmax15(tf.tensor2d([1, 0, -3, 0.1, 0, -0.1], [2, 3]));
    expectClose(tf.sum(p, -1), [1, 1], { atol: 1e-5 });
    const v = Array.from(p.dataSync());
    expect(v[1]! > 0 && v[2] === 0).toBe(true);
    expect(v.slice(3).every((t) => t > 0)).toBe(true);
  });

  it('lies between softmax and sparsemax in sparsity on random rows', () => {
    const x = tf.randomNormal([6, 10], 0, 1.5, 'float32', 2);
    const zeros = (t: tf.Tensor) => Array.from(t.dataSync()).filter((v) => v === 0).length;
    const nEntmax = zeros(entmax15(x));
    expect(zeros(softmax(x))).toBe(0);
    expect(nEntmax).toBeGreaterThan(0);
    expect(nEntmax).toBeLessThanOrEqual(zeros(sparsemax(x)));
    expectClose(tf.sum(entmax15(x), -1), tf.ones([6]), { atol: 1e-5 });
  });

  it('is shift invariant and works along any axis', () => {
    const x = tf.tensor2d([0.3, 1.2, -0.4, 2, 0.1, 0.5], [2, 3]);
    expectClose(entmax15(tf.add(x, 100)), entmax15(x), { atol: 1e-5 });
    expectClose(entmax15(x, 0), tf.transpose(entmax15(tf.transpose(x))));
    expectClose(entmax15(x, -2), entmax15(x, 0));
  });

  it('has a custom gradient matching finite differences (last axis and axis 0)', () => {
    // no ties, every score well away from the threshold, so the support is stable under eps
    finiteDifferenceCheck(
      (t) => entmax15(t),
      [tf.tensor2d([0.9, 0.4, -0.7, 0.1, 1.3, 0.2, -0.4, 0.8], [2, 4])],
      { epsilon: 1e-3 },
    );
    finiteDifferenceCheck(
      (t) => entmax15(t, 0),
      [tf.tensor3d([1.5, 0.2, -0.3, 0.6, -2.5, 0.9, 0.45, -0.1, 0, 2.1, 1, -1.4], [4, 3, 1])],
      { epsilon: 1e-3 },
    );
  });

  it('gives exact zeros to masked logits and a uniform row when all are masked', () => {
    const logits = tf.tensor2d([0.3, 0.2, 0.9, 0.1, 0.2, 0.25], [2, 3]);
    const p = entmax15(applyMask(logits, causalMask(2, 3, 0)));
    expect(Array.from(p.dataSync()).slice(0, 3)).toEqual([1, 0, 0]);
    expect(p.dataSync()[5]).toBe(0);
    expectClose(tf.sum(p, -1), [1, 1], { atol: 1e-6 });
    expectClose(entmax15(tf.fill([3], MASK_NEGATIVE)), [1 / 3, 1 / 3, 1 / 3]);
  });

  it('gives weight 1 to a single entry, with a zero gradient (one key, as when decoding starts)', () => {
    expectClose(entmax15(tf.tensor2d([[-3], [7]])), [[1], [1]]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(entmax15(x), 5)))(tf.tensor2d([[2]]));
    expectClose(g, [[0]]);
  });

  it('rejects non-float input and a bad axis', () => {
    expect(() => entmax15(tf.tensor1d([1, 2], 'int32'))).toThrow(ShapeError);
    expect(() => entmax15(tf.ones([2, 2]), -3)).toThrow(
      'entmax15: axis expected an axis of a rank-2 tensor, got -3 for shape [2,2]',
    );
  });

  it('leaks nothing in forward and backward', async () => {
    const x = tf.tensor2d([1, 0.5, 0, 2], [2, 2]);
    await expectNoLeaks(() => {
      tf.dispose([entmax15(x, 0), tf.grad((t: tf.Tensor) => tf.sum(tf.square(entmax15(t, 0))))(x)]);
    });
    x.dispose();
  });
});
