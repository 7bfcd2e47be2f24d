import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, estimateConfig } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff, mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import { checkGolden, loadGolden, outputAndGradients, type Mixer } from './golden-case';

const cases = loadGolden('coarse-to-fine.json');

const make = (config: Record<string, unknown>) =>
  build<Mixer>({ type: 'coarse-to-fine-attention', dModel: 8, numHeads: 2, ...config });

describe('coarse-to-fine-attention (Deng et al. 2017, coarse-to-fine attention)', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => checkGolden(c, 3e-5),
  );

  it.each([
    ['encoder, regions of 3, top-2', { regionSize: 3, topk: 2 }, 12],
    ['encoder, regions of 4, top-3', { regionSize: 4, topk: 3 }, 16],
    ['2-D 4x6 grid, 2x2 regions, top-3', { regionSize: 2, topk: 3, grid: [4, 6] }, 24],
    ['causal, regions of 3, top-2, ragged', { regionSize: 3, topk: 2, causal: true }, 13],
    ['causal, regions of 2, top-4', { regionSize: 2, topk: 4, causal: true }, 12],
    ['causal, regions of 4, top-1 (own region only)', { regionSize: 4, topk: 1, causal: true }, 10],
  ])(
    '%s: the gathered path equals the dense reference (outputs, all gradients)',
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

  it('one region holding everything is full attention; causal top-k over every region is causal attention', () => {
    const one = make({ regionSize: 6, topk: 1 });
    const mha = build<Mixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: false });
    mha.loadStateDict(one.stateDict());
    const x = tf.randomNormal([2, 6, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    expectClose(one.forward(x), mha.forward(x), { atol: 1e-5 });
    // Regions of one token: the coarse softmax is the fine one, so all regions = full attention.
    const tokens = make({ regionSize: 1, topk: 6, causal: true });
    const causal = build<Mixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: true });
    tokens.loadStateDict(one.stateDict());
    causal.loadStateDict(one.stateDict());
    expectClose(tokens.forward(x), causal.forward(x), { atol: 1e-5 });
    [one, mha, tokens, causal].forEach((m) => m.dispose());
  });

  it('reports the selected regions to the probe: the own region, then the top completed ones', () => {
    const m = make({ regionSize: 2, topk: 2, causal: true });
    const x = tf.randomNormal([1, 6, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const events: { name: string; value: unknown }[] = [];
    m.forward(x, { probe: (e) => events.push(e) }).dispose();
    expect(events.map((e) => e.name)).toEqual(['selectedRegions[1,2,6,2]']);
    const value = events[0]!.value as number[];
    for (let h = 0; h < 2; h++) {
      // Queries 0-1: own region 0, nothing completed; 2-3: own 1 and region 0; 4-5: own 2 + 0 or 1.
      const row = (i: number) => value.slice((h * 6 + i) * 2, (h * 6 + i) * 2 + 2);
      expect([row(0), row(1), row(2), row(3)]).toEqual([
        [0, -1],
        [0, -1],
        [1, 0],
        [1, 0],
      ]);
      expect(row(4)[0]).toBe(2);
      expect([0, 1]).toContain(row(4)[1]);
    }
    x.dispose();
    m.dispose();
  });

  it('the gathered path builds no [T, T] map', async () => {
    const largest = async (form: string, causal: boolean) => {
      const m = make({ regionSize: 16, topk: 2, causal, form });
      const x = tf.randomNormal([1, 256, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const info = await tf.profile(() => m.forward(x));
      const sizes = info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((shape) => shape.reduce((p, d) => p * d, 1)),
      );
      x.dispose();
      m.dispose();
      return Math.max(...sizes);
    };
    for (const causal of [false, true]) {
      expect(await largest('dense', causal)).toBeGreaterThanOrEqual(2 * 256 * 256);
      // [heads, T, 2 regions of 16 keys, headDim 4] gathered, never [T, T].
      expect(await largest('gather', causal)).toBeLessThanOrEqual(2 * 256 * 16 * 4);
    }
  });

  it('estimates exactly the parameters it builds', () => {
    for (const extra of [
      { regionSize: 2, topk: 1 },
      { regionSize: 2, topk: 1, bias: true, causal: true },
      { regionSize: 2, topk: 2, headDim: 3 },
    ]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
  });

  it('refuses bad input with typed errors naming the argument', () => {
    const m = make({ regionSize: 3, topk: 3 });
    const short = tf.zeros([1, 6, 8]) as tf.Tensor3D;
    expect(() => m.forward(short)).toThrow(ShapeError);
    expect(() => m.forward(short)).toThrow(
      /x expected at least topk=3 regions of 3 tokens, got 6 tokens \(2 regions\)/,
    );
    const ragged = tf.zeros([1, 10, 8]) as tf.Tensor3D;
    expect(() => m.forward(ragged)).toThrow(
      /x expected a length divisible by regionSize=3, got 10/,
    );
    expect(() => m.forward(tf.zeros([1, 9, 8]) as tf.Tensor3D, { causal: true })).toThrow(
      /context.causal/,
    );
    expect(() => make({ regionSize: 2, topk: 1, grid: [4, 4], causal: true })).toThrow(
      /grid expected no grid when causal/,
    );
    expect(() => make({ regionSize: 3, topk: 1, grid: [3, 4] })).toThrow(
      /regionSize expected a divisor of the grid's height and width 3×4, got 3/,
    );
    const grid = make({ regionSize: 2, topk: 1, grid: [2, 4] });
    expect(() => grid.forward(short)).toThrow(/x expected 8 tokens \(grid 2×4\), got 6 tokens/);
    grid.dispose();
    expect(() => make({ regionSize: 0, topk: 1 })).toThrow(ConfigError);
    expect(() => make({ regionSize: 0, topk: 1 })).toThrow(/regionSize/);
    expect(() => make({ regionSize: 2, topk: 1.5 })).toThrow(/topk/);
    [short, ragged].forEach((t) => t.dispose());
    m.dispose();
  });

  it('leaks nothing: both forms, encoder and causal, forward and backward, refused input', async () => {
    await expectNoLeaks(() => {
      for (const form of ['gather', 'dense'])
        for (const causal of [false, true]) {
          const m = make({ regionSize: 2, topk: 2, causal, form });
          const x = tf.randomNormal([1, 8, 8]) as tf.Tensor3D;
          const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
          tf.dispose([value, ...Object.values(grads), x]);
          const bad = tf.zeros([1, 2, 8]) as tf.Tensor3D;
          if (!causal) expect(() => m.forward(bad)).toThrow(ShapeError);
          bad.dispose();
          m.dispose();
        }
    });
  });

  describe.each([
    ['encoder', { regionSize: 2, topk: 2 }, 8],
    ['causal, ragged', { regionSize: 3, topk: 2, causal: true }, 10],
    ['2-D 4x4 grid, 2x2 regions', { regionSize: 2, topk: 2, grid: [4, 4] }, 16],
  ])('contract (%s)', (_n, extra, time) => {
    const config = { type: 'coarse-to-fine-attention', dModel: 8, numHeads: 2, ...extra };
    for (const check of mixerContract(config, { time })) {
      it(check.name, async () => check.run());
    }
  });
});
