// Softmax cross-entropy kernel (csrc/cross_entropy.cc) against the composite: on native,
// @attnkit/models' crossEntropy runs the kernel and its gradient kernel; on cpu the same call
// runs the composite (logSoftmax times a one-hot). Loss and the logits' gradient agree (float32,
// max abs error <= 1e-4) on odd shapes, size 1, weights, targets outside the vocabulary; the
// kernel's log-sum-exp output and ignoreIndex through runKernel; finite differences on native.
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy } from '@attnkit/models';
import { expectNoLeaks, finiteDifferenceCheck, maxAbsDiff } from '@attnkit/core/testing';
import {
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  type CrossEntropyOutputs,
} from '@attnkit/kernels';
import { loadAddon } from '../src/addon';
import { rand } from './helpers';
import {
  expectKernelMatchesComposite,
  kernelsRun,
  on,
  thrown,
  valuesAndGrads,
} from './train-helpers';

/** Seeded int32 targets in [lo, hi). */
function targets(shape: [number, number], lo: number, hi: number, seed: number): tf.Tensor2D {
  return tf.tidy(
    () =>
      tf.cast(tf.floor(tf.randomUniform(shape, lo, hi, 'float32', seed)), 'int32') as tf.Tensor2D,
  );
}

// Every row has all four fields: jest passes `done` to a test taking more arguments than its row.
const CASES: Array<[string, [number, number, number], boolean, [number, number] | undefined]> = [
  ['size 1 (a vocabulary of 2)', [1, 1, 2], false, undefined],
  ['odd sizes', [2, 3, 5], false, undefined],
  ['odd sizes, weighted', [2, 3, 5], true, undefined],
  ['a vocabulary of 257', [1, 7, 257], true, undefined],
  ['rows over several thread blocks', [2, 40, 257], true, undefined],
  ['targets outside the vocabulary', [3, 4, 6], false, [-2, 9]],
];

