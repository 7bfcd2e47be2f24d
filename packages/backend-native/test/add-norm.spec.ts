// The residual add + norm kernels (csrc/norm.cc's residual forms) against the composite: on
// native, core's addRmsNorm / addLayerNorm (and a pre-norm transformer block) run the kernel and
// its gradient kernel; on cpu the same calls run add then the norm. Both outputs and the
// gradients of x, residual, gain and bias agree (max abs error <= 1e-4), whichever outputs the
// loss reads; gradients also by finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { LayerNorm, RMSNorm, Rng, addLayerNorm, addRmsNorm } from '@attnkit/core';
import { expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import {
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
} from '@attnkit/kernels';
import { TransformerBlock } from '@attnkit/models';
import { rand } from './helpers';
import { expectKernelMatchesComposite, kernelsRun, on } from './train-helpers';

const SHAPES: number[][] = [[1], [5], [3, 1], [2, 3, 9], [2, 1, 3, 4], [70, 33]];

/** Both outputs in one tensor, so the loss's gradient reaches sum directly and through y. */
const both = ([sum, y]: [tf.Tensor, tf.Tensor]) => tf.concat([sum, y]);

describe('add + rms-norm kernel on native', () => {
  it.each(SHAPES.map((s) => [s]))(
    'matches add then rmsNorm, outputs and gradients: %j',
    async (s) => {
      const dim = s[s.length - 1]!;
      await expectKernelMatchesComposite(
        (x, r, w) => both(addRmsNorm(x, r, 1e-6, w)),
        () => [rand(s, 1), rand(s, 2), tf.add(rand([dim], 3), 1)],
        [ADD_RMS_NORM, ADD_RMS_NORM_GRAD],
      );
    },
  );

  it('matches when the loss reads only y, or only the sum', async () => {
    const inputs = () => [rand([4, 6], 4), rand([4, 6], 5), tf.add(rand([6], 6), 1)];
    for (const pick of [0, 1]) {
      await expectKernelMatchesComposite(
        (x, r, w) => addRmsNorm(x, r, 1e-6, w)[pick]!,
        inputs,
        [ADD_RMS_NORM],
        // The sum does not depend on the gain.
        { differentiable: pick === 0 ? 2 : 3 },
      );
    }
  });

  it('runs as the RMSNorm module, whose gain gets its gradient', async () => {
    const norm = new RMSNorm({ dim: 6 });
    norm.weight!.assign(tf.add(rand([6], 4), 1));
    await expectKernelMatchesComposite(
      (x, r) => both(norm.addAndNorm(x, r)),
      () => [rand([2, 5, 6], 5), rand([2, 5, 6], 6)],
      [ADD_RMS_NORM, ADD_RMS_NORM_GRAD],
    );
    expect(() => norm.addAndNorm(tf.ones([2, 6]), tf.ones([1, 6]))).toThrow(
      /rms-norm.*residual.*\[2,6\].*\[1,6\]/,
    );
    norm.dispose();
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const xs = [rand([3, 5], 6), rand([3, 5], 7), tf.add(rand([5], 8), 1)];
      finiteDifferenceCheck((a, b, c) => both(addRmsNorm(a!, b!, 1e-6, c)), xs);
      tf.dispose(xs);
    });
  });

  it('leaks no tensors, forward and backward (dx and dResidual share storage)', async () => {
    await on('native', () =>
      expectNoLeaks(() => {
        const [x, r, w] = [rand([2, 3, 4], 8), rand([2, 3, 4], 9), tf.ones([4])];
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          const [sum, y] = addRmsNorm(a, b, 1e-6, c);
          return tf.add(tf.sum(y), tf.sum(tf.square(sum))) as tf.Scalar;
        })([x, r, w]);
        // Disposing one of the two aliased gradients leaves the other readable.
        grads[0]!.dispose();
        expect(grads[1]!.dataSync().length).toBe(24);
        tf.dispose([x, r, w, ...grads]);
      }),
    );
  });
});

