// Dense kernel (kernels/dense.ts, the GEMM) against the composite: on native, @attnkit/core's
// Linear runs AttnkitDense and its gradient kernel; on cpu the same module runs reshape, matMul,
// add. Outputs and the gradients of x, weight and bias agree (max abs error <= 1e-4) on odd
// sizes, size 1, rank 1 to 4, with and without bias; finite differences on native; zero rows;
// bad input refused with one-line TypeErrors; no leaks.
import * as tf from '@tensorflow/tfjs-core';
import { Linear, Rng } from '@attnkit/core';
import { expectNoLeaks, finiteDifferenceCheck, maxAbsDiff } from '@attnkit/core/testing';
import { DENSE, DENSE_GRAD, type DenseOutputs } from '@attnkit/kernels';
import { rand } from './helpers';
import { expectKernelMatchesComposite, kernelsRun, on, valuesAndGrads } from './train-helpers';

const CASES: Array<[string, number[], number, boolean]> = [
  ['size 1', [1, 1], 1, true],
  ['rank 1', [5], 3, true],
  ['odd sizes, rank 3', [2, 3, 7], 5, true],
  ['no bias', [3, 5, 4], 9, false],
  ['rank 4', [2, 2, 3, 6], 4, true],
  ['GEMM-sized (backward products side by side)', [4, 33, 64], 70, false],
  ['large (backward products one after the other)', [2, 512, 128], 96, true],
];

function linear(inFeatures: number, outFeatures: number, bias: boolean): Linear {
  return new Linear({ inFeatures, outFeatures, bias }, { rng: new Rng(3) });
}

/** The kernel by name, with a bias when one is given. */
function dense(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const inputs: tf.NamedTensorMap = b ? { x, weight: w, bias: b } : { x, weight: w };
  const [y] = tf.engine().runKernel(DENSE, inputs, { withBias: !!b }) as DenseOutputs<tf.Tensor>;
  return y;
}

