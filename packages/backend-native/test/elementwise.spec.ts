import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { expectSame, onBoth, rand } from './helpers';

const BINARY = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'squaredDifference'] as const;
const SHAPES: Array<[number[], number[]]> = [
  [[1], [1]],
  [[7], [7]],
  [[3, 5], [5]],
  [
    [3, 5],
    [3, 1],
  ],
  [
    [1, 5],
    [4, 1],
  ],
  [
    [2, 3, 4, 5],
    [3, 1, 5],
  ],
  [[], [4, 3]],
  [
    [6, 1, 7],
    [1, 9, 1],
  ],
  [[300, 257], [257]], // above the threaded size
  [
    [2, 1, 3, 1, 2],
    [1, 4, 1, 5, 1],
  ],
];

describe('binary ops on native', () => {
  for (const op of BINARY) {
    it.each(SHAPES)(`${op} matches cpu for %j and %j`, async (sa, sb) => {
      const a = rand(sa, 1);
      // Keep divisors away from 0.
      const b = op === 'div' ? tf.add(tf.abs(rand(sb, 2)), 0.5) : rand(sb, 2);
      expectSame(await onBoth(() => tf[op](a, b)), 2e-6);
      tf.dispose([a, b]);
    });
  }

  it('propagates NaN through maximum and minimum like cpu', async () => {
    const a = tf.tensor1d([NaN, 1, 2, NaN]);
    const b = tf.tensor1d([0, NaN, 1, NaN]);
    expectSame(await onBoth(() => [tf.maximum(a, b), tf.minimum(a, b)]));
    tf.dispose([a, b]);
  });

  it('int32 and bool inputs go through the cpu kernel', async () => {
    const a = tf.tensor1d([1, 2, 3], 'int32');
    const b = tf.tensor1d([4, 5, 6], 'int32');
    expectSame(await onBoth(() => [tf.add(a, b), tf.mul(a, b), tf.sub(a, b)]));
    tf.dispose([a, b]);
  });

  it('reports incompatible shapes and dtypes with the cpu messages', async () => {
    const a = rand([2, 3], 1);
    const b = rand([4, 3], 2);
    const r = await onBoth(() => tf.engine().runKernel('Add', { a, b }) as tf.Tensor);
    expect(r[0].error).toMatch(/broadcast/);
    expectSame(r);
    const s = tf.tensor1d(['a', 'b'], 'string');
    const r2 = await onBoth(() => tf.engine().runKernel('Multiply', { a: s, b: s }) as tf.Tensor);
    expectSame(r2);
    tf.dispose([a, b, s]);
  });

  it('gives the cpu gradients through broadcasting', async () => {
    const a = rand([3, 4], 3);
    const b = rand([4], 4);
    expectSame(
      await onBoth(() =>
        tf.grads((x: tf.Tensor, y: tf.Tensor) =>
          tf.sum(tf.div(tf.mul(x, y), tf.add(tf.square(y), 1))),
        )([a, b]),
      ),
    );
    tf.dispose([a, b]);
  });
});

describe('int32 binary ops on native', () => {
  it('add, sub, maximum and minimum match cpu with broadcasting and wrap-around', async () => {
    const a = tf.tensor2d(
      [
        [1, -2, 3],
        [2147483647, -2147483648, 0],
      ],
      [2, 3],
      'int32',
    );
    const col = tf.tensor2d([[5], [1]], [2, 1], 'int32');
    const row = tf.tensor1d([7, -8, 9], 'int32');
    const big = tf.randomUniform([33, 40], -1000, 1000, 'int32', 3);
    expectSame(
      await onBoth(() => [
        tf.add(a, col),
        tf.sub(a, col),
        tf.add(row, a),
        tf.sub(tf.scalar(4, 'int32'), a),
        tf.maximum(a, row),
        tf.minimum(col, a),
        tf.add(big, tf.reshape(tf.range(0, 33, 1, 'int32'), [33, 1])),
        tf.add(tf.zeros([0, 3], 'int32'), row),
      ]),
      0,
    );
    tf.dispose([a, col, row, big]);
  });

  it('leaves int32 multiply and mismatched shapes to the cpu kernel', async () => {
    const a = tf.tensor1d([3, 4], 'int32');
    expectSame(await onBoth(() => tf.mul(a, tf.scalar(5, 'int32'))));
    expectSame(await onBoth(() => tf.add(a, tf.tensor1d([1, 2, 3], 'int32'))));
    a.dispose();
  });
});

