import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  MASK_NEGATIVE,
  Rng,
  ShapeError,
  build,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  scaledDotProductAttention,
  symmetricEigen,
  type LokiAttention,
  type TopKAttention,
  type TopThetaAttention,
} from '@attnkit/attention';

type Mixer = Module & TokenMixer;
const D = 8;
const H = 2;
const HD = D / H;
const make = <M extends Mixer>(config: Record<string, unknown>, seed = 3) =>
  build<M>({ dModel: D, numHeads: H, ...config }, { rng: new Rng(seed) });
const input = (t = 7, seed = 1) => tf.randomNormal([2, t, D], 0, 1, 'float32', seed) as tf.Tensor3D;
const split = (y: tf.Tensor, heads = H) => {
  const [b, t] = y.shape;
  return tf.transpose(tf.reshape(y, [b!, t!, heads, HD]), [0, 2, 1, 3]) as tf.Tensor4D;
};
const merge = (y: tf.Tensor) => {
  const [b, , t] = y.shape;
  return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b!, t!, D]);
};

type Projections = Record<'q' | 'k' | 'v' | 'o', { forward(x: tf.Tensor): tf.Tensor }>;

/**
 * The dense reference's selection: full scores of x (in `space`, default the keys' own), tf.topk
 * over each whole visible row, as a boolean mask [b, h, t, t]. Data: made outside any gradient.
 */
function denseSelection(
  m: Mixer,
  x: tf.Tensor3D,
  topK: number,
  causal: boolean,
  space?: tf.Tensor,
) {
  const mm = m as unknown as Projections;
  const [q, k] = (['q', 'k'] as const).map((n) => split(mm[n].forward(x)));
  const t = x.shape[1];
  const visible = causal
    ? tf.cast(tf.linalg.bandPart(tf.ones([t, t]), -1, 0), 'bool')
    : tf.ones([t, t], 'bool');
  const low = (y: tf.Tensor4D) =>
    space ? tf.matMul(y, tf.broadcastTo(space, [2, H, HD, space.shape[2]!])) : y;
  const scores = tf.where(
    visible,
    tf.matMul(low(q!), low(k!), false, true),
    tf.scalar(MASK_NEGATIVE),
  );
  const { indices } = tf.topk(scores, Math.min(topK, t));
  return tf.logicalAnd(tf.greater(tf.sum(tf.oneHot(indices, t), 3), 0), visible);
}

/** Full attention of the mixer's projections under a fixed boolean mask. */
function denseMasked(m: Mixer, x: tf.Tensor3D, mask: tf.Tensor) {
  const mm = m as unknown as Projections;
  const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => split(mm[n].forward(x)));
  return mm.o.forward(merge(scaledDotProductAttention(q!, k!, v!, { mask }).output));
}

const inputGrad = (f: (x: tf.Tensor3D) => tf.Tensor, x: tf.Tensor3D, probe: tf.Tensor) =>
  tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor3D), probe)))(x);

