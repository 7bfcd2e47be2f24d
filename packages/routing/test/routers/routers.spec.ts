import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, build } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  DenseRouter,
  ExpertChoiceRouter,
  NoisyTopKRouter,
  type RouteOptions,
  type Router,
  SimilarityRouter,
  TopKRouter,
  loadBalanceLoss,
  routerZLoss,
} from '@attnkit/routing';
import { randn } from '../helpers';

const base = { dim: 4, numExperts: 4, topK: 2 };
const makers: [string, () => Router][] = [
  ['topk-router', () => new TopKRouter({ ...base, capacityFactor: 1 })],
  ['topk-router (sigmoid)', () => new TopKRouter({ ...base, scoring: 'sigmoid' })],
  ['noisy-topk-router', () => new NoisyTopKRouter(base)],
  ['expert-choice-router', () => new ExpertChoiceRouter(base)],
  ['similarity-router', () => new SimilarityRouter({ ...base, temperature: 2 })],
  ['dense-router', () => new DenseRouter({ dim: 4, numExperts: 4, weighting: 'softmax' })],
];

function dispose(out: ReturnType<Router['route']>): void {
  tf.dispose([out.indices, out.gates, out.mask, out.probs, ...(out.logits ? [out.logits] : [])]);
}

describe.each(makers)('%s', (_name, make) => {
  it('returns int32 indices and gates [tokens, slots]; gradients reach the router', () => {
    const router = make();
    const x = randn([6, 4], 3) as tf.Tensor2D;
    const out = router.route(x, { groups: 2 });
    expect(out.indices.shape).toEqual([6, router.slots]);
    expect(out.indices.dtype).toBe('int32');
    expect(out.gates.shape).toEqual([6, router.slots]);
    expect(out.probs.shape).toEqual([6, 4]);
    expect(out.stats.load.reduce((a, b) => a + b, 0)).toBe(
      tf.tidy(() => tf.sum(out.mask).dataSync()[0]),
    );
    const { value, grads } = tf.variableGrads(() =>
      tf.sum(tf.square(router.route(x, { groups: 2 }).gates)),
    );
    const norm = tf.tidy(
      () => tf.addN(Object.values(grads).map((g) => tf.sum(tf.abs(g)))).dataSync()[0]!,
    );
    expect(norm).toBeGreaterThan(0);
    dispose(out);
    tf.dispose([x, value]);
    tf.dispose(grads);
    router.dispose();
  });

  it('leaks no tensors (route, losses, backward, dispose)', async () => {
    await expectNoLeaks(() => {
      const router = make();
      const x = randn([6, 4], 5) as tf.Tensor2D;
      dispose(router.route(x, { training: true }));
      const { value, grads } = tf.variableGrads(() => {
        const o = router.route(x, { training: true });
        const lb = loadBalanceLoss(o.probs, o.stats.demand);
        return tf.addN([
          tf.sum(o.gates),
          lb,
          ...(o.logits ? [routerZLoss(o.logits)] : []),
        ]) as tf.Scalar;
      });
      tf.dispose([x, value]);
      tf.dispose(grads);
      router.dispose();
    });
  });

  it('rejects an input of the wrong width', () => {
    const router = make();
    const x = tf.zeros([3, 5]) as tf.Tensor2D;
    expect(() => router.route(x)).toThrow(`${router.blockName}: x expected last axis 4`);
    x.dispose();
    router.dispose();
  });
});

describe('router configs', () => {
  it.each(['topk-router', 'noisy-topk-router', 'similarity-router'])(
    '%s: topK > numExperts, zero experts and capacity <= 0 are clear errors',
    (type) => {
      expect(() => build({ type, dim: 4, numExperts: 2, topK: 3 })).toThrow(
        `${type}: topK expected an integer <= numExperts (2), got 3`,
      );
      expect(() => build({ type, dim: 4, numExperts: 0 })).toThrow(ConfigError);
      expect(() => build({ type, dim: 4, numExperts: 2, capacityFactor: 0 })).toThrow(
        /capacityFactor expected a value > 0, got 0/,
      );
      expect(() => build({ type, dim: 4, numExperts: 2, topk: 1 })).toThrow(
        /unknown option 'topk'/,
      );
    },
  );

  it('expert-choice and dense routers: zero experts, topK > numExperts, capacity <= 0', () => {
    for (const type of ['expert-choice-router', 'dense-router']) {
      expect(() => build({ type, dim: 4, numExperts: 0 })).toThrow(
        /numExperts expected a value > 0, got 0/,
      );
    }
    expect(() => build({ type: 'expert-choice-router', dim: 4, numExperts: 2, topK: 3 })).toThrow(
      'expert-choice-router: topK expected an integer <= numExperts (2), got 3',
    );
    expect(() =>
      build({ type: 'expert-choice-router', dim: 4, numExperts: 2, capacityFactor: 0 }),
    ).toThrow(/capacityFactor expected a value > 0, got 0/);
    expect(() => new DenseRouter({ dim: 4, numExperts: 0 })).toThrow(
      'dense-router: numExperts expected an integer >= 1, got 0',
    );
  });

  it('direct construction checks the same numbers', () => {
    expect(() => new TopKRouter({ dim: 4, numExperts: 0 })).toThrow(
      'topk-router: numExperts expected an integer >= 1, got 0',
    );
    expect(() => new ExpertChoiceRouter({ dim: 4, numExperts: 2, capacityFactor: -1 })).toThrow(
      'expert-choice-router: capacityFactor expected a finite number > 0, got -1',
    );
  });
});

