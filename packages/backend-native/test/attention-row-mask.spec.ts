// scaledDotProductAttention's rowMask: on native the fused kernels skip the masked (head, query)
// rows in the forward and the backward; on cpu the composite computes them and zeroes them.
// Both must agree, outputs and gradients, on odd shapes, grouped heads, windows and empty heads.
import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { Rng, build, type Module, type TokenMixer } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import '@attnkit/routing';
import { FUSED_ATTENTION } from '../src/index';
import { expectSame, onBoth, rand } from './helpers';

interface Case {
  b: number;
  h: number;
  kvh: number;
  tq: number;
  tk: number;
  d: number;
  /** Probability that a row is kept. */
  keep: number;
  options: AttentionOptions;
}

/** A seeded 0/1 mask; head 0 of batch 0 keeps nothing, so an empty head is always covered. */
function maskOf(c: Case, seed: number): tf.Tensor3D {
  return tf.tidy(() => {
    const kept = tf.cast(
      tf.less(tf.randomUniform([c.b, c.h, c.tq], 0, 1, 'float32', seed), c.keep),
      'float32',
    );
    const emptyHead = tf.reshape(tf.oneHot(tf.tensor1d([0], 'int32'), c.b * c.h), [c.b, c.h, 1]);
    return tf.mul(kept, tf.sub(1, emptyHead)) as tf.Tensor3D;
  });
}

const cases: Array<[string, Case]> = [
  [
    'one query, one key',
    { b: 1, h: 2, kvh: 1, tq: 1, tk: 1, d: 4, keep: 1, options: { causal: true } },
  ],
  [
    'causal, odd sizes',
    { b: 2, h: 3, kvh: 3, tq: 37, tk: 37, d: 7, keep: 0.5, options: { causal: true } },
  ],
  [
    'GQA 4 on 2, half the rows',
    { b: 2, h: 4, kvh: 2, tq: 33, tk: 33, d: 8, keep: 0.5, options: { causal: true } },
  ],
  ['not causal, tq != tk', { b: 1, h: 2, kvh: 1, tq: 5, tk: 70, d: 8, keep: 0.6, options: {} }],
  [
    'sliding window',
    { b: 1, h: 2, kvh: 1, tq: 90, tk: 90, d: 8, keep: 0.3, options: { window: 7 } },
  ],
  [
    'decode step after 40 keys',
    { b: 2, h: 4, kvh: 2, tq: 1, tk: 41, d: 8, keep: 0.5, options: { causal: true } },
  ],
  [
    'every row kept',
    { b: 1, h: 2, kvh: 2, tq: 9, tk: 9, d: 4, keep: 2, options: { causal: true } },
  ],
  ['no row kept', { b: 1, h: 2, kvh: 1, tq: 6, tk: 6, d: 4, keep: 0, options: { causal: true } }],
  [
    'MoH-like: larger than a pooled buffer, GQA, a third kept',
    { b: 2, h: 8, kvh: 4, tq: 97, tk: 97, d: 16, keep: 0.34, options: { causal: true } },
  ],
];

describe('scaledDotProductAttention with rowMask: native fused == cpu composite', () => {
  it.each(cases)('%s: output and gradients', async (_name, c) => {
    const q = rand([c.b, c.h, c.tq, c.d], 1) as tf.Tensor4D;
    const k = rand([c.b, c.kvh, c.tk, c.d], 2) as tf.Tensor4D;
    const v = rand([c.b, c.kvh, c.tk, c.d], 3) as tf.Tensor4D;
    const w = rand([c.b, c.h, c.tq, c.d], 4);
    const rowMask = maskOf(c, 5);
    const options = { ...c.options, rowMask };
    const attend = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor4D, options)
        .output;
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const info = await tf.profile(() => {
      tf.dispose(attend(q, k, v));
    });
    await tf.setBackend(initial);
    expect(info.kernels.map((x) => x.name)).toContain(FUSED_ATTENTION);
    expectSame(await onBoth(() => attend(q, k, v)), 2e-5);
    // Masked rows are exactly 0.
    const [, native] = await onBoth(() =>
      tf.mul(attend(q, k, v), tf.sub(1, tf.expandDims(rowMask, 3))),
    );
    expect(Math.max(...Array.from(native.values!, Math.abs))).toBe(0);
    const loss = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(attend(a, b, d), w));
    expectSame(await onBoth(() => tf.grads(loss)([q, k, v])), 5e-5);
    tf.dispose([q, k, v, w, rowMask]);
  });

  it('refuses a mask of the wrong shape or dtype, naming it', () => {
    const q = rand([1, 2, 3, 4], 1) as tf.Tensor4D;
    const bad = tf.ones([1, 3, 3]) as tf.Tensor3D;
    expect(() => scaledDotProductAttention(q, q, q, { rowMask: bad })).toThrow(
      /scaledDotProductAttention: rowMask expected float32 \[1,2,3\].*got float32 \[1,3,3\]/,
    );
    const ints = tf.ones([1, 2, 3], 'int32') as tf.Tensor3D;
    expect(() => scaledDotProductAttention(q, q, q, { rowMask: ints })).toThrow(/rowMask/);
    tf.dispose([q, bad, ints]);
  });

  it('leaks nothing on native, forward and backward', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const q = rand([1, 2, 6, 4], 1) as tf.Tensor4D;
    const k = rand([1, 1, 6, 4], 2) as tf.Tensor4D;
    const rowMask = maskOf({ b: 1, h: 2, kvh: 1, tq: 6, tk: 6, d: 4, keep: 0.5, options: {} }, 3);
    await expectNoLeaks(() => {
      tf.tidy(() => {
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, b as tf.Tensor4D, {
              causal: true,
              rowMask,
            }).output,
          );
        tf.grads(f)([q, k]);
      });
    });
    tf.dispose([q, k, rowMask]);
    await tf.setBackend(initial);
  });
});

describe('moh on native: its unselected heads skipped, the same outputs and gradients as cpu', () => {
  it.each([
    ['MHA-shaped, 1 shared + top-1 of 3', { numHeads: 4, numSharedHeads: 1, topK: 1 }],
    ['GQA, 2 shared + top-2 of 6', { numHeads: 8, numKvHeads: 4, numSharedHeads: 2, topK: 2 }],
  ])('%s', async (_name, heads) => {
    const config = { type: 'moh', dModel: 32, causal: true, ...heads };
    const x = rand([2, 13, 32], 1) as tf.Tensor3D;
    const run = () => {
      const m = build<Module & TokenMixer>(config, { rng: new Rng(0) });
      const vars = [...m.trainableParameters()];
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(x))), vars);
      const out = [m.forward(x), value, ...vars.map((v) => grads[v.name]!)];
      m.dispose();
      return out;
    };
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const info = await tf.profile(() => {
      tf.dispose(run());
    });
    await tf.setBackend(initial);
    // The kernel got the row mask (q, k, v and rowMask), so it skipped the unselected heads.
    const fused = info.kernels.filter((k) => k.name === FUSED_ATTENTION);
    expect(fused.map((k) => k.inputShapes.length)).toEqual([4, 4]); // two forwards
    expectSame(await onBoth(run), 5e-5);
    x.dispose();
  });
});