describe('topk-attention', () => {
  it.each([true, false])(
    'causal=%s: the sparse path equals the dense top-k-masked reference (outputs, input gradients)',
    (causal) => {
      const m = make<TopKAttention>({ type: 'topk-attention', topK: 3, chunkSize: 2, causal });
      tf.tidy(() => {
        const x = input();
        const probe = input(7, 2);
        const sparse = (a: tf.Tensor3D) => m.forward(a);
        const mask = denseSelection(m, x, 3, causal);
        const dense = (a: tf.Tensor3D) => denseMasked(m, a, mask);
        expectClose(sparse(x), dense(x), { atol: 1e-5 });
        expect(
          maxAbsDiff(inputGrad(sparse, x, probe), inputGrad(dense, x, probe)),
        ).toBeLessThanOrEqual(1e-4);
      });
      m.dispose();
    },
  );

  it('with topK >= the keys it is plain multi-head attention (same weights)', () => {
    const m = make({ type: 'topk-attention', topK: 50, chunkSize: 3 });
    const mha = make({ type: 'mha' });
    mha.loadStateDict(m.stateDict());
    tf.tidy(() => expectClose(m.forward(input()), mha.forward(input()), { atol: 1e-5 }));
    tf.tidy(() => {
      const x = input();
      expectClose(m.forward(x, { causal: false }), mha.forward(x, { causal: false }), {
        atol: 1e-5,
      });
    });
    [m, mha].forEach((x) => x.dispose());
  });

  it('hands the hook the selected weights and their key positions', () => {
    const m = make({ type: 'topk-attention', topK: 2 });
    tf.tidy(() => {
      let shapes = '';
      m.forward(input(5), {
        attentionHook: (info) =>
          (shapes = `${info.weights.shape} ${info.selected?.shape} ${info.selected?.dtype}`),
      });
      expect(shapes).toBe('2,2,5,2 2,2,5,2 int32');
    });
    m.dispose();
  });

  it('refuses bad configs with typed errors', () => {
    expect(() => make({ type: 'topk-attention', topK: 0 })).toThrow(ConfigError);
    expect(() => make({ type: 'topk-attention' })).toThrow(ConfigError);
    expect(() => make({ type: 'topk-attention', topK: 2, chunkSize: 0 })).toThrow(ConfigError);
    expect(() => make({ type: 'topk-attention', topK: 2, numHeads: 3 })).toThrow(ConfigError);
  });
});