describe('softmax cross-entropy kernel on native', () => {
  it.each(CASES)(
    'matches the composite, loss and gradient: %s',
    async (_n, shape, weighted, range) => {
      const [b, t, v] = shape;
      await expectKernelMatchesComposite(
        (logits, w) =>
          crossEntropy(
            tf.mul(logits!, 3) as tf.Tensor3D,
            targets([b, t], range?.[0] ?? 0, range?.[1] ?? v, 2),
            w as tf.Tensor2D | undefined,
          ),
        () => [rand(shape, 1), ...(weighted ? [tf.abs(rand([b, t], 3))] : [])],
        [SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRAD],
        { differentiable: 1 },
      );
    },
  );

  it('gives the log-sum-exp with its gradient, and ignores the ignoreIndex rows', async () => {
    const run = (ignoreIndex: number) => (logits: tf.Tensor) => {
      const labels = tf.tensor1d([0, 2, 1, 2, 3], 'int32');
      const [loss, lse] = tf
        .engine()
        .runKernel(
          SOFTMAX_CROSS_ENTROPY,
          { logits, labels },
          { ignoreIndex },
        ) as CrossEntropyOutputs<tf.Tensor>;
      return tf.add(tf.mul(loss, 0.7), tf.mul(lse, -0.3));
    };
    const reference = (ignoreIndex: number) => (logits: tf.Tensor) => {
      const labels = [0, 2, 1, 2, 3];
      const logp = tf.logSoftmax(logits);
      const keep = tf.tensor1d(labels.map((l) => (l === ignoreIndex ? 0 : 1)));
      const loss = tf.mul(tf.neg(tf.sum(tf.mul(logp, tf.oneHot(labels, 4)), -1)), keep);
      return tf.add(tf.mul(loss, 0.7), tf.mul(tf.logSumExp(logits, -1), -0.3));
    };
    for (const ignore of [-1, 2]) {
      const inputs = () => [tf.mul(rand([5, 4], 4), 4)];
      const kernel = await on('native', () => valuesAndGrads(run(ignore), inputs));
      const composite = await on('native', () => valuesAndGrads(reference(ignore), inputs));
      composite.forEach((e, i) => expect(maxAbsDiff(kernel[i]!, e)).toBeLessThanOrEqual(1e-4));
    }
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const logits = rand([2, 3, 7], 5);
      const t = targets([2, 3], 0, 7, 6);
      const w = tf.abs(rand([2, 3], 7)) as tf.Tensor2D;
      finiteDifferenceCheck((x) => crossEntropy(x as tf.Tensor3D, t, w), [logits]);
      tf.dispose([logits, t, w]);
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    await on('native', () =>
      expectNoLeaks(() => {
        const logits = rand([2, 3, 5], 8);
        const t = targets([2, 3], 0, 5, 9);
        const g = tf.grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor3D, t))(logits);
        tf.dispose([logits, t, g]);
      }),
    );
  });

  it('keeps the composite on cpu and for float targets (which fail there, as before)', async () => {
    const call = () =>
      void crossEntropy(rand([1, 2, 3], 1) as tf.Tensor3D, targets([1, 2], 0, 3, 1));
    expect(await kernelsRun('cpu', call)).not.toContain(SOFTMAX_CROSS_ENTROPY);
    await on('native', () => {
      const bad = tf.zeros([1, 2]) as tf.Tensor2D;
      expect(() => crossEntropy(rand([1, 2, 3], 1) as tf.Tensor3D, bad)).toThrow();
      bad.dispose();
    });
  });

  it('rejects bad shapes, dtypes and attributes through runKernel with a TypeError', async () => {
    await on('native', () => {
      const run = (
        inputs: Record<string, tf.Tensor>,
        ignoreIndex: unknown = -1,
        name: string = SOFTMAX_CROSS_ENTROPY,
      ) => tf.tidy(() => tf.engine().runKernel(name, inputs, { ignoreIndex } as tf.NamedAttrMap));
      const logits = tf.zeros([3, 4]);
      const labels = tf.zeros([3], 'int32');
      expect(() => run({ logits: tf.zeros([3]), labels })).toThrow(
        /logits must be \[rows, vocab\]/,
      );
      expect(() => run({ logits: tf.zeros([3, 0]), labels })).toThrow(/vocabulary of size >= 1/);
      expect(() => run({ logits, labels: tf.zeros([3]) })).toThrow(
        /labels must be int32, got float32/,
      );
      expect(() => run({ logits, labels: tf.zeros([2], 'int32') })).toThrow(/labels must be \[3\]/);
      expect(() => run({ logits })).toThrow(/labels is missing/);
      expect(() => run({ logits, labels }, 0.5)).toThrow(/ignoreIndex must be a 32-bit integer/);
      expect(() =>
        run({ logits, labels, dLoss: tf.zeros([3]) }, -1, SOFTMAX_CROSS_ENTROPY_GRAD),
      ).toThrow(/AttnkitSoftmaxCrossEntropyGrad: dLogSumExp is missing/);
      tf.dispose([logits, labels]);
    });
  });

  it('its addon entries check every array against the dims before touching it', () => {
    const addon = loadAddon() as unknown as Record<string, (...a: unknown[]) => void>;
    const dims = Int32Array.from([2, 3]);
    // rows 2, vocab 3: forward logits labels | loss lse; backward logits labels dloss dlse | dlogits.
    const entries: Array<[string, number[]]> = [
      ['crossEntropyForward', [6, 2, 2, 2]],
      ['crossEntropyBackward', [6, 2, 2, 2, 6]],
    ];
    for (const [name, sizes] of entries) {
      const arrays = (s: number[]) =>
        s.map((n, i) => (i === 1 ? new Int32Array(n) : new Float32Array(n)));
      const call = (s: number[], d = dims, ignore = -1) =>
        thrown(() => addon[name]!(...arrays(s), d, ignore));
      expect(call(sizes)).toBe('nothing');
      for (let i = 0; i < sizes.length; i++) {
        expect(call(sizes.map((n, j) => (j === i ? n - 1 : n)))).toMatch(/^RangeError: /);
      }
      expect(call(sizes, Int32Array.from([2, 0]))).toMatch(/^RangeError: /);
      expect(call(sizes, dims, 2 ** 40)).toMatch(/^RangeError: /);
      expect(
        thrown(() => addon[name]!(...arrays(sizes).map(() => new Float32Array(6)), dims, -1)),
      ).toMatch(/^TypeError: .*Int32Array/);
    }
  });
});
