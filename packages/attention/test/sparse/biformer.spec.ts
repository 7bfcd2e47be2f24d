import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, estimateConfig, type Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff, mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import { checkGolden, loadGolden, outputAndGradients, type Mixer } from './golden-case';

const cases = loadGolden('biformer.json');

const make = (config: Record<string, unknown>) =>
  build<Mixer>({ type: 'biformer', dModel: 8, numHeads: 2, ...config });

describe('biformer (Zhu et al. 2023, bi-level routing attention)', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => checkGolden(c, 3e-5),
  );

  it.each([
    ['1-D, 4 segments, top-2', { regions: 4, topk: 2, lceKernel: 3 }, 12],
    ['2-D 4x6, 2x2 regions, top-3', { regions: 2, topk: 3, grid: [4, 6] }, 24],
    [
      '2-D 6x6, 3x3 regions, top-2, no LCE',
      { regions: 3, topk: 2, grid: [6, 6], lceKernel: 0 },
      36,
    ],
  ])(
    '%s: the gathered path equals the dense routing-masked reference (outputs, all gradients)',
    (_n, extra, t) => {
      const sparse = make({ ...extra, form: 'gather' });
      const dense = make({ ...extra, form: 'dense' });
      dense.loadStateDict(sparse.stateDict());
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
      sparse.dispose();
      dense.dispose();
    },
  );

  it('routing to every region is full attention (no LCE); routing to fewer differs', () => {
    const all = make({ regions: 3, topk: 3, lceKernel: 0 });
    const some = make({ regions: 3, topk: 1, lceKernel: 0 });
    const mha = build<Mixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: false });
    some.loadStateDict(all.stateDict());
    mha.loadStateDict(all.stateDict());
    const x = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    expectClose(all.forward(x), mha.forward(x), { atol: 1e-5 });
    expect(maxAbsDiff(some.forward(x), mha.forward(x))).toBeGreaterThan(1e-3);
    [all, some, mha].forEach((m) => m.dispose());
  });

  it('estimates exactly the parameters it builds (1-D and 2-D)', () => {
    for (const extra of [
      { regions: 2, topk: 1, grid: [4, 4] },
      { regions: 2, topk: 1, lceKernel: 0 },
      { regions: 3, topk: 2, lceKernel: 3, bias: true },
      { regions: 2, topk: 1, headDim: 3, grid: [2, 2] },
    ]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
    // headDim · numHeads ≠ dModel: every width follows the heads.
    const narrow = make({ regions: 2, topk: 1, headDim: 3, grid: [2, 2] });
    const x = tf.ones([1, 4, 8]) as tf.Tensor3D;
    expect(narrow.forward(x).shape).toEqual([1, 4, 8]);
    x.dispose();
    narrow.dispose();
  });

  it('the gathered path builds no [T, T] map: its largest tensor is [heads, T, selected keys]-sized', async () => {
    const largest = async (form: string) => {
      const m = make({ ...{ regions: 4, topk: 2, grid: [16, 16] }, form });
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
    expect(await largest('gather')).toBeLessThanOrEqual(2 * 256 * 32 * 4);
  });

  it('reports its routing to the probe: the top-k regions of the region-mean affinity', () => {
    const m = make({ regions: 3, topk: 2, lceKernel: 0 }) as Mixer & { q: Module; k: Module };
    const x = tf.randomNormal([1, 9, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const events: { name: string; value: unknown; path: string }[] = [];
    m.forward(x, { probe: (e) => events.push(e), path: 'layers_0.mixer' }).dispose();
    expect(events.map((e) => [e.name, e.path])).toEqual([['routedRegions', 'layers_0.mixer']]);
    // Recomputed here from the projections: mean of each region's q and k, affinity, top-2.
    const mean = (y: tf.Tensor) => tf.mean(tf.reshape(y, [3, 3, 8]), 1);
    const proj = (p: Module) => (p as unknown as { forward(t: tf.Tensor): tf.Tensor }).forward(x);
    const affinity = tf
      .matMul(mean(proj(m.q)), mean(proj(m.k)), false, true)
      .arraySync() as number[][];
    const top = affinity.flatMap((row) => [0, 1, 2].sort((a, b) => row[b]! - row[a]!).slice(0, 2));
    expect(events[0]!.value).toEqual(top);
    x.dispose();
    m.dispose();
  });

  it('refuses bad input with typed errors naming the argument', () => {
    expect(() => make({ regions: 2, topk: 3 })).toThrow(
      /topk expected at most the 2 regions, got 3/,
    );
    expect(() => make({ regions: 2, topk: 5, grid: [4, 4] })).toThrow(ConfigError);
    expect(() => make({ regions: 2, topk: 1, lceKernel: 4 })).toThrow(/lceKernel expected an odd/);
    expect(() => make({ regions: 3, topk: 1, grid: [4, 6] })).toThrow(
      /x expected grid height 4 divisible by regions=3, got 4/,
    );
    const m = make({ regions: 4, topk: 2 });
    const bad = tf.zeros([1, 10, 8]) as tf.Tensor3D;
    expect(() => m.forward(bad)).toThrow(ShapeError);
    expect(() => m.forward(bad)).toThrow(/x expected 10 tokens divisible by regions=4, got 10/);
    const grid = make({ regions: 2, topk: 1, grid: [4, 4] });
    expect(() => grid.forward(bad)).toThrow(/x expected 16 tokens \(grid 4×4\), got 10 tokens/);
    expect(() => m.forward(tf.zeros([1, 8, 8]) as tf.Tensor3D, { causal: true })).toThrow(
      /context.causal/,
    );
    expect(() => make({ regions: 2, topk: 1, window: 3 })).toThrow(/window/);
    bad.dispose();
    [m, grid].forEach((mixer) => mixer.dispose());
  });

  it('leaks nothing: both forms, forward and backward, refused input', async () => {
    await expectNoLeaks(() => {
      for (const form of ['gather', 'dense']) {
        const m = make({ regions: 2, topk: 2, grid: [4, 4], form });
        const x = tf.randomNormal([1, 16, 8]) as tf.Tensor3D;
        const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads), x]);
        const bad = tf.zeros([1, 15, 8]) as tf.Tensor3D;
        expect(() => m.forward(bad)).toThrow(ShapeError);
        bad.dispose();
        m.dispose();
      }
    });
  });

  describe('contract over a grid', () => {
    const config = { type: 'biformer', dModel: 8, numHeads: 2, regions: 2, topk: 2, grid: [4, 4] };
    for (const check of mixerContract(config, { time: 16 })) {
      it(check.name, async () => check.run());
    }
  });
});