describe('dense kernel on native', () => {
  it.each(CASES)(
    'matches the composite inside Linear, output and gradients: %s',
    async (_n, shape, outFeatures, bias) => {
      const layer = linear(shape[shape.length - 1]!, outFeatures, bias);
      if (layer.bias) layer.bias.assign(tf.randomUniform([outFeatures], -1, 1, 'float32', 5));
      await expectKernelMatchesComposite(
        (x) => layer.forward(x!),
        () => [rand(shape, 1)],
        [DENSE, DENSE_GRAD],
      );
      // The parameters' gradients too (the helper differentiates the inputs only).
      const params = async () =>
        tf.tidy(() => {
          const x = rand(shape, 2);
          const w = tf.randomUniform([...shape.slice(0, -1), outFeatures], -1, 1, 'float32', 9);
          const { grads } = tf.variableGrads(
            () => tf.sum(tf.mul(layer.forward(x), w)) as tf.Scalar,
            layer.parameters(),
          );
          return Object.values(grads).map((g) => Float32Array.from(g.dataSync()));
        });
      const want = await on('cpu', params);
      const got = await on('native', params);
      want.forEach((e, i) => expect(maxAbsDiff(got[i]!, e)).toBeLessThanOrEqual(1e-4));
      layer.dispose();
    },
  );

  it('runKernel with and without bias equals x · W + b and its gradients', async () => {
    const inputs = () => [rand([3, 2, 5], 1), rand([5, 4], 2), rand([4], 3)];
    const fused = await on('native', () => valuesAndGrads(dense, inputs));
    const composite = await on('native', () =>
      valuesAndGrads(
        (x, w, b) => tf.add(tf.reshape(tf.matMul(tf.reshape(x!, [-1, 5]), w!), [3, 2, 4]), b!),
        inputs,
      ),
    );
    composite.forEach((e, i) => expect(maxAbsDiff(fused[i]!, e)).toBeLessThanOrEqual(1e-4));
    const noBias = await on('native', () => valuesAndGrads(dense, () => inputs().slice(0, 2)));
    expect(noBias).toHaveLength(3);
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const xs = [rand([2, 3], 4), rand([3, 2], 5), rand([2], 6)];
      finiteDifferenceCheck((x, w, b) => dense(x!, w!, b), xs);
      tf.dispose(xs);
    });
  });

  it('gives zeros for zero rows and an empty inner axis', async () => {
    await on('native', () => {
      const run = (x: tf.Tensor, w: tf.Tensor) =>
        tf.tidy(() => {
          const b = tf.ones([w.shape[1]!]);
          const [dx, dw, db] = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
            tf.sum(dense(xx, ww, bb)),
          )([x, w, b]);
          return [dense(x, w, b), dx!, dw!, db!].map((t) => [t.shape, Array.from(t.dataSync())]);
        });
      const [y, , dw, db] = run(tf.zeros([0, 3]), rand([3, 2], 1));
      expect(y).toEqual([[0, 2], []]);
      expect(dw).toEqual([
        [3, 2],
        [0, 0, 0, 0, 0, 0],
      ]);
      expect(db).toEqual([[2], [0, 0]]);
      const [y2, , dw2] = run(tf.zeros([2, 0]), tf.zeros([0, 3]));
      expect(y2).toEqual([
        [2, 3],
        [1, 1, 1, 1, 1, 1],
      ]);
      expect(dw2).toEqual([[0, 3], []]);
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    const layer = linear(4, 6, true);
    await on('native', () =>
      expectNoLeaks(() => {
        const x = rand([2, 3, 4], 6);
        const { value, grads } = tf.variableGrads(() => tf.sum(layer.forward(x)) as tf.Scalar);
        tf.dispose([x, value, ...Object.values(grads)]);
      }),
    );
    layer.dispose();
  });

  it('runs on native only; cpu keeps the composite', async () => {
    const layer = linear(4, 3, true);
    const call = () => void layer.forward(rand([2, 4], 1));
    expect(await kernelsRun('cpu', call)).not.toContain(DENSE);
    expect(await kernelsRun('native', call)).toContain(DENSE);
    layer.dispose();
  });

  it('rejects bad shapes and dtypes through runKernel with one-line TypeErrors', async () => {
    await on('native', () => {
      const run = (inputs: Record<string, tf.Tensor>, withBias = false, name: string = DENSE) =>
        tf.tidy(() => tf.engine().runKernel(name, inputs, { withBias }));
      const x = tf.zeros([2, 3]);
      const w = tf.zeros([3, 4]);
      expect(() => run({ x, weight: tf.zeros([4, 3]) })).toThrow(
        /^AttnkitDense: x must be float32 \[\.\.\.rows, 4\] \(weight's in\), got float32 \[2,3\]$/,
      );
      expect(() => run({ x, weight: tf.zeros([3]) })).toThrow(/weight must be float32 \[in, out\]/);
      expect(() => run({ x: tf.zeros([2, 3], 'int32'), weight: w })).toThrow(/x must be float32/);
      expect(() => run({ x, weight: w }, true)).toThrow(
        /bias is missing \(expected float32 \[4\]\)/,
      );
      expect(() => run({ x, weight: w, bias: tf.zeros([3]) }, true)).toThrow(/bias must be \[4\]/);
      expect(() => run({ x, weight: w, bias: tf.zeros([4]) })).toThrow(
        /attrs.withBias is not true/,
      );
      expect(() => run({ x, weight: w }, false, DENSE_GRAD)).toThrow(
        /AttnkitDenseGrad: dy is missing \(expected float32 \[2,4\]\)/,
      );
      expect(() => run({ x, weight: w, dy: tf.zeros([2, 3]) }, false, DENSE_GRAD)).toThrow(
        /dy must be \[2,4\], got \[2,3\]/,
      );
      tf.dispose([x, w]);
    });
  });
});
