import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, estimateConfig } from '@attnkit/core';
import {
  KVCache,
  causalNeighborhood,
  neighborhood,
  neighborhoodAttention,
  neighborhoodAttentionDense,
} from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff, mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import { checkGolden, loadGolden, outputAndGradients, type Mixer } from './golden-case';

const cases = loadGolden('neighborhood.json');

const make = (config: Record<string, unknown>) =>
  build<Mixer>({ type: 'neighborhood-attention', dModel: 8, numHeads: 2, ...config });

describe('neighborhood-attention (Hassani et al. 2023; DiNAT dilation)', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch reference (NATTEN window rules)',
    (_name, c) => checkGolden(c, 3e-5),
  );

  it.each([
    ['1-D, dilation 2', { kernelSize: 3, dilation: 2 }, 9],
    ['1-D causal, dilation 2', { kernelSize: 3, dilation: 2, causal: true }, 7],
    ['2-D, dilation 2', { kernelSize: 3, dilation: 2, grid: [6, 7] }, 42],
    ['2-D, no bias', { kernelSize: 3, grid: [3, 4], relativeBias: false }, 12],
  ])(
    '%s: the gather path equals the dense masked reference (outputs, all gradients)',
    (_n, extra, t) => {
      const sparse = make({ ...extra, form: 'gather' });
      const dense = make({ ...extra, form: 'dense' });
      // Same weights, a non-zero bias table.
      const state = Object.fromEntries(
        [...sparse.namedParameters()].map(([n, v]) => [
          n,
          n === 'rpb' ? tf.randomNormal(v.shape, 0, 0.5, 'float32', 10) : v,
        ]),
      );
      sparse.loadStateDict(state);
      dense.loadStateDict(state);
      const x = tf.randomNormal([2, t, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
      const probe = tf.randomNormal([2, t, 8], 0, 1, 'float32', 2);
      const a = outputAndGradients(sparse, x, probe);
      const b = outputAndGradients(dense, x, probe);
      expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(a.dx, b.dx)).toBeLessThanOrEqual(1e-4);
      expect(a.grads.length).toBe(b.grads.length);
      a.grads.forEach(([name, g], i) => {
        expect([name, maxAbsDiff(g, b.grads[i]![1]) <= 1e-4]).toEqual([name, true]);
      });
      [sparse, dense].forEach((m) => m.dispose());
    },
  );

  it('every query sees exactly k distinct keys, itself among them, clamped at the borders', () => {
    const nb = neighborhood({ grid: [1, 9], kernel: [1, 3], dilation: [1, 2] });
    const rows = Array.from({ length: 9 }, (_, i) => Array.from(nb.keys.slice(3 * i, 3 * i + 3)));
    expect(rows).toEqual([
      [0, 2, 4],
      [1, 3, 5],
      [0, 2, 4],
      [1, 3, 5],
      [2, 4, 6],
      [3, 5, 7],
      [4, 6, 8],
      [3, 5, 7],
      [4, 6, 8],
    ]);
    const grid = neighborhood({ grid: [5, 6], kernel: [3, 3], dilation: [1, 2] });
    for (let i = 0; i < grid.length; i++) {
      const keys = new Set(grid.keys.slice(9 * i, 9 * i + 9));
      expect([i, keys.size, keys.has(i)]).toEqual([i, 9, true]);
    }
    const causal = neighborhood({ grid: [1, 6], kernel: [1, 3], dilation: [1, 2], causal: true });
    expect(Array.from(causal.valid)).toEqual([
      0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    ]);
  });

  it('causal decoding: cached == full in both forms, the cache keeping (k − 1)·δ keys between calls', () => {
    for (const form of ['gather', 'dense']) {
      const m = make({ kernelSize: 3, dilation: 2, causal: true, form });
      const x = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
      const state = m.initState!(2) as KVCache;
      const steps = [2, 1, 3, 3].map((n, i, all) => {
        const start = all.slice(0, i).reduce((a, b) => a + b, 0);
        const y = m.forward(tf.slice(x, [0, start, 0], [-1, n, -1]) as tf.Tensor3D, { state });
        expect(state.keys!.shape[2]).toBeLessThanOrEqual(4);
        return y;
      });
      expect(maxAbsDiff(tf.concat(steps, 1), m.forward(x))).toBeLessThanOrEqual(1e-4);
      expect(state.positions).toEqual([5, 6, 7, 8]);
      state.dispose();
      m.dispose();
    }
    const whole = neighborhood({ grid: [1, 7], kernel: [1, 3], dilation: [1, 2], causal: true });
    const listed = causalNeighborhood([0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6], 3, 2);
    expect([listed.keys, listed.valid, listed.relative]).toEqual([
      whole.keys,
      whole.valid,
      whole.relative,
    ]);
  });

  it('causal: later tokens do not change earlier outputs', () => {
    const m = make({ kernelSize: 3, dilation: 2, causal: true });
    const a = tf.randomNormal([1, 8, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
    const b = tf.concat(
      [tf.slice(a, [0, 0, 0], [-1, 6, -1]), tf.ones([1, 2, 8])],
      1,
    ) as tf.Tensor3D;
    const head = (y: tf.Tensor) => tf.slice(y, [0, 0, 0], [-1, 6, -1]);
    expect(maxAbsDiff(head(m.forward(a)), head(m.forward(b)))).toBeLessThan(1e-6);
    m.dispose();
  });

  it('estimates exactly the parameters it builds (1-D and 2-D)', () => {
    for (const extra of [
      { kernelSize: 3, grid: [3, 4] },
      { kernelSize: 5 },
      { kernelSize: 3, relativeBias: false, bias: true },
      { kernelSize: 3, headDim: 3 },
    ]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
    // headDim · numHeads ≠ dModel: every width follows the heads.
    const narrow = make({ kernelSize: 3, headDim: 3 });
    const x = tf.ones([1, 4, 8]) as tf.Tensor3D;
    expect(narrow.forward(x).shape).toEqual([1, 4, 8]);
    x.dispose();
    narrow.dispose();
  });

  it('the gathered path builds no [T, T] map: its largest tensor is [heads, T, selected keys]-sized', async () => {
    const largest = async (form: string) => {
      const m = make({ ...{ kernelSize: 3, grid: [16, 16] }, form });
      const x = tf.randomNormal([1, 256, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const info = await tf.profile(() => m.forward(x));
      const sizes = info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((shape) => shape.reduce((p, d) => p * d, 1)),
      );
      x.dispose();
      m.dispose();
      return Math.max(...sizes);
    };
    expect(await largest('dense')).toBeGreaterThanOrEqual(2 * 256 * 256);
    expect(await largest('gather')).toBeLessThanOrEqual(2 * 256 * 9 * 4);
  });

  it('refuses bad input with typed errors naming the argument', () => {
    expect(() => make({ kernelSize: 4 })).toThrow(
      /neighborhood-attention: \$\.kernelSize expected an odd size \(a centred window\), got 4/,
    );
    const even = make({ kernelSize: 4, causal: true }); // a causal window need not be centred
    expect(even.forward(tf.zeros([1, 5, 8]) as tf.Tensor3D).shape).toEqual([1, 5, 8]);
    expect(() => neighborhood({ grid: [1, 8], kernel: [1, 4] })).toThrow(
      /kernel width expected an odd size, got 4/,
    );
    const wide = make({ kernelSize: 5, dilation: 2 });
    expect(() => wide.forward(tf.zeros([1, 9, 8]) as tf.Tensor3D)).toThrow(ConfigError);
    expect(() => wide.forward(tf.zeros([1, 9, 8]) as tf.Tensor3D)).toThrow(
      /kernel × dilation <= the grid's width 9, got 5 × 2/,
    );
    const grid = make({ kernelSize: 3, grid: [3, 4] });
    expect(() => grid.forward(tf.zeros([1, 13, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => grid.forward(tf.zeros([1, 13, 8]) as tf.Tensor3D)).toThrow(
      /x expected 12 tokens \(grid 3×4\), got 13 tokens/,
    );
    expect(() => make({ kernelSize: 5, grid: [3, 8] })).toThrow(/grid's height 3/);
    expect(() => make({ kernelSize: 3, grid: [3, 4], causal: true })).toThrow(
      /grid expected no grid when causal \(a 1-D sequence\), got a grid/,
    );
    expect(() => make({ kernelSize: 3, window: 2 })).toThrow(/window/);
    expect(() =>
      make({ kernelSize: 3, grid: [3, 4] }).forward(tf.zeros([1, 12, 8]) as tf.Tensor3D, {
        causal: true,
      }),
    ).toThrow(/context.causal/);
    const nb = neighborhood({ grid: [1, 4], kernel: [1, 3] });
    const q = tf.zeros([1, 2, 5, 4]) as tf.Tensor4D;
    expect(() => neighborhoodAttention(q, q, q, nb)).toThrow(ShapeError);
    const q4 = tf.zeros([1, 2, 4, 4]) as tf.Tensor4D;
    expect(() =>
      neighborhoodAttention(q4, q4, q4, nb, { bias: tf.zeros([2, 4]) as tf.Tensor2D }),
    ).toThrow(/bias expected shape \[2,5\]/);
    [even, wide, grid].forEach((m) => m.dispose());
  });

  it('leaks nothing: both forms, forward and backward, ops and errors', async () => {
    await expectNoLeaks(() => {
      for (const form of ['gather', 'dense']) {
        const m = make({ kernelSize: 3, dilation: 2, grid: [6, 6], form });
        const x = tf.randomNormal([1, 36, 8]) as tf.Tensor3D;
        const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads), x]);
        const bad = tf.zeros([1, 35, 8]) as tf.Tensor3D;
        expect(() => m.forward(bad)).toThrow(ShapeError); // refused before allocating
        bad.dispose();
        m.dispose();
      }
      const nb = neighborhood({ grid: [1, 5], kernel: [1, 3], causal: true });
      const q = tf.randomNormal([1, 2, 5, 4]) as tf.Tensor4D;
      const bias = tf.zeros([2, 5]) as tf.Tensor2D;
      tf.dispose([
        neighborhoodAttention(q, q, q, nb, { bias }),
        neighborhoodAttentionDense(q, q, q, nb, { bias }),
        q,
        bias,
      ]);
    });
  });

  describe('contract over a grid', () => {
    for (const check of mixerContract(
      {
        type: 'neighborhood-attention',
        dModel: 8,
        numHeads: 2,
        kernelSize: 3,
        grid: [3, 3],
      },
      { time: 9 },
    )) {
      it(check.name, async () => check.run());
    }
    for (const check of mixerContract({
      type: 'neighborhood-attention',
      dModel: 8,
      numHeads: 2,
      kernelSize: 3,
      dilation: 2,
      causal: true,
    })) {
      it(`causal: ${check.name}`, async () => check.run());
    }
  });
});
