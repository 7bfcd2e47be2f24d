// RMSNorm and LayerNorm kernels (csrc/norm.cc) against the composite: on native, @attnkit/core's
// rmsNorm / layerNorm (and the modules) run the kernel and its gradient kernel; on cpu the same
// calls run the composite. Outputs and the gradients of x, gain and bias agree (float32, max abs
// error <= 1e-4) on odd shapes, size 1 and rank 1 to 4; gradients also by finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { LayerNorm, RMSNorm, layerNorm, rmsNorm } from '@attnkit/core';
import { expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import { LAYER_NORM, LAYER_NORM_GRAD, RMS_NORM, RMS_NORM_GRAD } from '@attnkit/kernels';
import { loadAddon } from '../src/addon';
import { rand } from './helpers';
import { expectKernelMatchesComposite, kernelsRun, on, thrown } from './train-helpers';

const SHAPES: number[][] = [[1], [5], [3, 1], [3, 7], [2, 3, 9], [2, 1, 3, 4], [70, 33], [600, 40]];

describe('rms-norm kernel on native', () => {
  it.each(SHAPES.map((s) => [s]))(
    'matches the composite with a gain, outputs and gradients: %j',
    async (s) => {
      const dim = s[s.length - 1]!;
      await expectKernelMatchesComposite(
        (x, w) => rmsNorm(x, 1e-6, w),
        () => [rand(s, 1), tf.add(rand([dim], 2), 1)],
        [RMS_NORM, RMS_NORM_GRAD],
      );
    },
  );

  it('matches without a gain, and with a large eps', async () => {
    await expectKernelMatchesComposite(
      (x) => rmsNorm(x, 0.5),
      () => [rand([4, 6], 3)],
      [RMS_NORM],
    );
  });

  it('runs inside the RMSNorm module, whose gain gets its gradient', async () => {
    const norm = new RMSNorm({ dim: 6 });
    norm.weight!.assign(tf.add(rand([6], 4), 1));
    await expectKernelMatchesComposite(
      (x) => norm.forward(x),
      () => [rand([2, 5, 6], 5)],
      [RMS_NORM],
    );
    const grads = await on('native', () => {
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.square(norm.forward(rand([2, 5, 6], 5)))) as tf.Scalar,
      );
      const g = grads[norm.weight!.name]!.dataSync().length;
      tf.dispose(grads);
      return g;
    });
    expect(grads).toBe(6);
    norm.dispose();
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const x = rand([3, 5], 6);
      const w = tf.add(rand([5], 7), 1);
      finiteDifferenceCheck((a, b) => rmsNorm(a!, 1e-6, b), [x, w]);
      tf.dispose([x, w]);
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    await on('native', () =>
      expectNoLeaks(() => {
        const x = rand([2, 3, 4], 8);
        const w = tf.ones([4]);
        const [gx, gw] = tf.grads(
          (a: tf.Tensor, b: tf.Tensor) => tf.sum(rmsNorm(a, 1e-6, b)) as tf.Scalar,
        )([x, w]);
        tf.dispose([x, w, gx!, gw!]);
      }),
    );
  });
});

describe('layer-norm kernel on native', () => {
  it.each(SHAPES.map((s) => [s]))('matches the composite with gain and bias: %j', async (s) => {
    const dim = s[s.length - 1]!;
    await expectKernelMatchesComposite(
      (x, w, b) => layerNorm(x, 1e-5, w, b),
      () => [tf.add(rand(s, 1), 3), tf.add(rand([dim], 2), 1), rand([dim], 3)],
      [LAYER_NORM, LAYER_NORM_GRAD],
    );
  });

  it('matches without a gain, and with a gain but no bias', async () => {
    await expectKernelMatchesComposite(
      (x) => layerNorm(x, 1e-3),
      () => [rand([4, 6], 3)],
      [LAYER_NORM],
    );
    await expectKernelMatchesComposite(
      (x, w) => layerNorm(x, 1e-5, w),
      () => [rand([3, 5], 4), rand([5], 5)],
      [LAYER_NORM],
    );
  });

  it('runs inside the LayerNorm module', async () => {
    const norm = new LayerNorm({ dim: 7 });
    norm.weight!.assign(tf.add(rand([7], 4), 1));
    norm.bias!.assign(rand([7], 6));
    await expectKernelMatchesComposite(
      (x) => norm.forward(x),
      () => [rand([3, 7], 5)],
      [LAYER_NORM],
    );
    norm.dispose();
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const xs = [rand([3, 5], 6), tf.add(rand([5], 7), 1), rand([5], 8)];
      finiteDifferenceCheck((a, b, c) => layerNorm(a!, 1e-5, b, c), xs);
      tf.dispose(xs);
    });
  });
});

