import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, build } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  elasticSpan,
  gatherAttention,
  moaKeys,
  pooledGroups,
  profileElasticRules,
  s2Keys,
  headPattern,
  heposKeys,
  headPatternMask,
  scaledDotProductAttention,
  type HeadPattern,
} from '@attnkit/attention';
import { decodeStepwise, randomInput, type Mixer } from '../helpers';

const TOL = 1e-4;

/** A random causal pattern: each query sees itself and a random subset of earlier keys. */
function randomPattern(heads: number, tq: number, tk: number, seed: number): HeadPattern {
  const rng = new Rng(seed);
  return headPattern('test', heads, tq, tk, (_h, i) => {
    const p = tk - tq + i;
    const keys = [p];
    for (let j = 0; j < p; j++) if (rng.nextUint32() % 3 === 0) keys.push(j);
    return keys;
  });
}

describe('gatherAttention', () => {
  const cases = [
    { name: 'self', heads: 2, kvHeads: 2, tq: 7, tk: 7 },
    { name: 'grouped keys, queries after a prefix', heads: 4, kvHeads: 2, tq: 3, tk: 8 },
  ];
  for (const c of cases) {
    it(`equals sdpa with headPatternMask: outputs and gradients (${c.name})`, () => {
      const q = tf.randomNormal([2, c.heads, c.tq, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const k = tf.randomNormal([2, c.kvHeads, c.tk, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
      const v = tf.randomNormal([2, c.kvHeads, c.tk, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const probe = tf.randomNormal([2, c.heads, c.tq, 3], 0, 1, 'float32', 4);
      const pattern = randomPattern(c.heads, c.tq, c.tk, 5);
      expect(pattern.width).toBeLessThan(c.tk);
      const mask = headPatternMask(pattern, c.tk);
      const sparse = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
        tf.sum(
          tf.mul(
            gatherAttention(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor4D, pattern).output,
            probe,
          ),
        );
      const dense = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
        tf.sum(
          tf.mul(
            scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor4D, {
              mask,
            }).output,
            probe,
          ),
        );
      const ys = gatherAttention(q, k, v, pattern).output;
      const yd = scaledDotProductAttention(q, k, v, { mask }).output;
      expect(maxAbsDiff(ys, yd)).toBeLessThanOrEqual(TOL);
      const gs = tf.grads(sparse)([q, k, v]);
      const gd = tf.grads(dense)([q, k, v]);
      gs.forEach((g, i) => expect(maxAbsDiff(g, gd[i]!)).toBeLessThanOrEqual(TOL));
      tf.dispose([q, k, v, probe, mask, ys, yd, ...gs, ...gd]);
    });
  }

  it('returns the log-sum-exp of the listed logits', () => {
    const q = tf.randomNormal([1, 2, 4, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([1, 2, 4, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const pattern = randomPattern(2, 4, 4, 7);
    const { output, logSumExp } = gatherAttention(q, k, k, pattern, { returnLogSumExp: true });
    const logits = tf.mul(tf.matMul(q, k, false, true), 0.5);
    const masked = tf.where(headPatternMask(pattern, 4), logits, tf.fill(logits.shape, -Infinity));
    expect(maxAbsDiff(logSumExp!, tf.logSumExp(masked, -1))).toBeLessThanOrEqual(TOL);
    tf.dispose([q, k, output, logSumExp!, logits, masked]);
  });

  it('rejects a pattern of the wrong shape or with out-of-range slots, typed', () => {
    const q = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    const pattern = randomPattern(2, 3, 3, 1);
    expect(() => gatherAttention(q, q, q, randomPattern(3, 3, 3, 1))).toThrow(ShapeError);
    const bad = { ...pattern, slots: pattern.slots.map((s, i) => (i === 0 ? 3 : s)) };
    expect(() => gatherAttention(q, q, q, bad)).toThrow(ConfigError);
    expect(() => headPattern('test', 1, 2, 2, () => [2])).toThrow(ConfigError);
    expect(() => gatherAttention(q, q, q, pattern, { scale: -1 })).toThrow(ConfigError);
    q.dispose();
  });

  it('leaks nothing', async () => {
    const q = tf.randomNormal([1, 2, 5, 4]) as tf.Tensor4D;
    const pattern = randomPattern(2, 5, 5, 3);
    await expectNoLeaks(() => {
      const g = tf.grads((a: tf.Tensor) =>
        tf.sum(gatherAttention(a as tf.Tensor4D, q, q, pattern).output),
      )([q]);
      tf.dispose(g);
    });
    q.dispose();
  });
});

const mixers: Record<string, Record<string, unknown>> = {
  's2-attention': { type: 's2-attention', numShards: 3, window: 2 },
  'mixture-of-sparse-attention': {
    type: 'mixture-of-sparse-attention',
    rules: [
      { alpha: 1, beta: 0 },
      { alpha: 2, beta: 0.25 },
      { alpha: 0, beta: 0.5 },
      { alpha: 3, beta: 0.1 },
    ],
    numSinkTokens: 2,
  },
  'core-context-aware': { type: 'core-context-aware', groupSize: 3, window: 2 },
};

const make = (config: Record<string, unknown>, form: string) =>
  build<Mixer>({ dModel: 16, numHeads: 4, ...config, form }, { rng: new Rng(11) });

describe.each(Object.entries(mixers))('%s', (type, config) => {
  it('gather path equals the dense-masked reference: output, input and parameter gradients', () => {
    const sparse = make(config, 'gather');
    const dense = make(config, 'dense');
    const x = randomInput(11, 2);
    const probe = tf.randomNormal([2, 11, 16], 0, 1, 'float32', 9);
    expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(TOL);
    const grads = (m: Mixer) => {
      const f = () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
      const { grads: g } = tf.variableGrads(f);
      const byName = new Map([...m.namedParameters()].map(([n, v]) => [n, g[v.name]!]));
      return {
        dx: tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x),
        byName,
      };
    };
    const gs = grads(sparse);
    const gd = grads(dense);
    expect(maxAbsDiff(gs.dx, gd.dx)).toBeLessThanOrEqual(TOL);
    expect([...gs.byName.keys()]).toEqual([...gd.byName.keys()]);
    for (const [name, g] of gs.byName) {
      expect([name, maxAbsDiff(g, gd.byName.get(name)!) <= TOL]).toEqual([name, true]);
    }
    sparse.dispose();
    dense.dispose();
  });

  it('decodes one token and four at a time as the full forward', () => {
    const m = make(config, 'gather');
    const x = randomInput(10, 4);
    const full = m.forward(x);
    expect(maxAbsDiff(decodeStepwise(m, x, 1), full)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(decodeStepwise(m, x, 4), full)).toBeLessThanOrEqual(TOL);
    m.dispose();
  });

  it(`${type} leaks nothing over forward, backward and decoding`, async () => {
    const m = make(config, 'gather');
    const x = randomInput(7, 5);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads), decodeStepwise(m, x, 2)]);
    });
    m.dispose();
  });
});

describe('the patterns', () => {
  it('s2-attention: heads read strided shards that together cover the context, plus the window', () => {
    const [shards, window, heads] = [3, 2, 4];
    for (let i = 0; i < 20; i++) {
      const seen = new Set<number>();
      for (let h = 0; h < heads; h++) {
        const keys = [...s2Keys(h, i, shards, window)];
        expect(Math.max(...keys)).toBe(i);
        expect(keys.length).toBeLessThanOrEqual(Math.ceil((i + 1) / shards) + window);
        for (const j of keys) if (j <= i - window) expect(j % shards).toBe(h % shards);
        keys.forEach((j) => seen.add(j));
      }
      expect(seen.size).toBe(i + 1);
    }
  });

  it('mixture-of-sparse-attention: the window spans ⌊α + β·N⌋ keys (N = i + 1) plus the sinks', () => {
    const rule = { alpha: 2, beta: 0.5 };
    for (let i = 0; i < 20; i++) {
      const keys = [...moaKeys(rule, i, 3)];
      const width = Math.min(i + 1, Math.floor(2 + 0.5 * (i + 1)));
      expect(elasticSpan(rule, i + 1)).toBe(width);
      const expected = new Set([...Array(Math.min(3, i + 1)).keys()]);
      for (let j = i - width + 1; j <= i; j++) expected.add(j);
      expect(keys.sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
    }
  });

  it('core-context-aware: every earlier token once, pooled in a completed group or as itself', () => {
    const [g, s] = [3, 2];
    for (let i = 0; i < 20; i++) {
      const c = pooledGroups(i, g, s);
      // Pooled groups are complete and end before the window (none pooled early on).
      if (c > 0) expect(c * g - 1).toBeLessThanOrEqual(i - s);
      expect(i - c * g + 1).toBeGreaterThanOrEqual(Math.min(s, i + 1)); // the window is kept
      expect(i - c * g + 1).toBeLessThanOrEqual(s + g - 1);
    }
  });

  it('rejects bad configs with typed errors', () => {
    const bad = [
      { type: 's2-attention', numShards: 5, window: 2 }, // more shards than heads
      { type: 's2-attention', numShards: 2, window: 0 },
      { type: 'mixture-of-sparse-attention', rules: [{ alpha: 1, beta: 0 }] }, // not one per head
      { type: 'mixture-of-sparse-attention', rules: Array(4).fill({ alpha: 1, beta: 2 }) },
      { type: 'core-context-aware', groupSize: 0, window: 2 },
      { type: 'core-context-aware', groupSize: 2, window: 2, form: 'sparse' },
    ];
    for (const config of bad) {
      expect(() => build({ dModel: 16, numHeads: 4, ...config })).toThrow(ConfigError);
    }
  });

  it('rejects x of the wrong width and a foreign state, typed', () => {
    for (const config of Object.values(mixers)) {
      const m = make(config, 'gather');
      const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
      expect(() => m.forward(x)).toThrow(ShapeError);
      const other = make(
        Object.values(mixers).find((c) => c !== config)!,
        'gather',
      );
      const state = other.initState!(1);
      const y = tf.zeros([1, 3, 16]) as tf.Tensor3D;
      if (state.constructor !== m.initState!(1).constructor) {
        expect(() => m.forward(y, { state })).toThrow(ConfigError);
      }
      tf.dispose([x, y]);
      state.dispose();
      m.dispose();
      other.dispose();
    }
  });
});

describe('hepos', () => {
  const makeHepos = (form: string, stride = 3) =>
    build<Mixer>({ type: 'hepos', dModel: 16, numHeads: 4, stride, form }, { rng: new Rng(5) });

  it('gather path equals the dense-masked reference: output, query and memory gradients', () => {
    const sparse = makeHepos('gather');
    const dense = makeHepos('dense');
    const x = randomInput(5, 1);
    const memory = randomInput(11, 2);
    const probe = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 3);
    const f = (m: Mixer) => (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(m.forward(a as tf.Tensor3D, { memory: b as tf.Tensor3D }), probe));
    expect(
      maxAbsDiff(sparse.forward(x, { memory }), dense.forward(x, { memory })),
    ).toBeLessThanOrEqual(TOL);
    const gs = tf.grads(f(sparse))([x, memory]);
    const gd = tf.grads(f(dense))([x, memory]);
    gs.forEach((g, i) => expect(maxAbsDiff(g, gd[i]!)).toBeLessThanOrEqual(TOL));
    sparse.dispose();
    dense.dispose();
  });

  it('heads read strided memory positions that together cover it; a short memory shrinks the stride', () => {
    const seen = new Set<number>();
    for (let h = 0; h < 4; h++) {
      const keys = [...heposKeys(h, 3, 10)];
      keys.forEach((j) => expect(j % 3).toBe(h % 3));
      expect(keys.length).toBeLessThanOrEqual(Math.ceil(10 / 3));
      keys.forEach((j) => seen.add(j));
    }
    expect(seen.size).toBe(10);
    expect([...heposKeys(2, 3, 2)]).toEqual([0]);
    const m = makeHepos('gather');
    const x = randomInput(3, 1);
    const y = m.forward(x, { memory: randomInput(2, 2) });
    expect(Array.from(tf.isFinite(y).dataSync()).every(Boolean)).toBe(true);
    m.dispose();
  });

  it('rejects a missing or mis-shaped memory and a stride above numHeads, typed', () => {
    const m = makeHepos('gather');
    const x = randomInput(3, 1);
    expect(() => m.forward(x)).toThrow(ConfigError);
    expect(() => m.forward(x, { memory: tf.zeros([2, 4, 8]) as tf.Tensor3D })).toThrow(ShapeError);
    expect(() => makeHepos('gather', 5)).toThrow(ConfigError);
    m.dispose();
  });

  it('leaks nothing', async () => {
    const m = makeHepos('gather');
    const x = randomInput(4, 1);
    const memory = randomInput(6, 2);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(m.forward(x, { memory })) as tf.Scalar,
      );
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  });
});

describe('profileElasticRules (MoA search, greedy)', () => {
  const n = 12;
  // Head 0's influence sits on the diagonal (local), head 1's on the first token (long range).
  const makeInfluence = () =>
    tf.tensor3d(
      Array.from({ length: 2 * n * n }, (_, k) => {
        const [h, i, j] = [Math.floor(k / (n * n)), Math.floor(k / n) % n, k % n];
        if (j > i) return 0;
        return h === 0 ? (i - j < 2 ? 1 : 0.01) : j === 0 ? 1 : 0.01;
      }),
      [2, n, n],
    );
  const local = { alpha: 2, beta: 0 };
  const wide = { alpha: 0, beta: 1 };

  it('gives the dense rule to the head whose influence is far, within the budget', () => {
    const influence = makeInfluence();
    const localDensity =
      [...Array(n).keys()].reduce((s, i) => s + elasticSpan(local, i + 1), 0) / ((n * (n + 1)) / 2);
    const profile = profileElasticRules(influence, [local, wide], {
      budget: (localDensity + 1) / 2,
    });
    expect(profile.rules).toEqual([local, wide]);
    expect(profile.density).toBeCloseTo((localDensity + 1) / 2, 10);
    const tight = profileElasticRules(influence, [local, wide], { budget: localDensity });
    expect(tight.rules).toEqual([local, local]);
    expect(tight.loss).toBeGreaterThan(profile.loss);
    influence.dispose();
  });

  it('rejects a budget below the sparsest candidate and bad shapes, typed', () => {
    const influence = makeInfluence();
    expect(() => profileElasticRules(influence, [local, wide], { budget: 0.01 })).toThrow(
      ConfigError,
    );
    expect(() => profileElasticRules(influence, [], { budget: 0.5 })).toThrow(ConfigError);
    const bad = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    expect(() => profileElasticRules(bad, [local], { budget: 0.5 })).toThrow(ShapeError);
    tf.dispose([bad, influence]);
  });
});