describe('loki', () => {
  it('the sparse path equals the dense reference: low-rank top-k mask on full attention', () => {
    const m = make<LokiAttention>({ type: 'loki', topK: 3, rank: 2, chunkSize: 3 });
    tf.tidy(() => {
      m.calibrate(input(9, 5));
      const x = input();
      const probe = input(7, 2);
      const sparse = (a: tf.Tensor3D) => m.forward(a);
      const mask = denseSelection(m, x, 3, true, m.projection);
      const dense = (a: tf.Tensor3D) => denseMasked(m, a, mask);
      expectClose(sparse(x), dense(x), { atol: 1e-5 });
      expect(
        maxAbsDiff(inputGrad(sparse, x, probe), inputGrad(dense, x, probe)),
      ).toBeLessThanOrEqual(1e-4);
    });
    m.dispose();
  });

  it('with rank = headDim its calibrated basis is orthonormal and it selects as topk-attention', () => {
    const m = make<LokiAttention>({ type: 'loki', topK: 3, rank: HD });
    const top = make({ type: 'topk-attention', topK: 3 });
    top.loadStateDict(
      Object.fromEntries(
        ['q', 'k', 'v', 'o'].map((n) => [`${n}.weight`, m.stateDict()[`${n}.weight`]!]),
      ),
    );
    tf.tidy(() => {
      m.calibrate(input(9, 5));
      const p = m.projection;
      expectClose(tf.matMul(p, p, true, false), tf.broadcastTo(tf.eye(HD), [H, HD, HD]), {
        atol: 1e-5,
      });
      expectClose(m.forward(input()), top.forward(input()), { atol: 1e-5 });
    });
    [m, top].forEach((x) => x.dispose());
  });

  it('its projection is a saved buffer: a reloaded model gives the same output', () => {
    const m = make<LokiAttention>({ type: 'loki', topK: 2, rank: 1 });
    const copy = make<LokiAttention>({ type: 'loki', topK: 2, rank: 1 }, 9);
    tf.tidy(() => {
      m.calibrate(input(9, 5));
      expect(m.trainableParameters().includes(m.projection)).toBe(false);
      copy.loadStateDict(m.stateDict());
      expectClose(copy.forward(input()), m.forward(input()), { atol: 0 });
    });
    [m, copy].forEach((x) => x.dispose());
  });

  it('symmetricEigen returns eigenpairs, largest first', () => {
    const a = [4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 1];
    const { values, vectors } = symmetricEigen(a, 3);
    expect(values[0]!).toBeGreaterThanOrEqual(values[1]!);
    expect(values[1]!).toBeGreaterThanOrEqual(values[2]!);
    vectors.forEach((v, i) => {
      for (let r = 0; r < 3; r++) {
        const av = a[r * 3]! * v[0]! + a[r * 3 + 1]! * v[1]! + a[r * 3 + 2]! * v[2]!;
        expect(Math.abs(av - values[i]! * v[r]!)).toBeLessThan(1e-9);
      }
    });
  });

  it('refuses a rank above headDim and bad calibration input with typed errors; calibration leaks nothing', async () => {
    expect(() => make({ type: 'loki', topK: 2, rank: HD + 1 })).toThrow(ConfigError);
    const m = make<LokiAttention>({ type: 'loki', topK: 2, rank: 2 });
    expect(() => m.calibrate(tf.zeros([2, D]) as unknown as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.calibrate(tf.zeros([1, 4, D + 1]) as tf.Tensor3D)).toThrow(ShapeError);
    const x = input();
    await expectNoLeaks(() => m.calibrate(x));
    x.dispose();
    m.dispose();
  });
});

describe('top-theta', () => {
  const config = { type: 'top-theta', groupSize: 2, numGroups: 4, chunkSize: 3 };

  it('uncalibrated it keeps every key: plain multi-head attention', () => {
    const m = make(config);
    const mha = make({ type: 'mha' });
    mha.loadStateDict(
      Object.fromEntries(
        ['q', 'k', 'v', 'o'].map((n) => [`${n}.weight`, m.stateDict()[`${n}.weight`]!]),
      ),
    );
    tf.tidy(() => expectClose(m.forward(input()), mha.forward(input()), { atol: 1e-5 }));
    [m, mha].forEach((x) => x.dispose());
  });

  it('calibrate(x, targetK) makes rows keep about targetK keys; the thresholds are a saved buffer', () => {
    const m = make<TopThetaAttention>(config);
    const copy = make<TopThetaAttention>(config, 9);
    tf.tidy(() => {
      const x = input(8, 4);
      m.calibrate(x, 3);
      expect(m.trainableParameters().includes(m.thresholds)).toBe(false);
      // Kept counts on the calibration data, from the mixer's own projections.
      const mm = m as unknown as Record<'q' | 'k', { forward(x: tf.Tensor): tf.Tensor }>;
      const s = tf.div(
        tf.matMul(split(mm.q.forward(x)), split(mm.k.forward(x)), false, true),
        Math.sqrt(HD),
      );
      const theta = tf.reshape(m.thresholdsFor([...Array(8).keys()]), [1, H, 8, 1]);
      const visible = tf.cast(tf.linalg.bandPart(tf.ones([8, 8]), -1, 0), 'bool');
      const kept = tf.sum(
        tf.cast(tf.logicalAnd(visible, tf.greaterEqual(s, theta)), 'float32'),
        -1,
      );
      // Rows 2.. see >= 3 keys; on average they keep about 3.
      const mean = tf.mean(tf.slice(kept, [0, 0, 2], [-1, -1, -1])).dataSync()[0]!;
      expect(mean).toBeGreaterThan(2);
      expect(mean).toBeLessThan(4.5);
      copy.loadStateDict(m.stateDict());
      expectClose(copy.forward(x), m.forward(x), { atol: 0 });
    });
    [m, copy].forEach((x) => x.dispose());
  });

  it('refuses targetK larger than the keys, bad input and configs with typed errors; calibration leaks nothing', async () => {
    const m = make<TopThetaAttention>(config);
    expect(() => m.calibrate(input(4), 5)).toThrow(ConfigError);
    expect(() => m.calibrate(input(4), 0)).toThrow(ConfigError);
    expect(() => m.calibrate(tf.zeros([1, 4, D + 1]) as tf.Tensor3D, 2)).toThrow(ShapeError);
    expect(() => make({ ...config, compensation: 'both' })).toThrow(ConfigError);
    expect(() => make({ ...config, numGroups: 0 })).toThrow(ConfigError);
    const x = input();
    await expectNoLeaks(() => m.calibrate(x, 2));
    x.dispose();
    m.dispose();
  });
});