describe('norm kernels: what stays composite, and bad input', () => {
  it('keeps the composite for float32-less or empty input, and on cpu', async () => {
    expect(await kernelsRun('cpu', () => void rmsNorm(rand([2, 3], 1)))).not.toContain(RMS_NORM);
    expect(await kernelsRun('native', () => void rmsNorm(tf.zeros([0, 3])))).not.toContain(
      RMS_NORM,
    );
  });

  it('rejects bad shapes and eps through runKernel with a TypeError naming the kernel', async () => {
    await on('native', () => {
      const run = (name: string, inputs: Record<string, tf.Tensor>, eps = 1e-5) =>
        tf.tidy(() => tf.engine().runKernel(name, inputs, { eps }));
      const x = tf.ones([2, 3]);
      expect(() => run(RMS_NORM, { x, weight: tf.ones([4]) })).toThrow(
        /AttnkitRMSNorm: weight must be \[3\], got \[4\]/,
      );
      expect(() => run(RMS_NORM, { x })).toThrow(/AttnkitRMSNorm: weight is missing/);
      expect(() => run(RMS_NORM, { x, weight: tf.ones([3]) }, -1)).toThrow(/eps must be a finite/);
      expect(() => run(RMS_NORM, { x: tf.ones([2, 0]), weight: tf.ones([0]) })).toThrow(TypeError);
      expect(() =>
        run(LAYER_NORM, { x, weight: tf.ones([3]), bias: tf.ones([3], 'int32') }),
      ).toThrow(/AttnkitLayerNorm: bias must be float32, got int32/);
      expect(() => run(LAYER_NORM_GRAD, { x, weight: tf.ones([3]), dy: tf.ones([3, 2]) })).toThrow(
        /AttnkitLayerNormGrad: dy must be \[2,3\]/,
      );
      x.dispose();
    });
  });
});

describe('norm entries of the addon', () => {
  it('check every array against the dims before touching it', () => {
    const addon = loadAddon() as unknown as Record<string, (...a: unknown[]) => void>;
    const f32 = (n: number) => new Float32Array(n);
    const dims = Int32Array.from([2, 3]);
    // Array sizes of each entry for rows 2, dim 3; eps follows dims.
    const entries: Array<[string, number[]]> = [
      ['rmsNormForward', [6, 3, 6]],
      ['rmsNormBackward', [6, 3, 6, 6, 3]],
      ['layerNormForward', [6, 3, 3, 6]],
      ['layerNormBackward', [6, 3, 6, 6, 3, 3]],
    ];
    for (const [name, sizes] of entries) {
      const call = (s: number[], d = dims, eps = 1e-5) =>
        thrown(() => addon[name]!(...s.map(f32), d, eps));
      expect(call(sizes)).toBe('nothing');
      for (let i = 0; i < sizes.length; i++) {
        expect(call(sizes.map((n, j) => (j === i ? n - 1 : n)))).toMatch(/^RangeError: /);
      }
      expect(call(sizes, Int32Array.from([2, 0]))).toMatch(/^RangeError: .*width >= 1/);
      expect(call(sizes, Int32Array.from([2]))).toMatch(/^RangeError: /);
      expect(call(sizes, dims, -1)).toMatch(/^RangeError: .*>= 0/);
      expect(call(sizes, dims, NaN)).toMatch(/^RangeError: /);
      expect(thrown(() => addon[name]!(f32(6)))).toMatch(/^TypeError: .*expected/);
      expect(
        thrown(() => addon[name]!(new Int32Array(6), ...sizes.slice(1).map(f32), dims, 1e-5)),
      ).toMatch(/^TypeError: .*Float32Array/);
    }
  });
});
