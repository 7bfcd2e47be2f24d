import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  ShapeError,
  build,
  type Module,
  type ProbeEvent,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  blockSparseMask,
  flexPrefillSelect,
  jensenShannon,
  scaledDotProductAttention,
} from '@attnkit/attention';

type Mixer = Module & TokenMixer;
type Projections = Record<'q' | 'k' | 'v' | 'o', { forward(x: tf.Tensor): tf.Tensor }>;
const [D, H, HD, T, B] = [8, 2, 4, 8, 2];
const split = (y: tf.Tensor) => {
  const [b, t] = y.shape;
  return tf.transpose(tf.reshape(y, [b!, t!, H, HD]), [0, 2, 1, 3]) as tf.Tensor4D;
};
const make = (extra: Record<string, unknown> = {}) =>
  build<Mixer>(
    { type: 'flexprefill', dModel: D, numHeads: H, blockSize: B, ...extra },
    { rng: new Rng(3) },
  );
const input = (seed = 1) => tf.randomNormal([2, T, D], 0, 1, 'float32', seed) as tf.Tensor3D;

describe('flexPrefillSelect (Lai et al. 2025)', () => {
  it('Jensen-Shannon divergence: 0 for equal distributions, ln 2 for disjoint ones', () => {
    expect(jensenShannon([0.2, 0.8], [0.2, 0.8])).toBeCloseTo(0, 12);
    expect(jensenShannon([1, 0], [0, 1])).toBeCloseTo(Math.log(2), 12);
  });

  it('vertical-slash: a head whose last block looks only at key 0 keeps block 0 and its own block', () => {
    tf.tidy(() => {
      const big = tf.mul(tf.oneHot(tf.zeros([1, 1, T], 'int32'), HD), 8) as tf.Tensor4D; // every q = 8·e0
      const keys = tf.concat(
        [tf.mul(tf.oneHot(tf.zeros([1, 1, 1], 'int32'), HD), 8), tf.zeros([1, 1, T - 1, HD])],
        2,
      ) as tf.Tensor4D;
      const { selected, queryAware } = flexPrefillSelect(big, keys, {
        blockSize: B,
        gamma: 0.9,
        tau: 0,
      });
      expect(queryAware).toEqual([0]);
      const rows = (selected.arraySync() as number[][][][])[0]![0]!.map((r) =>
        r.filter((j) => j >= 0),
      );
      expect(rows).toEqual([[0], [0, 1], [0, 2], [0, 3]]);
    });
  });

  it('τ decides the pattern: every head query-aware for a large τ, none for τ = 0', () => {
    tf.tidy(() => {
      const q = tf.randomNormal([2, H, T, HD], 0, 1, 'float32', 2) as tf.Tensor4D;
      const k = tf.randomNormal([2, 1, T, HD], 0, 1, 'float32', 3) as tf.Tensor4D;
      expect(flexPrefillSelect(q, k, { blockSize: B, gamma: 0.5, tau: 10 }).queryAware).toEqual([
        1, 1, 1, 1,
      ]);
      expect(flexPrefillSelect(q, k, { blockSize: B, gamma: 0.5, tau: 0 }).queryAware).toEqual([
        0, 0, 0, 0,
      ]);
    });
  });

  it('refuses a length the block size does not divide, γ out of (0, 1] and cross-attention shapes', () => {
    tf.tidy(() => {
      const q = tf.zeros([1, 1, 6, 2]) as tf.Tensor4D;
      expect(() => flexPrefillSelect(q, q, { blockSize: 4, gamma: 0.9, tau: 0.1 })).toThrow(
        ShapeError,
      );
      expect(() => flexPrefillSelect(q, q, { blockSize: 2, gamma: 0, tau: 0.1 })).toThrow(
        ConfigError,
      );
      expect(() => flexPrefillSelect(q, q, { blockSize: 2, gamma: 1.5, tau: 0.1 })).toThrow(
        ConfigError,
      );
      const k = tf.zeros([1, 1, 8, 2]) as tf.Tensor4D;
      expect(() => flexPrefillSelect(q, k, { blockSize: 2, gamma: 0.9, tau: 0.1 })).toThrow(
        ConfigError,
      );
    });
  });
});

describe('flexprefill', () => {
  it.each([
    ['query-aware', 10],
    ['vertical-slash', 0],
  ])(
    '%s: the block-sparse path equals dense attention under the same block mask (outputs, input gradients)',
    (_name, tau) => {
      const m = make({ tau, gamma: 0.6 });
      const mm = m as unknown as Projections;
      tf.tidy(() => {
        const x = input();
        const probe = input(2);
        const { selected } = flexPrefillSelect(split(mm.q.forward(x)), split(mm.k.forward(x)), {
          blockSize: B,
          gamma: 0.6,
          tau,
        });
        const mask = blockSparseMask(selected, { blockSize: B, tq: T, tk: T, causal: true });
        // The selection is sparse: some visible block is left out.
        expect(tf.sum(tf.cast(mask, 'float32')).dataSync()[0]!).toBeLessThan(
          (2 * H * (T * (T + 1))) / 2,
        );
        const dense = (a: tf.Tensor) => {
          const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => split(mm[n].forward(a)));
          const o = scaledDotProductAttention(q!, k!, v!, { mask }).output;
          return mm.o.forward(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [2, T, D]));
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

  it('γ = 1 keeps every block: causal multi-head attention; the probe names the pattern per head', () => {
    for (const tau of [0, 10]) {
      const m = make({ gamma: 1, tau });
      const mha = build<Mixer>({ type: 'mha', dModel: D, numHeads: H });
      mha.loadStateDict(m.stateDict());
      const events: ProbeEvent[] = [];
      tf.tidy(() =>
        expectClose(m.forward(input(), { probe: (e) => events.push(e) }), mha.forward(input()), {
          atol: 1e-5,
        }),
      );
      expect(events.map((e) => [e.name, e.value])).toEqual([
        ['queryAwareHeads', new Array(2 * H).fill(tau > 0 ? 1 : 0)],
      ]);
      [m, mha].forEach((y) => y.dispose());
    }
  });

  it('refuses a length the block size does not divide and bad configs; leaks nothing', async () => {
    const m = make({ blockSize: 3 });
    expect(() => tf.tidy(() => m.forward(input()))).toThrow(ShapeError);
    expect(() => make({ gamma: 0 })).toThrow(ConfigError);
    expect(() => make({ causal: false })).toThrow(ConfigError);
    const n = make();
    const x = input();
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(n.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    x.dispose();
    [m, n].forEach((y) => y.dispose());
  });
});
