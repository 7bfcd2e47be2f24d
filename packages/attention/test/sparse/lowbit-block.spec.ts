import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  MASK_NEGATIVE,
  Rng,
  build,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  lowBitBlockSelect,
  quantizeSymmetric,
  repeatKvHeads,
  scaledDotProductAttention,
} from '@attnkit/attention';

type Mixer = Module & TokenMixer;
type Projections = Record<'q' | 'k' | 'v' | 'o', { forward(x: tf.Tensor): tf.Tensor }>;
const [D, H, HD] = [8, 2, 4];
const normal = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;
const split = (y: tf.Tensor) => {
  const [b, t] = y.shape;
  return tf.transpose(tf.reshape(y, [b!, t!, H, HD]), [0, 2, 1, 3]) as tf.Tensor4D;
};

/** Written from the definition: levels of max|x|/(2^(bits-1)-1) per row, rounded. */
function quantized(x: tf.Tensor, bits: number) {
  const rows = x.arraySync() as number[][][][];
  const levels = 2 ** (bits - 1) - 1;
  const out = rows.map((a) =>
    a.map((b) =>
      b.map((row) => {
        const step = Math.max(...row.map(Math.abs)) / levels || 1;
        return row.map((v) => Math.round(v / step) * step);
      }),
    ),
  );
  return tf.tensor(out) as tf.Tensor4D;
}

/**
 * The dense reference's mask: the full map of quantised scores, each block's max over its
 * visible keys, tf.topk over the blocks, every visible key of the chosen blocks.
 */
function denseMask(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  size: number,
  blocks: number,
  bits: number,
  causal: boolean,
) {
  return tf.tidy(() => {
    const [b, h, tq] = q.shape;
    const tk = k.shape[2];
    const nb = Math.ceil(tk / size);
    const visible = causal
      ? tf.lessEqual(
          tf.reshape(tf.range(0, tk, 1, 'int32'), [1, tk]),
          tf.reshape(tf.range(tk - tq, tk, 1, 'int32'), [tq, 1]),
        )
      : tf.ones([tq, tk], 'bool');
    let s: tf.Tensor = tf.matMul(
      quantized(q, bits),
      repeatKvHeads(quantized(k, bits), h),
      false,
      true,
    );
    s = tf.where(visible, s, tf.scalar(MASK_NEGATIVE));
    s = tf.pad(
      s,
      [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, nb * size - tk],
      ],
      2 * MASK_NEGATIVE,
    );
    const blockMax = tf.max(tf.reshape(s, [b, h, tq, nb, size]), 4);
    const chosen = tf.sum(tf.oneHot(tf.topk(blockMax, blocks).indices, nb), 3); // [b, h, tq, nb]
    const perKey = tf.slice(
      tf.reshape(tf.tile(tf.expandDims(chosen, 4), [1, 1, 1, 1, size]), [b, h, tq, nb * size]),
      [0, 0, 0, 0],
      [-1, -1, -1, tk],
    );
    return tf.logicalAnd(tf.greater(perKey, 0), visible);
  });
}

describe('quantizeSymmetric and lowBitBlockSelect (SALE-style estimate)', () => {
  it('quantizes as the definition says', () => {
    tf.tidy(() => {
      const x = normal([1, 2, 3, 5], 1);
      expectClose(quantizeSymmetric(x, 4), quantized(x, 4), { atol: 1e-6 });
      expectClose(quantizeSymmetric(tf.zeros([1, 1, 1, 3]), 4), tf.zeros([1, 1, 1, 3]), {
        atol: 0,
      });
    });
  });

  it.each([
    [false, 2, 2],
    [true, 3, 2],
    [true, 2, 1],
  ])(
    'causal=%s blockSize=%i blocks=%i: the keys of the blocks the dense estimate picks (GQA, ragged last block)',
    (causal, size, blocks) => {
      tf.tidy(() => {
        const q = normal([2, 4, 7, 3], 2);
        const k = normal([2, 2, 7, 3], 3);
        const indices = lowBitBlockSelect(q, k, { blockSize: size, blocks, bits: 4, causal });
        expect(indices.dtype).toBe('int32');
        const mask = tf.cast(tf.sum(tf.oneHot(indices, 7), 3), 'bool');
        expect(
          maxAbsDiff(
            tf.cast(mask, 'float32'),
            tf.cast(denseMask(q, k, size, blocks, 4, causal), 'float32'),
          ),
        ).toBe(0);
      });
    },
  );

  it('refuses more blocks than there are, bits below 2 and a zero block size with typed errors', () => {
    tf.tidy(() => {
      const q = normal([1, 1, 4, 2], 4);
      expect(() => lowBitBlockSelect(q, q, { blockSize: 2, blocks: 3 })).toThrow(ConfigError);
      expect(() => lowBitBlockSelect(q, q, { blockSize: 2, blocks: 1, bits: 1 })).toThrow(
        ConfigError,
      );
      expect(() => lowBitBlockSelect(q, q, { blockSize: 0, blocks: 1 })).toThrow(ConfigError);
    });
  });
});

describe('lowbit-block-topk', () => {
  const make = (extra: Record<string, unknown> = {}) =>
    build<Mixer>(
      { type: 'lowbit-block-topk', dModel: D, numHeads: H, blockSize: 2, topBlocks: 2, ...extra },
      { rng: new Rng(3) },
    );

  it.each([true, false])(
    'causal=%s: the sparse path equals the dense block-masked reference (outputs, input gradients)',
    (causal) => {
      const m = make({ causal });
      const mm = m as unknown as Projections;
      tf.tidy(() => {
        const x = tf.randomNormal([2, 7, D], 0, 1, 'float32', 5) as tf.Tensor3D;
        const probe = tf.randomNormal([2, 7, D], 0, 1, 'float32', 6);
        const mask = denseMask(split(mm.q.forward(x)), split(mm.k.forward(x)), 2, 2, 4, causal);
        const dense = (a: tf.Tensor) => {
          const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => split(mm[n].forward(a)));
          const o = scaledDotProductAttention(q!, k!, v!, { mask }).output;
          return mm.o.forward(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [2, 7, D]));
        };
        const sparse = (a: tf.Tensor) => m.forward(a as tf.Tensor3D);
        expectClose(sparse(x), dense(x), { atol: 1e-5 });
        const grad = (f: (a: tf.Tensor) => tf.Tensor) =>
          tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), probe)))(x);
        expect(maxAbsDiff(grad(sparse), grad(dense))).toBeLessThanOrEqual(1e-4);
      });
      m.dispose();
    },
  );

  it('with every block kept it is plain multi-head attention; bad configs are refused; no leaks', async () => {
    const m = make({ topBlocks: 10 });
    const mha = build<Mixer>({ type: 'mha', dModel: D, numHeads: H });
    mha.loadStateDict(m.stateDict());
    tf.tidy(() => {
      const x = tf.randomNormal([2, 7, D], 0, 1, 'float32', 7) as tf.Tensor3D;
      expectClose(m.forward(x), mha.forward(x), { atol: 1e-5 });
    });
    expect(() => make({ bits: 1 })).toThrow(ConfigError);
    expect(() => make({ blockSize: 0 })).toThrow(ConfigError);
    const x = tf.randomNormal([1, 5, D], 0, 1, 'float32', 8) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    x.dispose();
    [m, mha].forEach((y) => y.dispose());
  });
});
