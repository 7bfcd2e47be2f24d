import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, gatherRows, scatterAddRows } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

// The one-hot form both ops replace: S[i, ids[i]] = 1, gather = S·table, scatter-add = Sᵀ·rows.
const oneHot = (ids: number[], n: number) =>
  tf.tensor2d(
    ids.flatMap((id) => Array.from({ length: n }, (_, j) => (j === id ? 1 : 0))),
    [ids.length, n],
  );

describe('gatherRows and scatterAddRows', () => {
  const ids = [3, 0, 3, 1, 3];
  const table = tf.randomNormal([4, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
  const rows = tf.randomNormal([5, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
  const probeGather = tf.randomNormal([5, 3], 0, 1, 'float32', 3);
  const probeScatter = tf.randomNormal([4, 3], 0, 1, 'float32', 4);
  const index = tf.tensor1d(ids, 'int32');
  const select = oneHot(ids, 4);

  it('equal the one-hot products, outputs and gradients, repeated ids summed', () => {
    expectClose(gatherRows(table, index), tf.matMul(select, table), { atol: 1e-6 });
    expectClose(scatterAddRows(rows, index, 4), tf.matMul(select, rows, true), { atol: 1e-6 });
    const gradOf = (f: (t: tf.Tensor) => tf.Tensor, x: tf.Tensor, probe: tf.Tensor) =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), probe)))(x);
    const g1 = gradOf((t) => gatherRows(t as tf.Tensor2D, index), table, probeGather);
    const r1 = gradOf((t) => tf.matMul(select, t), table, probeGather);
    expect(maxAbsDiff(g1, r1)).toBeLessThanOrEqual(1e-4);
    const g2 = gradOf((t) => scatterAddRows(t as tf.Tensor2D, index, 4), rows, probeScatter);
    const r2 = gradOf((t) => tf.matMul(select, t, true), rows, probeScatter);
    expect(maxAbsDiff(g2, r2)).toBeLessThanOrEqual(1e-4);
    // Row 2 of the scatter is never hit: exactly zero.
    expect(
      Array.from(tf.slice(scatterAddRows(rows, index, 4), [2, 0], [1, -1]).dataSync()),
    ).toEqual([0, 0, 0]);
  });

  it('scatterAddRows checks its inputs', () => {
    expect(() => scatterAddRows(rows, tf.tensor1d([0, 1], 'int32'), 4)).toThrow(
      'scatterAddRows: ids expected int32 [5] (one per row), got int32 [2]',
    );
    expect(() => scatterAddRows(rows, tf.zeros([5]) as tf.Tensor1D, 4)).toThrow(ShapeError);
    expect(() => scatterAddRows(rows, index, 0)).toThrow(ConfigError);
    expect(() => scatterAddRows(tf.zeros([5]) as unknown as tf.Tensor2D, index, 4)).toThrow(
      /rows expected rank 2/,
    );
  });

  it('leak nothing in forward and backward', async () => {
    await expectNoLeaks(() => {
      const g = tf.grads((t: tf.Tensor, r: tf.Tensor) =>
        tf.add(
          tf.sum(gatherRows(t as tf.Tensor2D, index)),
          tf.sum(scatterAddRows(r as tf.Tensor2D, index, 4)),
        ),
      )([table, rows]);
      tf.dispose(g);
    });
  });
});
