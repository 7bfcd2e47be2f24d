import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, estimateConfig } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff, mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import { checkGolden, loadGolden, outputAndGradients, type Mixer } from './golden-case';

const cases = loadGolden('walt.json');

const make = (config: Record<string, unknown>) =>
  build<Mixer>({ type: 'walt-attention', dModel: 8, numHeads: 2, ...config });

describe('walt-attention (Gupta et al. 2023, W.A.L.T window attention)', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => checkGolden(c, 3e-5),
  );

  it.each([
    ['spatial 2x4x4, 2x2 windows', { grid: [2, 4, 4], windowSize: 2 }],
    ['spatial 1x4x6, 2x3 windows', { grid: [1, 4, 6], windowSize: [2, 3] }],
    [
      'spatiotemporal 4x2x2, 2x1x2 windows',
      { grid: [4, 2, 2], windowSize: [1, 2], mode: 'spatiotemporal', temporalWindow: 2 },
    ],
    [
      'spatiotemporal 3x2x2, all frames',
      { grid: [3, 2, 2], windowSize: 2, mode: 'spatiotemporal' },
    ],
  ])(
    '%s: the blocked path equals the dense window-masked reference (outputs, all gradients)',
    (_n, extra) => {
      const blocked = make({ ...extra, form: 'blocked' });
      const dense = make({ ...extra, form: 'dense' });
      dense.loadStateDict(blocked.stateDict());
      const grid = extra.grid as number[];
      const t = grid[0]! * grid[1]! * grid[2]!;
      const x = tf.randomNormal([2, t, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
      const probe = tf.randomNormal([2, t, 8], 0, 1, 'float32', 2);
      const a = outputAndGradients(blocked, x, probe);
      const b = outputAndGradients(dense, x, probe);
      expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(a.dx, b.dx)).toBeLessThanOrEqual(1e-4);
      expect(a.grads.length).toBe(b.grads.length);
      a.grads.forEach(([name, g], i) => {
        expect([name, maxAbsDiff(g, b.grads[i]![1]) <= 1e-4]).toEqual([name, true]);
      });
      blocked.dispose();
      dense.dispose();
    },
  );

  it('a window over the whole clip is full attention; spatial windows keep frames apart', () => {
    const whole = make({ grid: [2, 2, 2], windowSize: 2, mode: 'spatiotemporal' });
    const spatial = make({ grid: [2, 2, 2], windowSize: 2 });
    const mha = build<Mixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: false });
    spatial.loadStateDict(whole.stateDict());
    mha.loadStateDict(whole.stateDict());
    const x = tf.randomNormal([1, 8, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    expectClose(whole.forward(x), mha.forward(x), { atol: 1e-5 });
    // Changing frame 1 leaves frame 0's spatial outputs as they were, not the spatiotemporal ones.
    const y = tf.concat([tf.slice(x, [0, 0, 0], [1, 4, 8]), tf.zeros([1, 4, 8])], 1) as tf.Tensor3D;
    const frame0 = (m: Mixer, input: tf.Tensor3D) =>
      tf.slice(m.forward(input), [0, 0, 0], [1, 4, 8]);
    expect(maxAbsDiff(frame0(spatial, x), frame0(spatial, y))).toBe(0);
    expect(maxAbsDiff(frame0(whole, x), frame0(whole, y))).toBeGreaterThan(1e-3);
    [whole, spatial, mha].forEach((m) => m.dispose());
  });

  it('a mode override switches the window, as a model alternates layers', () => {
    const base = { grid: [2, 2, 2], windowSize: [1, 2], temporalWindow: 2 };
    const s = make(base);
    const st = make({ ...base, mode: 'spatiotemporal' });
    st.loadStateDict(s.stateDict());
    const x = tf.randomNormal([1, 8, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
    expect(maxAbsDiff(s.forward(x), st.forward(x))).toBeGreaterThan(1e-3);
    [s, st].forEach((m) => m.dispose());
  });

  it('estimates exactly the parameters it builds', () => {
    for (const extra of [
      { grid: [2, 2, 2], windowSize: 2 },
      { grid: [2, 2, 2], windowSize: 2, bias: true },
      { grid: [2, 2, 2], windowSize: 1, headDim: 3, mode: 'spatiotemporal' },
    ]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
  });

  it('the blocked path builds no [T, T] map: its largest tensor is window-sized', async () => {
    const largest = async (form: string) => {
      const m = make({ grid: [4, 8, 8], windowSize: 4, form });
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
    expect(await largest('blocked')).toBeLessThanOrEqual(2 * 256 * 16 * 2);
  });

  it('refuses bad input with typed errors naming the argument', () => {
    expect(() => make({ grid: [2, 4, 4], windowSize: 3 })).toThrow(ConfigError);
    expect(() => make({ grid: [2, 4, 4], windowSize: 3 })).toThrow(
      /windowSize expected a divisor of the grid's height 4, got 3/,
    );
    expect(() => make({ grid: [2, 4, 6], windowSize: [2, 4] })).toThrow(
      /windowSize expected a divisor of the grid's width 6, got 4/,
    );
    expect(() =>
      make({ grid: [3, 2, 2], windowSize: 2, mode: 'spatiotemporal', temporalWindow: 2 }),
    ).toThrow(/temporalWindow expected a divisor of the grid's frames 3, got 2/);
    // temporalWindow is unused by spatial layers, so a shared base config may carry it.
    make({ grid: [3, 2, 2], windowSize: 2, temporalWindow: 2 }).dispose();
    expect(() => make({ grid: [2, 2], windowSize: 2 })).toThrow(ConfigError);
    const m = make({ grid: [2, 2, 2], windowSize: 2 });
    const bad = tf.zeros([1, 6, 8]) as tf.Tensor3D;
    expect(() => m.forward(bad)).toThrow(ShapeError);
    expect(() => m.forward(bad)).toThrow(/x expected 8 tokens \(grid 2×2×2\), got 6 tokens/);
    expect(() => m.forward(tf.zeros([1, 8, 8]) as tf.Tensor3D, { causal: true })).toThrow(
      /context.causal/,
    );
    bad.dispose();
    m.dispose();
  });

  it('leaks nothing: both forms, forward and backward, refused input', async () => {
    await expectNoLeaks(() => {
      for (const form of ['blocked', 'dense']) {
        const m = make({ grid: [2, 2, 2], windowSize: [1, 2], mode: 'spatiotemporal', form });
        const x = tf.randomNormal([1, 8, 8]) as tf.Tensor3D;
        const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads), x]);
        const bad = tf.zeros([1, 7, 8]) as tf.Tensor3D;
        expect(() => m.forward(bad)).toThrow(ShapeError);
        bad.dispose();
        m.dispose();
      }
      expect(() => make({ grid: [2, 4, 4], windowSize: 3 })).toThrow(ConfigError);
    });
  });

  describe('contract over a 2x2x4 grid, 2x1x2 windows', () => {
    const config = {
      type: 'walt-attention',
      dModel: 8,
      numHeads: 2,
      grid: [2, 2, 4],
      windowSize: [1, 2],
      mode: 'spatiotemporal',
    };
    for (const check of mixerContract(config, { time: 16 })) {
      it(check.name, async () => check.run());
    }
  });
});