describe('add + layer-norm kernel on native', () => {
  it.each(SHAPES.map((s) => [s]))('matches add then layerNorm: %j', async (s) => {
    const dim = s[s.length - 1]!;
    await expectKernelMatchesComposite(
      (x, r, w, b) => both(addLayerNorm(x, r, 1e-5, w, b)),
      () => [tf.add(rand(s, 1), 3), rand(s, 2), tf.add(rand([dim], 3), 1), rand([dim], 4)],
      [ADD_LAYER_NORM, ADD_LAYER_NORM_GRAD],
    );
  });

  it('runs as the LayerNorm module, and without gain or bias', async () => {
    const norm = new LayerNorm({ dim: 7 });
    norm.weight!.assign(tf.add(rand([7], 4), 1));
    norm.bias!.assign(rand([7], 6));
    await expectKernelMatchesComposite(
      (x, r) => both(norm.addAndNorm(x, r)),
      () => [rand([3, 7], 5), rand([3, 7], 7)],
      [ADD_LAYER_NORM],
    );
    norm.dispose();
    await expectKernelMatchesComposite(
      (x, r) => both(addLayerNorm(x, r, 1e-3)),
      () => [rand([4, 6], 3), rand([4, 6], 4)],
      [ADD_LAYER_NORM],
    );
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const xs = [rand([3, 5], 6), rand([3, 5], 7), tf.add(rand([5], 8), 1), rand([5], 9)];
      finiteDifferenceCheck((a, b, c, d) => both(addLayerNorm(a!, b!, 1e-5, c, d)), xs);
      tf.dispose(xs);
    });
  });
});

describe('add + norm in a pre-norm transformer block', () => {
  const block = (norm: string, cross: boolean) =>
    new TransformerBlock(
      {
        type: 'transformer-block',
        dModel: 8,
        mixer: { type: 'mha', numHeads: 2 },
        feedForward: { type: 'swiglu', hiddenDim: 12 },
        norm: { type: norm },
        ...(cross ? { crossAttention: { type: 'mha', numHeads: 2 } } : {}),
      },
      { rng: new Rng(11) },
    );

  it.each([
    ['rms-norm', false, ADD_RMS_NORM],
    ['layer-norm', true, ADD_LAYER_NORM],
  ])('%s (cross-attention %s): native matches cpu, outputs and every gradient', async (n, c, k) => {
    const b = block(n as string, c as boolean);
    const memory = rand([2, 3, 8], 12) as tf.Tensor3D;
    const run = () =>
      tf.tidy(() => {
        const x = rand([2, 5, 8], 13);
        const f = () => {
          const y = b.forward(x as tf.Tensor3D, { memory, training: true });
          return tf.sum(tf.mul(y, tf.sin(y))) as tf.Scalar;
        };
        const { value, grads } = tf.variableGrads(f);
        return [value, ...Object.values(grads)].map((t) => Float32Array.from(t.dataSync()));
      });
    const composite = await on('cpu', run);
    const fused = await on('native', run);
    composite.forEach((want, i) => {
      const err = Math.max(...want.map((v, j) => Math.abs(v - fused[i]![j]!)));
      expect(err).toBeLessThanOrEqual(1e-4);
    });
    expect(await kernelsRun('native', () => void run())).toContain(k);
    expect(await kernelsRun('cpu', () => void run())).not.toContain(k);
    memory.dispose();
    b.dispose();
  });
});

describe('add + norm kernels: bad input', () => {
  it('rejects mismatched shapes through runKernel with a TypeError naming the kernel', async () => {
    await on('native', () => {
      const run = (name: string, inputs: Record<string, tf.Tensor>) =>
        tf.tidy(() => tf.engine().runKernel(name, inputs, { eps: 1e-5 }));
      const x = tf.ones([2, 3]);
      const w = tf.ones([3]);
      expect(() => run(ADD_RMS_NORM, { x, residual: tf.ones([3]), weight: w })).toThrow(
        /AttnkitAddRMSNorm: residual must be \[2,3\], got \[3\]/,
      );
      expect(() => run(ADD_RMS_NORM, { x, weight: w })).toThrow(/residual is missing/);
      expect(() =>
        run(ADD_LAYER_NORM_GRAD, { sum: x, weight: w, dy: x, dSum: tf.ones([2, 4]) }),
      ).toThrow(/AttnkitAddLayerNormGrad: dSum must be \[2,3\], got \[2,4\]/);
      expect(() => run(ADD_RMS_NORM_GRAD, { sum: x, weight: w, dSum: x })).toThrow(
        /AttnkitAddRMSNormGrad: dy is missing/,
      );
      tf.dispose([x, w]);
    });
  });

  it('keeps the composite for a broadcast residual', async () => {
    const names = await kernelsRun('native', () => {
      tf.dispose(addRmsNorm(rand([2, 3], 1), rand([3], 2)));
    });
    expect(names).not.toContain(ADD_RMS_NORM);
    expect(names).toContain('Add');
  });
});
