import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@attnkit/core';
import {
  mergeAttention,
  scaledDotProductAttention,
  type AttentionOptions,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

const rand = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** Boolean [1, 1, tq, tk] mask: key j in the part `part` of a split by `assign`. */
function partMask(tq: number, tk: number, assign: (j: number) => number, part: number) {
  const values = Array.from({ length: tq * tk }, (_, i) => assign(i % tk) === part);
  return tf.tensor4d(values, [1, 1, tq, tk], 'bool');
}

/**
 * Attention over all keys vs the merge of attention over a disjoint split of them (each part a
 * mask on the same keys, combined with `extra`): outputs, lse and the gradients of a loss on both.
 */
function compare(
  parts: number,
  assign: (j: number) => number,
  options: AttentionOptions,
  [tq, tk]: [number, number],
  chunkSize?: number,
) {
  const q = rand([2, 2, tq, 4], 1) as tf.Tensor4D;
  const k = rand([2, 1, tk, 4], 2) as tf.Tensor4D;
  const v = rand([2, 1, tk, 3], 3) as tf.Tensor4D;
  const probe = rand([2, 2, tq, 3], 4);
  const probeLse = rand([2, 2, tq], 5);
  const masks = Array.from({ length: parts }, (_, p) => partMask(tq, tk, assign, p));
  const loss = (r: { output: tf.Tensor; logSumExp?: tf.Tensor }) =>
    tf.add(tf.sum(tf.mul(r.output, probe)), tf.sum(tf.mul(r.logSumExp!, probeLse)));
  const attend = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, mask?: tf.Tensor) =>
    scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
      ...options,
      ...(mask ? { mask } : {}),
      ...(chunkSize ? { chunkSize } : {}),
      returnLogSumExp: true,
    });
  const merged = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
    mergeAttention(
      masks.map((m) => {
        const r = attend(qq, kk, vv, m);
        return { output: r.output, logSumExp: r.logSumExp! };
      }),
    );
  const whole = attend(q, k, v);
  const parted = merged(q, k, v);
  expectClose(parted.output, whole.output, { atol: 1e-5, rtol: 0 });
  expectClose(parted.logSumExp, whole.logSumExp!, { atol: 1e-5, rtol: 0 });
  const gWhole = tf.grads((a, b, c) => loss(attend(a, b, c)))([q, k, v]);
  const gParted = tf.grads((a, b, c) => loss(merged(a, b, c)))([q, k, v]);
  gParted.forEach((g, i) => {
    expect(g.dataSync().every(Number.isFinite)).toBe(true);
    expectClose(g, gWhole[i]!, { atol: 1e-5, rtol: 0 });
  });
}

describe('mergeAttention', () => {
  it('two interleaved key sets merge to attention over all keys', () => {
    compare(2, (j) => j % 2, {}, [5, 7]);
  });

  it('three contiguous key sets, causal (early queries see nothing in later parts)', () => {
    compare(3, (j) => Math.floor(j / 3), { causal: true }, [8, 8]);
  });

  it('three scattered key sets, causal decoding (tq < tk)', () => {
    compare(3, (j) => (j * 7) % 3, { causal: true }, [3, 9]);
  });

  it('the chunked form merges the same way (causal, window)', () => {
    compare(2, (j) => (j < 4 ? 0 : 1), { window: 5 }, [7, 7], 3);
  });

  it('an empty part contributes nothing, whatever its output; all empty gives 0 and -Infinity', () => {
    const output = rand([1, 1, 2, 3], 10) as tf.Tensor4D;
    const lse = tf.tensor3d([[[0.5, -Infinity]]]);
    const empty = {
      output: tf.fill([1, 1, 2, 3], NaN) as tf.Tensor4D,
      logSumExp: tf.fill([1, 1, 2], -Infinity) as tf.Tensor3D,
    };
    const merged = mergeAttention([{ output, logSumExp: lse }, empty]);
    const out = merged.output.arraySync()[0]![0]!;
    expectClose(out[0]!, output.arraySync()[0]![0]![0]!, { atol: 1e-6 });
    expect(out[1]).toEqual([0, 0, 0]);
    expect(Array.from(merged.logSumExp.dataSync())).toEqual([0.5, -Infinity]);
    // Gradients with respect to every input stay finite (0 for the empty parts).
    const grads = tf.grads((o: tf.Tensor, l: tf.Tensor, eo: tf.Tensor, el: tf.Tensor) => {
      const m = mergeAttention([
        { output: o as tf.Tensor4D, logSumExp: l as tf.Tensor3D },
        { output: eo as tf.Tensor4D, logSumExp: el as tf.Tensor3D },
      ]);
      return tf.add(tf.sum(m.output), tf.sum(tf.where(tf.isFinite(m.logSumExp), m.logSumExp, 0)));
    })([output, lse, empty.output, empty.logSumExp]);
    for (const g of grads) expect(g.dataSync().every(Number.isFinite)).toBe(true);
    expect(Array.from(grads[2]!.dataSync())).toEqual(Array(6).fill(0));
  });

  it('is stable for large log-sum-exps', () => {
    const a = { output: tf.ones([1, 1, 1, 2]) as tf.Tensor4D, logSumExp: tf.tensor3d([[[1000]]]) };
    const b = { output: tf.zeros([1, 1, 1, 2]) as tf.Tensor4D, logSumExp: tf.tensor3d([[[1000]]]) };
    const m = mergeAttention([a, b]);
    expectClose(m.output, [[[[0.5, 0.5]]]], { atol: 1e-6 });
    expectClose(m.logSumExp, [[[1000 + Math.log(2)]]], { atol: 1e-3 });
  });

  it('refuses bad parts with a typed one-line error', () => {
    const output = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    const logSumExp = tf.zeros([1, 2, 3]) as tf.Tensor3D;
    expect(() => mergeAttention([])).toThrow(ShapeError);
    expect(() =>
      mergeAttention([{ output, logSumExp: tf.zeros([1, 2, 4]) as tf.Tensor3D }]),
    ).toThrow(/mergeAttention: parts\[0\]\.logSumExp expected shape \[1,2,3\]/);
    expect(() =>
      mergeAttention([
        { output, logSumExp },
        { output: tf.zeros([1, 2, 3, 5]) as tf.Tensor4D, logSumExp },
      ]),
    ).toThrow(/parts\[1\]\.output expected shape \[1,2,3,4\]/);
    expect(() =>
      mergeAttention([{ output, logSumExp: tf.zeros([1, 2, 3, 1]) as unknown as tf.Tensor3D }]),
    ).toThrow(ShapeError);
  });

  it('leaks nothing over forward and backward', async () => {
    const o = rand([1, 2, 3, 4], 20) as tf.Tensor4D;
    const l = rand([1, 2, 3], 21) as tf.Tensor3D;
    const l2 = tf.fill([1, 2, 3], -Infinity) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const m = mergeAttention([
        { output: o, logSumExp: l },
        { output: o, logSumExp: l2 },
      ]);
      const g = tf.grads((a: tf.Tensor) =>
        tf.sum(mergeAttention([{ output: a as tf.Tensor4D, logSumExp: l }]).output),
      )([o]);
      tf.dispose([m.output, m.logSumExp, ...g]);
    });
  });
});