describe('unary ops on native', () => {
  const ops = [
    'exp',
    'log',
    'neg',
    'sqrt',
    'rsqrt',
    'square',
    'sigmoid',
    'tanh',
    'relu',
    'abs',
    'reciprocal',
    'softplus',
  ] as const;
  it.each(ops)('%s matches cpu, including 0, ±inf and NaN', async (op) => {
    const special = tf.tensor1d([
      0,
      -0,
      1e-30,
      80,
      -80,
      100,
      -100,
      Infinity,
      -Infinity,
      NaN,
      0.5,
      -3,
    ]);
    const positive = ['log', 'sqrt', 'rsqrt'].includes(op);
    const x = positive ? tf.add(tf.abs(rand([513], 1)), 1e-3) : tf.mul(rand([513], 1), 20);
    // exp/sigmoid: the addon's exp is within 2 ulp of the correctly rounded value.
    expectSame(await onBoth(() => [tf[op](x), tf[op](special)]), 1e-6);
    tf.dispose([special, x]);
  });

  it('int32 inputs go through the cpu kernel', async () => {
    const x = tf.tensor1d([-2, 3], 'int32');
    expectSame(await onBoth(() => [tf.neg(x), tf.abs(x), tf.square(x)]));
    tf.dispose(x);
  });
});

describe('softmax and reductions on native', () => {
  it.each([[[1]], [[5]], [[3, 7]], [[2, 3, 129]], [[70, 1000]]])(
    'softmax matches cpu for %j',
    async (shape) => {
      const x = tf.mul(rand(shape, 5), 10);
      expectSame(await onBoth(() => tf.softmax(x)), 1e-6);
      expectSame(
        await onBoth(() =>
          tf.grads((y: tf.Tensor) =>
            tf.sum(tf.mul(tf.softmax(y), tf.range(0, shape[shape.length - 1]!))),
          )([x]),
        ),
        1e-4,
      );
      tf.dispose(x);
    },
  );

  it('softmax keeps -inf logits at 0 and a non-last axis fails as on cpu', async () => {
    const x = tf.tensor2d([0, -Infinity, 1, 2], [2, 2]);
    expectSame(await onBoth(() => tf.softmax(x)));
    const r = await onBoth(
      () => tf.engine().runKernel('Softmax', { logits: x }, { dim: 0 }) as tf.Tensor,
    );
    expect(r[0].error).toMatch(/non-last/);
    expectSame(r);
    tf.dispose(x);
  });

  const axes: Array<[number[], number | number[] | undefined, boolean]> = [
    [[7], undefined, false],
    [[3, 5], 1, false],
    [[3, 5], 0, true],
    [[2, 3, 4], [1, 2], false],
    [[2, 3, 4], [0, 1], true],
    [[2, 3, 4], [0, 2], false], // not contiguous: cpu path
    [[300, 300], 1, false],
    [[300, 300], 0, false],
    [[1, 1], -1, true],
  ];
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    it.each(axes)(
      `${op} matches cpu for %j over %j (keepDims %s)`,
      async (shape, axis, keepDims) => {
        const x = rand(shape, 6);
        expectSame(await onBoth(() => tf[op](x, axis, keepDims)), 1e-5);
        tf.dispose(x);
      },
    );
  }

  it('reductions of int32 and bool go through the cpu kernel', async () => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    const b = tf.tensor1d([true, false, true], 'bool');
    expectSame(await onBoth(() => [tf.sum(x, 1), tf.max(x), tf.sum(b), tf.mean(x)]));
    tf.dispose([x, b]);
  });

  it('reductions propagate NaN and reject bad axes like cpu', async () => {
    const x = tf.tensor2d([1, NaN, 3, 4], [2, 2]);
    expectSame(await onBoth(() => [tf.max(x, 1), tf.min(x, 1), tf.sum(x, 0)]));
    const r = await onBoth(
      () => tf.engine().runKernel('Sum', { x }, { axis: [5], keepDims: false }) as tf.Tensor,
    );
    expect(r[0].error).toBeDefined();
    expectSame(r);
    tf.dispose(x);
  });

  it('leaks no tensors', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const x = rand([4, 6], 1);
    await expectNoLeaks(() => {
      tf.tidy(() => {
        tf.grads((y: tf.Tensor) => tf.sum(tf.mul(tf.softmax(y), tf.exp(tf.mean(y, 0)))))([x]);
      });
    });
    x.dispose();
    await tf.setBackend(initial);
  });
});
