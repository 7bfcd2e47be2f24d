import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, estimateConfig } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff, mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import { checkGolden, loadGolden, outputAndGradients, type Mixer } from './golden-case';

const cases = loadGolden('lkca.json');

const make = (config: Record<string, unknown>) =>
  build<Mixer>({ type: 'lkca', dModel: 8, ...config });

describe('lkca (Li et al. 2024, large kernel convolutional attention)', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => checkGolden(c, 5e-5),
  );

  it.each([
    ['1-D, K=7, d=3', { kernelSize: 7, dilation: 3 }, 11],
    ['1-D, K=9, d=1 (one 9-tap kernel)', { kernelSize: 9, dilation: 1 }, 7],
    ['2-D 4x5, K=5, d=2', { kernelSize: 5, dilation: 2, grid: [4, 5] }, 20],
    ['2-D 3x3, K=21, d=3 (kernel wider than the grid)', { grid: [3, 3] }, 9],
  ])(
    '%s: the convolution equals attention with the fixed shared weights A_ij = w_(j-i) (outputs, all gradients)',
    (_n, extra, t) => {
      const conv = make({ ...extra, form: 'conv' });
      const attention = make({ ...extra, form: 'attention' });
      attention.loadStateDict(conv.stateDict());
      const x = tf.randomNormal([2, t, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
      const probe = tf.randomNormal([2, t, 8], 0, 1, 'float32', 2);
      const a = outputAndGradients(conv, x, probe);
      const b = outputAndGradients(attention, x, probe);
      expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(a.dx, b.dx)).toBeLessThanOrEqual(1e-4);
      expect(a.grads.length).toBe(b.grads.length);
      a.grads.forEach(([name, g], i) => {
        expect([name, maxAbsDiff(g, b.grads[i]![1]) <= 1e-4]).toEqual([name, true]);
      });
      conv.dispose();
      attention.dispose();
    },
  );

  it('is local: a token outside the receptive field (2d − 2 + d(⌈K/d⌉ − 1) + 1 wide) changes nothing', () => {
    // K=7, d=3: 5 local taps and 3 taps at dilation 3, reach 2 + 3 = 5 on each side.
    const m = make({ kernelSize: 7, dilation: 3 });
    const x = tf.randomNormal([1, 12, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const at = (i: number) =>
      tf.concat(
        [
          tf.slice(x, [0, 0, 0], [1, i, 8]),
          tf.ones([1, 1, 8]),
          tf.slice(x, [0, i + 1, 0], [1, 11 - i, 8]),
        ],
        1,
      ) as tf.Tensor3D;
    const first = (y: tf.Tensor) => tf.slice(y, [0, 0, 0], [1, 1, 8]);
    expect(maxAbsDiff(first(m.forward(x)), first(m.forward(at(6))))).toBe(0);
    expect(maxAbsDiff(first(m.forward(x)), first(m.forward(at(5))))).toBeGreaterThan(1e-4);
    m.dispose();
  });

  it('estimates exactly the parameters it builds', () => {
    for (const extra of [
      { kernelSize: 5, dilation: 2 },
      { kernelSize: 9, dilation: 1 },
      { grid: [4, 4] },
      { kernelSize: 7, dilation: 3, grid: [2, 3] },
    ]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
  });

  it('refuses bad input with typed errors naming the argument', () => {
    expect(() => make({ kernelSize: 4 })).toThrow(ConfigError);
    expect(() => make({ kernelSize: 4 })).toThrow(/kernelSize expected an odd size, got 4/);
    expect(() => make({ kernelSize: 7, dilation: 2 })).toThrow(
      /dilation expected a dilation with ⌈kernelSize\/dilation⌉ odd .*got 2 \(⌈7\/2⌉ = 4\)/,
    );
    expect(() => make({ kernelSize: 5, dilation: 0 })).toThrow(ConfigError);
    const m = make({ kernelSize: 5, dilation: 2, grid: [2, 3] });
    const bad = tf.zeros([1, 5, 8]) as tf.Tensor3D;
    expect(() => m.forward(bad)).toThrow(ShapeError);
    expect(() => m.forward(bad)).toThrow(/x expected 6 tokens \(grid 2×3\), got 5 tokens/);
    expect(() => m.forward(tf.zeros([1, 6, 8]) as tf.Tensor3D, { causal: true })).toThrow(
      /context.causal/,
    );
    bad.dispose();
    m.dispose();
  });

  it('leaks nothing: both forms, forward and backward, refused input', async () => {
    await expectNoLeaks(() => {
      for (const form of ['conv', 'attention']) {
        const m = make({ kernelSize: 5, dilation: 2, grid: [3, 3], form });
        const x = tf.randomNormal([1, 9, 8]) as tf.Tensor3D;
        const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads), x]);
        const bad = tf.zeros([1, 8, 8]) as tf.Tensor3D;
        expect(() => m.forward(bad)).toThrow(ShapeError);
        bad.dispose();
        m.dispose();
      }
      expect(() => make({ kernelSize: 4 })).toThrow(ConfigError);
    });
  });

  describe('contract over a 4x4 grid', () => {
    const config = { type: 'lkca', dModel: 8, kernelSize: 7, dilation: 3, grid: [4, 4] };
    for (const check of mixerContract(config, { time: 16 })) {
      it(check.name, async () => check.run());
    }
  });
});