describe('noisy top-k', () => {
  it('adds noise only in training, seeded by the module Rng', () => {
    const make = () => new NoisyTopKRouter({ dim: 4, numExperts: 6, topK: 2 }, { rng: new Rng(1) });
    const a = make();
    const b = make();
    // make the noise scale non-zero (W_noise starts at zero as in the paper)
    for (const r of [a, b]) r.noiseGate.weight.assign(tf.fill([4, 6], 2));
    const x = randn([16, 4], 2) as tf.Tensor2D;
    const run = (r: Router, o: RouteOptions) => {
      const out = r.route(x, o);
      const g = Array.from(out.gates.dataSync());
      dispose(out);
      return g;
    };
    const clean = run(a, { training: false });
    expect(run(a, { training: false })).toEqual(clean);
    const noisyA = run(a, { training: true });
    expect(noisyA).not.toEqual(clean);
    expect(run(b, { training: true })).toEqual(noisyA); // same seed, same noise
    const noise = tf.zeros([16, 6]) as tf.Tensor2D;
    expect(maxAbsDiff(run(a, { training: true, noise }), clean)).toBeLessThan(1e-6);
    expect(() => a.route(x, { training: true, noise: tf.zeros([2, 2]) as tf.Tensor2D })).toThrow(
      'noisy-topk-router: noise expected shape [16,6], got shape [2,2]',
    );
    tf.dispose([x, noise]);
    a.dispose();
    b.dispose();
  });
});

describe('expert choice and dense controls', () => {
  it('expert choice: disabled experts take no token, forced ones take all', () => {
    const router = new ExpertChoiceRouter({ dim: 4, numExperts: 4, capacityFactor: 1 });
    const x = randn([8, 4], 4) as tf.Tensor2D;
    const out = router.route(x, { control: { disabled: [0], forced: [1] } });
    expect(out.stats.load).toEqual([0, 8, 2, 2]);
    expect(out.stats.capacity).toBe(2);
    dispose(out);
    x.dispose();
    router.dispose();
  });

  it('dense uniform: gates 1/E, reweighted by the control, no parameters', () => {
    const router = new DenseRouter({ dim: 4, numExperts: 2 });
    expect(router.numParams()).toBe(0);
    const x = randn([3, 4], 4) as tf.Tensor2D;
    const out = router.route(x, { control: { weights: [2, 0] } });
    expect(Array.from(out.gates.dataSync())).toEqual([1, 0, 1, 0, 1, 0]);
    expect(out.logits).toBeNull();
    dispose(out);
    x.dispose();
    router.dispose();
  });
});

describe('similarity routing', () => {
  it('is causal when asked: a token ignores later tokens of its sequence', () => {
    const router = new SimilarityRouter({ dim: 4, numExperts: 4, topK: 2 }, { rng: new Rng(2) });
    const x = randn([6, 4], 8) as tf.Tensor2D;
    const changed = tf.tidy(() =>
      tf.concat([tf.slice(x, [0, 0], [5, 4]), tf.fill([1, 4], 3)]),
    ) as tf.Tensor2D;
    const a = router.route(x, { causal: true });
    const b = router.route(changed, { causal: true });
    const head = (t: tf.Tensor2D) => tf.tidy(() => tf.slice(t, [0, 0], [5, 4]));
    const [pa, pb] = [head(a.probs), head(b.probs)];
    expect(maxAbsDiff(pa, pb)).toBe(0);
    expect(() => router.route(x, { groups: 4 })).toThrow(
      'similarity-router: groups expected a divisor of the token count 6, got 4',
    );
    tf.dispose([x, changed, pa, pb]);
    dispose(a);
    dispose(b);
    router.dispose();
  });
});

describe('aux-loss-free balance bias (DeepSeek-V3)', () => {
  it('biases selection only, and the update lowers overloaded experts', () => {
    const router = new TopKRouter(
      { dim: 4, numExperts: 4, topK: 1, scoring: 'sigmoid', balanceBias: true },
      { rng: new Rng(3) },
    );
    expect(router.trainableParameters().length).toBe(1);
    const x = randn([8, 4], 1) as tf.Tensor2D;
    const before = router.route(x);
    router.balanceBias!.assign(tf.tensor1d([0, 0, 5, 0]));
    const after = router.route(x);
    expect(Array.from(after.indices.dataSync())).toEqual(new Array(8).fill(2));
    expect(Array.from(after.gates.dataSync())).toEqual(new Array(8).fill(1)); // k=1, normalised
    router.updateBalanceBias(after.stats.demand, 0.5);
    expect(Array.from(router.balanceBias!.dataSync())).toEqual([0.5, 0.5, 4.5, 0.5]);
    expect(() => new TopKRouter(base).updateBalanceBias([1, 1, 1, 1])).toThrow(
      'topk-router: balanceBias expected true to update the bias, got false',
    );
    dispose(before);
    dispose(after);
    x.dispose();
    router.dispose();
  });
});
