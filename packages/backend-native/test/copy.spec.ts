import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { expectSame, onBoth, rand } from './helpers';

const dtypes = ['float32', 'int32', 'bool'] as const;
function input(shape: number[], dtype: (typeof dtypes)[number], seed = 1): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.mul(rand(shape, seed), 10);
    return dtype === 'bool' ? tf.greater(x, 0) : tf.cast(x, dtype);
  });
}

describe('data movement on native', () => {
  it.each(dtypes)('transpose matches cpu (%s)', async (dtype) => {
    for (const [shape, perm] of [
      [[1], [0]],
      [
        [3, 5],
        [1, 0],
      ],
      [
        [2, 3, 4],
        [2, 0, 1],
      ],
      [
        [2, 1, 3, 5],
        [0, 2, 1, 3],
      ],
      [
        [2, 3, 4, 5, 2],
        [4, 3, 2, 1, 0],
      ],
      [
        [130, 260],
        [1, 0],
      ],
    ] as Array<[number[], number[]]>) {
      const x = input(shape, dtype);
      expectSame(await onBoth(() => tf.transpose(x, perm)));
      x.dispose();
    }
  });

  it.each(dtypes)('slice and split match cpu (%s)', async (dtype) => {
    const x = input([4, 5, 6], dtype);
    expectSame(
      await onBoth(() => [
        tf.slice(x, [1, 2, 3], [2, 3, 3]),
        tf.slice(x, [0, 0, 5], [-1, -1, 1]),
        tf.slice(x, [2, 0, 0], [1, 5, 6]),
      ]),
    );
    expectSame(await onBoth(() => tf.split(x, [1, 2, 3], 2)));
    expectSame(await onBoth(() => tf.split(x, 5, 1)));
    expectSame(await onBoth(() => tf.split(x, [3, -1], 0)));
    x.dispose();
  });

  it.each(dtypes)('pad matches cpu (%s)', async (dtype) => {
    const x = input([3, 1, 4], dtype);
    expectSame(
      await onBoth(() => [
        tf.pad(x, [
          [1, 2],
          [0, 0],
          [3, 1],
        ]),
        tf.pad(
          x,
          [
            [0, 0],
            [2, 0],
            [0, 5],
          ],
          dtype === 'bool' ? 1 : 7,
        ),
        tf.pad(x, [
          [0, 0],
          [0, 0],
          [0, 0],
        ]),
        tf.pad(tf.zeros([0, 2], dtype), [
          [1, 1],
          [0, 1],
        ]),
      ]),
    );
    x.dispose();
  });

  it.each(dtypes)('reverse matches cpu (%s)', async (dtype) => {
    const x = input([3, 1, 4, 5], dtype);
    expectSame(
      await onBoth(() => [
        tf.reverse(x, 0),
        tf.reverse(x, [1, 3]),
        tf.reverse(x, -2),
        tf.reverse(x, [0, 1, 2, 3]),
        tf.reverse(x),
        tf.reverse(tf.zeros([0, 3], dtype), 1),
      ]),
    );
    x.dispose();
  });

  it.each(dtypes)('tile matches cpu (%s)', async (dtype) => {
    for (const [shape, reps] of [
      [[3], [4]],
      [
        [2, 3],
        [1, 3],
      ],
      [
        [2, 1, 3],
        [2, 4, 1],
      ],
      [
        [1, 2, 1, 3],
        [3, 1, 2, 2],
      ],
    ] as Array<[number[], number[]]>) {
      const x = input(shape, dtype);
      expectSame(await onBoth(() => tf.tile(x, reps)));
      x.dispose();
    }
  });

  it.each(dtypes)('concat matches cpu (%s)', async (dtype) => {
    const a = input([2, 3, 4], dtype, 1);
    const b = input([2, 1, 4], dtype, 2);
    const c = input([2, 0, 4], dtype, 3);
    expectSame(await onBoth(() => tf.concat([a, b, c, a], 1)));
    expectSame(await onBoth(() => tf.concat([a, a], 0)));
    expectSame(await onBoth(() => tf.concat([a, a], -1)));
    expectSame(await onBoth(() => tf.concat([c, c], 1)));
    tf.dispose([a, b, c]);
  });

  it('strings and bad arguments behave as on cpu', async () => {
    const s = tf.tensor2d(['a', 'b', 'c', 'd'], [2, 2]);
    expectSame(
      await onBoth(() => [tf.transpose(s), tf.slice(s, [0, 1], [2, 1]), tf.concat([s, s], 1)]),
    );
    const x = rand([2, 3], 1);
    for (const [name, attrs] of [
      ['Slice', { begin: [0, 2], size: [2, 5] }],
      ['SplitV', { numOrSizeSplits: [1, 1], axis: 1 }],
      ['Concat', { axis: 3 }],
    ] as Array<[string, tf.NamedAttrMap]>) {
      const inputs =
        name === 'Concat' ? ([x, rand([3, 3], 2)] as unknown as tf.NamedTensorMap) : { x };
      const r = await onBoth(() => tf.engine().runKernel(name, inputs, attrs) as tf.Tensor);
      expect(r[0].error).toBeDefined();
      expectSame(r);
    }
    tf.dispose([s, x]);
  });

  it('gives the cpu gradients and leaks nothing', async () => {
    const x = rand([2, 3, 4], 4);
    const f = (y: tf.Tensor) =>
      tf.add(
        tf.sum(tf.mul(tf.concat([y, tf.tile(tf.slice(y, [0, 0, 1], [2, 3, 1]), [1, 1, 3])], 2), 2)),
        tf.sum(tf.square(tf.transpose(y, [0, 2, 1]))),
      );
    expectSame(await onBoth(() => tf.grads(f)([x])));
    const initial = tf.getBackend();
    await tf.setBackend('native');
    await expectNoLeaks(() => {
      tf.tidy(() => {
        tf.grads(f)([x]);
        tf.split(x, 2, 0);
      });
    });
    await tf.setBackend(initial);
    x.dispose();
  });
});

describe('GatherV2 on native', () => {
  it.each(dtypes)('matches cpu on every axis, repeated and 2-d indices (%s)', async (dtype) => {
    const x = input([5, 4, 3], dtype);
    const idx = tf.tensor2d([0, 4, 4, 1, 2, 0], [2, 3], 'int32');
    const small = tf.tensor1d([2, 0, 2], 'int32');
    expectSame(
      await onBoth(() => [
        tf.gather(x, idx),
        tf.gather(x, small, 1),
        tf.gather(x, small, 2),
        tf.gather(x, small, -1),
      ]),
    );
    tf.dispose([x, idx, small]);
  });

  it('rejects out-of-range indices with the cpu message and gives the cpu gradient', async () => {
    const x = rand([4, 3], 1);
    const bad = tf.tensor1d([0, 4], 'int32');
    const r = await onBoth(() => tf.gather(x, bad));
    expect(r[0].error).toMatch(/not in \[0, 3\]/);
    expectSame(r);
    const idx = tf.tensor1d([3, 1, 3], 'int32');
    expectSame(
      await onBoth(() => tf.grads((y: tf.Tensor) => tf.sum(tf.square(tf.gather(y, idx))))([x])),
    );
    tf.dispose([x, bad, idx]);
  });
});
