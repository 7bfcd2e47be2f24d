import * as tf from '@tensorflow/tfjs-core';
import { Embedding, Rng, ShapeError, gatherRows } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

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

  it('rejects float ids, out-of-range ids and a wrong width for attend', () => {
    const m = new Embedding({ numEmbeddings: 3, dim: 2 });
    expect(() => m.forward(tf.tensor1d([0, 1]))).toThrow(
      'embedding: ids expected dtype int32, got dtype float32',
    );
    expect(() => m.forward(tf.tensor1d([0, 3], 'int32'))).toThrow(ShapeError);
    expect(() => m.forward(tf.tensor1d([-1], 'int32'))).toThrow(/values in \[0, 3\)/);
    expect(() => m.attend(tf.zeros([1, 3]))).toThrow(/last axis 2/);
    m.dispose();
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
