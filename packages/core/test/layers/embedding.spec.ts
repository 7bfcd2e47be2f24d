import * as tf from '@tensorflow/tfjs-core';
import { Embedding, Rng, ShapeError, build, gatherRows } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('Embedding', () => {
  it('looks up rows for ids of any shape', () => {
    const m = new Embedding({ numEmbeddings: 4, dim: 2 }, { rng: new Rng(0) });
    m.weight.assign(tf.tensor2d([0, 1, 2, 3, 4, 5, 6, 7], [4, 2]));
    const y = m.forward(tf.tensor2d([3, 0, 1, 1], [2, 2], 'int32'));
    expect(y.shape).toEqual([2, 2, 2]);
    expectClose(y, [
      [
        [6, 7],
        [0, 1],
      ],
      [
        [2, 3],
        [2, 3],
      ],
    ]);
    m.dispose();
  });

  it('accumulates gradients of repeated ids (scatter-add)', () => {
    const table = tf.variable(tf.zeros([3, 2]));
    const ids = tf.tensor1d([2, 0, 2], 'int32');
    const { grads, value } = tf.variableGrads(
      () =>
        tf.sum(
          tf.mul(
            gatherRows(table as tf.Variable<tf.Rank.R2>, ids),
            tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]),
          ),
        ) as tf.Scalar,
    );
    expectClose(grads[table.name]!, [
      [3, 4],
      [0, 0],
      [6, 8],
    ]);
    tf.dispose([table, ids, value, ...Object.values(grads)]);
  });

  it('gives tied output logits with attend', () => {
    const m = new Embedding({ numEmbeddings: 3, dim: 2 });
    m.weight.assign(tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2]));
    expectClose(m.attend(tf.tensor2d([2, 3], [1, 2])), [[2, 3, 5]]);
    m.dispose();
  });

  it('gives attend gradients for both the input and the tied table', () => {
    const m = new Embedding({ numEmbeddings: 4, dim: 3 }, { rng: new Rng(2) });
    const x = tf.tensor2d([0.2, -0.5, 1.1, 0.7, 0.1, -0.3], [2, 3]);
    finiteDifferenceCheck((t) => m.attend(t), [x]);
    // d/dW sum(x Wᵀ) = column sums of x broadcast to every row of W.
    const { value, grads } = tf.variableGrads(() => tf.sum(m.attend(x)) as tf.Scalar);
    expectClose(grads[m.weight.name]!, Array(4).fill([0.9, -0.4, 0.8]), { atol: 1e-6 });
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });

  it('rejects float ids, out-of-range ids, a wrong width for attend and bad config', () => {
    const m = new Embedding({ numEmbeddings: 3, dim: 2 });
    expect(() => m.forward(tf.tensor1d([0, 1]))).toThrow(
      'embedding: ids expected dtype int32, got dtype float32',
    );
    expect(() => m.forward(tf.tensor1d([0, 3], 'int32'))).toThrow(ShapeError);
    expect(() => m.forward(tf.tensor1d([-1], 'int32'))).toThrow(/values in \[0, 3\)/);
    expect(() => m.attend(tf.zeros([1, 3]))).toThrow(/last axis 2/);
    expect(() => m.attend(tf.scalar(1))).toThrow(ShapeError);
    m.dispose();
    expect(() => build({ type: 'embedding', numEmbeddings: -4, dim: 2 })).toThrow(
      /embedding: \$\.numEmbeddings expected a value > 0, got -4/,
    );
    expect(() => build({ type: 'embedding', numEmbeddings: 4, dim: NaN })).toThrow(/\$\.dim/);
    expect(() =>
      build({ type: 'embedding', numEmbeddings: 4, dim: 2, init: { name: 'normal', std: 0 } }),
    ).toThrow(/\$\.init\.std/);
  });

  it('starts from normal(0, 0.02) by default and repeats with the same seed', () => {
    const a = build<Embedding>(
      { type: 'embedding', numEmbeddings: 100, dim: 50 },
      { rng: new Rng(7) },
    );
    const b = build<Embedding>(
      { type: 'embedding', numEmbeddings: 100, dim: 50 },
      { rng: new Rng(7) },
    );
    const values = Array.from(a.weight.dataSync());
    expect(values).toEqual(Array.from(b.weight.dataSync()));
    const std = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
    expect(Math.abs(std - 0.02)).toBeLessThan(0.001);
    a.dispose();
    b.dispose();
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const m = new Embedding({ numEmbeddings: 5, dim: 3 });
      const ids = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
      const { value, grads } = tf.variableGrads(
        () => tf.sum(m.attend(m.forward(ids))) as tf.Scalar,
      );
      tf.dispose([ids, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
