import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { expectSame, onBoth, rand } from './helpers';

describe('BatchMatMul on native', () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[1, 1], [1, 1], false, false],
    [[7, 5], [5, 13], false, false],
    [[5, 7], [5, 13], true, false],
    [[7, 5], [13, 5], false, true],
    [[5, 7], [13, 5], true, true],
    [[3, 33, 17], [3, 17, 65], false, false],
    [[2, 3, 9, 4], [2, 3, 4, 1], false, false],
    [[1, 40, 130], [130, 70], false, false], // rank 3 by rank 2
    [[130, 70], [4, 70, 30], false, false], // rank 2 by rank 3 (batch broadcast on a)
    [[1, 6, 8], [5, 8, 3], false, false], // batch 1 against 5
    [[4, 1, 257], [4, 257, 129], false, false], // a row vector, k above one block
    [[300, 200], [200, 150], false, false],
    [[400, 300], [250, 300], false, true], // large: B packed once, shared by the threads
    [[300, 400], [300, 250], true, false],
    [[257, 300], [300, 700], false, false], // row blocks of near-equal height (132 + 125)
    [[600, 257], [600, 256], true, false], // a weight gradient Xᵀ·dY shape, 257 rows
    [[300, 200], [200, 2], false, false], // thin: a router's logits, dot products
    [[700, 65], [65, 8], false, false], // thin, threaded row blocks
    [[257, 300], [257, 6], true, false], // thin, A transposed: a router's weight gradient
    [[3, 40, 33], [3, 7, 33], false, true], // thin, batched, B transposed
    [[5, 9], [3, 5], true, true], // thin, both operands transposed
  ];
  it.each(cases)('matches cpu: %j · %j (transposeA %s, transposeB %s)', async (sa, sb, ta, tb) => {
    const a = rand(sa, 1);
    const b = rand(sb, 2);
    expectSame(await onBoth(() => tf.matMul(a, b, ta, tb)), 2e-5);
    tf.dispose([a, b]);
  });

  it('broadcasts batch dimensions of both operands ([2,1] against [1,3])', async () => {
    const a = rand([2, 1, 6, 8], 3);
    const b = rand([1, 3, 8, 5], 4);
    await tf.setBackend('native');
    const got = tf.matMul(a, b);
    // Reference: tile both to [2,3] batches and multiply on cpu.
    await tf.setBackend('cpu');
    const want = tf.matMul(tf.tile(a, [1, 3, 1, 1]), tf.tile(b, [2, 1, 1, 1]));
    expect(got.shape).toEqual([2, 3, 6, 5]);
    const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]!;
    expect(diff).toBeLessThan(1e-5);
    tf.dispose([a, b, got, want]);
  });

  it('matches cpu on a 256-size product (threaded path)', async () => {
    const a = rand([256, 256], 5);
    const b = rand([256, 256], 6);
    expectSame(await onBoth(() => tf.matMul(a, b)), 5e-5);
    tf.dispose([a, b]);
  });

  it('gives the cpu gradients', async () => {
    const a = rand([2, 5, 3], 7);
    const b = rand([2, 3, 4], 8);
    expectSame(
      await onBoth(() =>
        tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y))))([a, b]),
      ),
    );
    tf.dispose([a, b]);
  });

  it('int32 products and size-0 dimensions go through the cpu kernel', async () => {
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    expectSame(await onBoth(() => tf.matMul(a, a)));
    const e = tf.zeros([0, 3]);
    const f = tf.zeros([3, 2]);
    expectSame(await onBoth(() => tf.matMul(e, f)));
    tf.dispose([a, e, f]);
  });

  it('reports shape mismatches and bad dtypes with the cpu messages', async () => {
    const a = rand([2, 3], 9);
    const b = rand([4, 5], 10);
    const r = await onBoth(
      () =>
        tf
          .engine()
          .runKernel(
            'BatchMatMul',
            { a, b },
            { transposeA: false, transposeB: false },
          ) as tf.Tensor,
    );
    expect(r[0].error).toMatch(/inner shapes/);
    expectSame(r);
    const c = tf.complex(a, a);
    const r2 = await onBoth(
      () =>
        tf
          .engine()
          .runKernel(
            'BatchMatMul',
            { a: c, b: c },
            { transposeA: false, transposeB: true },
          ) as tf.Tensor,
    );
    expect(r2[0].error).toBeDefined();
    expectSame(r2);
    const x = rand([2, 2, 3], 11);
    const y = rand([3, 3, 2], 12);
    const r3 = await onBoth(
      () =>
        tf
          .engine()
          .runKernel(
            'BatchMatMul',
            { a: x, b: y },
            { transposeA: false, transposeB: false },
          ) as tf.Tensor,
    );
    expect(r3[0].error).toBeDefined();
    expectSame(r3);
    tf.dispose([a, b, c, x, y]);
  });

  it('leaks no tensors, forward and backward', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const a = rand([3, 4], 1);
    const b = rand([4, 5], 2);
    await expectNoLeaks(() => {
      tf.tidy(() => {
        tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y)))([a, b]);
      });
    });
    tf.dispose([a, b]);
    await tf.setBackend(initial);
  });
});

describe('_FusedMatMul on native', () => {
  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
  it.each(activations)('matches cpu with bias and %s', async (activation) => {
    const a = rand([3, 6, 5], 1);
    const b = rand([5, 7], 2);
    const bias = rand([7], 3);
    const alpha = rand([7], 4);
    expectSame(
      await onBoth(() =>
        tf.fused.matMul({
          a,
          b,
          bias,
          activation,
          preluActivationWeights: activation === 'prelu' ? alpha : undefined,
          leakyreluAlpha: 0.1,
        }),
      ),
    );
    tf.dispose([a, b, bias, alpha]);
  });

  it('gives the cpu gradients with a transposed operand', async () => {
    const a = rand([4, 6], 5);
    const b = rand([3, 6], 6);
    const bias = rand([3], 7);
    expectSame(
      await onBoth(() =>
        tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
          tf.sum(
            tf.fused.matMul({
              a: x as tf.Tensor2D,
              b: y as tf.Tensor2D,
              transposeB: true,
              bias: z,
              activation: 'relu',
            }),
          ),
        )([a, b, bias]),
      ),
    );
    tf.dispose([a, b, bias]);
  });
});
