import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, MASK_NEGATIVE, ShapeError } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  chunkedTopK,
  gatheredAttention,
  scaledDotProductAttention,
  selectionMask,
} from '@attnkit/attention';

const normal = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;

/** Per row, the sorted set of indices (ignoring -1). */
const rowsOf = (indices: tf.Tensor) => {
  const k = indices.shape[indices.rank - 1]!;
  const data = Array.from(indices.dataSync());
  const rows: number[][] = [];
  for (let i = 0; i < data.length; i += k)
    rows.push(
      data
        .slice(i, i + k)
        .filter((j) => j >= 0)
        .sort((a, b) => a - b),
    );
  return rows;
};

/** The reference selection: tf.topk over the whole masked score map. */
function denseTopK(q: tf.Tensor4D, k: tf.Tensor4D, topK: number, causal: boolean) {
  return tf.tidy(() => {
    const [, h, tq] = q.shape;
    const tk = k.shape[2];
    const keys = tf.reshape(tf.tile(tf.expandDims(k, 2), [1, 1, h / k.shape[1], 1, 1]), [
      k.shape[0],
      h,
      tk,
      -1,
    ]);
    let s: tf.Tensor = tf.matMul(q, keys, false, true);
    if (causal) {
      const visible = tf.lessEqual(
        tf.reshape(tf.range(0, tk, 1, 'int32'), [1, tk]),
        tf.reshape(tf.range(tk - tq, tk, 1, 'int32'), [tq, 1]),
      );
      s = tf.where(visible, s, tf.scalar(MASK_NEGATIVE));
    }
    const { values, indices } = tf.topk(s, topK);
    return tf.where(tf.greater(values, MASK_NEGATIVE / 2), indices, tf.scalar(-1, 'int32'));
  });
}

describe('chunkedTopK (Gupta et al. 2021: running top-k over key chunks)', () => {
  it.each([
    [false, 1],
    [false, 3],
    [true, 2],
    [true, 9],
  ])(
    'causal=%s chunkSize=%i selects what topk over the full map selects (GQA, tq < tk)',
    (causal, chunkSize) => {
      tf.tidy(() => {
        const q = normal([2, 4, 5, 3], 1);
        const k = normal([2, 2, 9, 3], 2);
        const got = chunkedTopK(q, k, { k: 4, causal, chunkSize });
        expect(got.dtype).toBe('int32');
        expect(got.shape).toEqual([2, 4, 5, 4]);
        expect(rowsOf(got)).toEqual(rowsOf(denseTopK(q, k, 4, causal)));
      });
    },
  );

  it('a causal query that sees fewer than k keys gets -1 in the empty slots', () => {
    tf.tidy(() => {
      const q = normal([1, 1, 4, 2], 3);
      const got = Array.from(
        chunkedTopK(q, normal([1, 1, 4, 2], 4), { k: 3, causal: true, chunkSize: 2 }).dataSync(),
      );
      expect(got.slice(0, 3)).toEqual([0, -1, -1]);
      expect(got.slice(3, 6).filter((j) => j < 0)).toHaveLength(1);
      expect([...got.slice(6, 9)].sort()).toEqual([0, 1, 2]);
    });
  });

  it('ties go to the lower key index, across chunks too', () => {
    tf.tidy(() => {
      // Keys 0..5 all equal: every score ties; keys 6, 7 score lower.
      const same = tf.ones([1, 1, 6, 2]);
      const k = tf.concat([same, tf.mul(tf.ones([1, 1, 2, 2]), -1)], 2) as tf.Tensor4D;
      const q = tf.ones([1, 1, 1, 2]) as tf.Tensor4D;
      for (const chunkSize of [1, 4, 8]) {
        expect(rowsOf(chunkedTopK(q, k, { k: 3, chunkSize }))).toEqual([[0, 1, 2]]);
      }
    });
  });

  it('refuses k larger than the keys, bad sizes and offsets with typed errors', () => {
    tf.tidy(() => {
      const q = normal([1, 2, 3, 4], 5);
      const k = normal([1, 2, 3, 4], 6);
      expect(() => chunkedTopK(q, k, { k: 4 })).toThrow(ConfigError);
      expect(() => chunkedTopK(q, k, { k: 0 })).toThrow(ConfigError);
      expect(() => chunkedTopK(q, k, { k: 2, chunkSize: 0 })).toThrow(ConfigError);
      expect(() => chunkedTopK(q, k, { k: 2, queryOffset: -1 })).toThrow(ConfigError);
      expect(() => chunkedTopK(q, normal([1, 2, 3, 5], 7), { k: 2 })).toThrow(ShapeError);
      expect(() => chunkedTopK(q, normal([1, 3, 3, 4], 7), { k: 2 })).toThrow(ShapeError);
    });
  });
});

describe('gatheredAttention equals dense attention masked to the same selection', () => {
  it.each([false, true])('causal=%s: outputs and gradients of q, k, v (<= 1e-4)', (causal) => {
    tf.tidy(() => {
      const q = normal([2, 4, 6, 3], 11);
      const k = normal([2, 2, 6, 3], 12);
      const v = normal([2, 2, 6, 5], 13);
      const probe = normal([2, 4, 6, 5], 14);
      const indices = chunkedTopK(q, k, { k: 3, causal, chunkSize: 4 });
      const mask = selectionMask(indices, 6);
      const sparse = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            gatheredAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, indices).output,
            probe,
          ),
        );
      const dense = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
              mask,
            }).output,
            probe,
          ),
        );
      expectClose(
        gatheredAttention(q, k, v, indices).output,
        scaledDotProductAttention(q, k, v, { mask }).output,
        { atol: 1e-5 },
      );
      const gs = tf.grads(sparse)([q, k, v]);
      const gd = tf.grads(dense)([q, k, v]);
      gs.forEach((g, i) => expect(maxAbsDiff(g, gd[i]!)).toBeLessThanOrEqual(1e-4));
      // The selection is data: the weights sum to one over the selected keys.
      const w = gatheredAttention(q, k, v, indices).weights;
      expectClose(tf.sum(w, -1), tf.ones([2, 4, 6]), { atol: 1e-5 });
    });
  });

  it('a row with only empty slots outputs 0; bad indices are refused', () => {
    tf.tidy(() => {
      const q = normal([1, 1, 2, 2], 15);
      const k = normal([1, 1, 3, 2], 16);
      const v = normal([1, 1, 3, 2], 17);
      const indices = tf.tensor4d([0, 2, -1, -1], [1, 1, 2, 2], 'int32');
      const out = gatheredAttention(q, k, v, indices).output.arraySync()[0]![0]!;
      expect(out[1]).toEqual([0, 0]);
      expect(() => gatheredAttention(q, k, v, tf.cast(indices, 'float32') as tf.Tensor4D)).toThrow(
        ShapeError,
      );
      expect(() =>
        gatheredAttention(q, k, v, tf.zeros([1, 1, 3, 2], 'int32') as tf.Tensor4D),
      ).toThrow(ShapeError);
      expect(() => selectionMask(indices, 0)).toThrow(ConfigError);
    });
  });

  it('leaks nothing over selection, attention and gradients', async () => {
    const q = normal([1, 2, 4, 2], 18);
    const k = normal([1, 1, 4, 2], 19);
    const v = normal([1, 1, 4, 2], 20);
    await expectNoLeaks(() => {
      const indices = chunkedTopK(q, k, { k: 2, causal: true, chunkSize: 3 });
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          gatheredAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, indices).output,
        );
      tf.dispose([indices, ...tf.grads(f)([q, k, v])]);
    });
    tf.dispose([q, k, v]);
  });
});
