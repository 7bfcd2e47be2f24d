import * as tf from '@tensorflow/tfjs-core';
import { AuxLosses, ConfigError, Rng, build } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { MoE, type MoEConfig } from '@attnkit/routing';
import { fixture, randn } from './helpers';

interface MoEFixture {
  config: MoEConfig;
  x: number[][][];
  params: Record<string, number[][]>;
  output: number[][][];
  indices: number[][];
  droppedAssignments: number;
  loadBalance: number;
  zLoss: number;
  objectiveWeights: number[][][];
  gradX: number[][][];
  gradParams: Record<string, number[][]>;
}

const golden = fixture<MoEFixture>('moe.json');

const small: MoEConfig = {
  type: 'moe',
  dim: 6,
  numExperts: 4,
  topK: 2,
  expert: { type: 'mlp', hiddenDim: 8 },
};

/** Two MoEs with the same weights, one per dispatch. */
function pair(config: MoEConfig): [MoE, MoE] {
  const sparse = new MoE({ ...config, dispatch: 'sparse' }, { rng: new Rng(3) });
  const dense = new MoE({ ...config, dispatch: 'dense' }, { rng: new Rng(4) });
  dense.loadStateDict(sparse.stateDict());
  return [sparse, dense];
}

describe('MoE', () => {
  it('matches the PyTorch reference (output, aux losses, gradients)', () => {
    const moe = build<MoE>(golden.config);
    const state = Object.fromEntries(
      Object.entries(golden.params).map(([k, v]) => [k, tf.tensor2d(v)]),
    );
    moe.loadStateDict(state);
    const x = tf.tensor3d(golden.x);
    const r = tf.tensor3d(golden.objectiveWeights);
    const aux = new AuxLosses();
    const y = moe.forward(x, { aux });
    expectClose(y, golden.output, { atol: 1e-5 });
    expect(aux.values()['moe.load_balance']! / 0.01).toBeCloseTo(golden.loadBalance, 5);
    expect(aux.values()['moe.z_loss']! / 0.001).toBeCloseTo(golden.zLoss, 5);
    expect(moe.lastStats!.droppedAssignments).toBe(golden.droppedAssignments);
    const names = Object.keys(golden.params).sort();
    const params = moe.namedParameters();
    const f = (xi: tf.Tensor) => {
      const a = new AuxLosses();
      const out = tf.add(tf.sum(tf.mul(moe.forward(xi, { aux: a }), r)), a.total());
      a.dispose();
      return out as tf.Scalar;
    };
    const gx = tf.grad(f)(x);
    expectClose(gx, golden.gradX, { atol: 1e-4, rtol: 1e-4 });
    const { value, grads } = tf.variableGrads(
      () => f(x),
      names.map((n) => params.get(n)!),
    );
    for (const n of names) {
      expectClose(grads[params.get(n)!.name]!, golden.gradParams[n]!, { atol: 1e-4, rtol: 1e-4 });
    }
    tf.dispose([x, r, y, gx, value, ...Object.values(state)]);
    tf.dispose(grads);
    aux.dispose();
    moe.dispose();
  });

  it.each([
    ['top-2 mlp', small],
    [
      'top-1 swiglu, capacity 0.5, 2 shared',
      {
        ...small,
        topK: 1,
        capacityFactor: 0.5,
        numSharedExperts: 2,
        expert: { type: 'swiglu', hiddenDim: 4 },
      },
    ],
    [
      'sigmoid top-3, fine-grained 8 experts',
      {
        ...small,
        numExperts: 8,
        topK: 3,
        router: { type: 'topk-router', scoring: 'sigmoid' },
      },
    ],
    ['expert choice', { ...small, router: { type: 'expert-choice-router' } }],
    [
      'similarity, capacity 1',
      { ...small, capacityFactor: 1, router: { type: 'similarity-router' } },
    ],
    ['dense softmax router', { ...small, router: { type: 'dense-router', weighting: 'softmax' } }],
  ] as [string, MoEConfig][])('sparse dispatch equals the dense reference: %s', (_n, config) => {
    const [sparse, dense] = pair(config);
    const x = randn([2, 5, 6], 11);
    const ys = sparse.forward(x);
    const yd = dense.forward(x);
    expect(maxAbsDiff(ys, yd)).toBeLessThan(1e-5);
    expect(sparse.lastStats).toEqual(dense.lastStats);
    const loss = (m: MoE) => () => tf.sum(tf.square(m.forward(x))) as tf.Scalar;
    const gs = tf.variableGrads(loss(sparse));
    const gd = tf.variableGrads(loss(dense));
    const sp = sparse.namedParameters();
    const dp = dense.namedParameters();
    for (const [name, v] of sp) {
      const a = gs.grads[v.name];
      const b = gd.grads[dp.get(name)!.name];
      if (!a || !b) {
        // an expert that got no token is outside the sparse tape; the dense one gets zeros
        if (b) expect(tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0])).toBe(0);
        continue;
      }
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    }
    const gxs = tf.grad((t: tf.Tensor) => tf.sum(tf.square(sparse.forward(t))))(x);
    const gxd = tf.grad((t: tf.Tensor) => tf.sum(tf.square(dense.forward(t))))(x);
    expect(maxAbsDiff(gxs, gxd)).toBeLessThan(1e-5);
    tf.dispose([x, ys, yd, gs.value, gd.value, gxs, gxd]);
    tf.dispose(gs.grads);
    tf.dispose(gd.grads);
    sparse.dispose();
    dense.dispose();
  });

  it('runs only the selected tokens through each expert', () => {
    const moe = new MoE(small, { rng: new Rng(1) });
    const seen: number[] = [];
    moe.experts.items.forEach((e) => {
      const original = e.forward.bind(e);
      e.forward = (t: tf.Tensor) => {
        seen.push(t.shape[0]!);
        return original(t);
      };
    });
    const x = randn([1, 6, 6], 2);
    tf.dispose([moe.forward(x), x]);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(6 * 2);
    expect(seen).toEqual(moe.lastStats!.load.filter((l) => l > 0));
    moe.dispose();
  });

  it('routes token by token exactly as the full sequence without a capacity limit', () => {
    const moe = new MoE({ ...small, numSharedExperts: 1 }, { rng: new Rng(8) });
    const x = randn([1, 5, 6], 6);
    const full = moe.forward(x);
    const steps = tf.tidy(() =>
      tf.concat(
        Array.from({ length: 5 }, (_, t) => moe.forward(tf.slice(x, [0, t, 0], [1, 1, 6]))),
        1,
      ),
    );
    expect(maxAbsDiff(full, steps)).toBeLessThan(1e-6);
    tf.dispose([x, full, steps]);
    moe.dispose();
  });

  it('passes dropped tokens through as zero and reports them', () => {
    const moe = new MoE({ ...small, topK: 1, capacityFactor: 0.25 }, { rng: new Rng(5) });
    const x = randn([1, 8, 6], 3);
    const y = moe.forward(x);
    const stats = moe.lastStats!;
    expect(stats.capacity).toBe(1);
    expect(stats.droppedAssignments).toBe(8 - stats.load.reduce((a, b) => a + b, 0));
    expect(stats.droppedTokens).toBeGreaterThan(0);
    const norms = tf.tidy(() => Array.from(tf.sum(tf.abs(y), -1).dataSync()));
    expect(norms.filter((n) => n === 0).length).toBe(stats.droppedTokens);
    tf.dispose([x, y]);
    moe.dispose();
  });

  it('disables, forces and reweights experts at run time', () => {
    const moe = new MoE(small, { rng: new Rng(6) });
    const x = randn([1, 6, 6], 4);
    moe.setExpertControl({ disabled: [0, 1] });
    tf.dispose(moe.forward(x));
    expect(moe.lastStats!.load.slice(0, 2)).toEqual([0, 0]);
    moe.setExpertControl({ forced: [3] });
    tf.dispose(moe.forward(x));
    expect(moe.lastStats!.load[3]).toBe(6);
    moe.setExpertControl({ weights: [0, 0, 0, 0] });
    const zero = moe.forward(x);
    expect(maxAbsDiff(zero, tf.zerosLike(zero))).toBe(0);
    moe.setExpertControl(null);
    expect(() => moe.setExpertControl({ disabled: [4] })).toThrow(
      'moe: control.disabled expected experts in [0, 4), got 4',
    );
    expect(() => moe.setExpertControl({ weights: [1] })).toThrow(ConfigError);
    tf.dispose([x, zero]);
    moe.dispose();
  });

  it('accepts any [..., dim] input and works as a feed-forward slot', () => {
    const moe = build<MoE>({ ...small, numSharedExperts: 1 });
    const x2 = randn([5, 6], 1);
    const y2 = moe.forward(x2);
    expect(y2.shape).toEqual([5, 6]);
    expect(moe.numParams()).toBeGreaterThan(0);
    expect([...moe.namedParameters().keys()]).toEqual(
      expect.arrayContaining(['experts.3.up.weight', 'shared.0.down.bias', 'router.gate.weight']),
    );
    tf.dispose([x2, y2]);
    moe.dispose();
  });

  it('rejects bad configs with clear errors', () => {
    expect(() => build({ ...small, topK: 5 })).toThrow(
      'moe: topK expected an integer <= numExperts (4), got 5',
    );
    expect(() => build({ ...small, numExperts: 0 })).toThrow(ConfigError);
    expect(() => new MoE({ ...small, numExperts: 0 })).toThrow(
      'moe: numExperts expected an integer >= 1, got 0',
    );
    expect(() => new MoE({ ...small, capacityFactor: 0 })).toThrow(
      'moe: capacityFactor expected a finite number > 0, got 0',
    );
    expect(() => build({ ...small, capacityFactor: -1 })).toThrow(ConfigError);
    expect(() => build({ ...small, expert: { type: 'mlp', hiddenDim: 4, dropuot: 0.1 } })).toThrow(
      /\$\.expert.*unknown option 'dropuot'/,
    );
    // @ts-expect-error a misspelt nested option fails to compile too (core's typed build)
    expect(() => build({ ...small, router: { type: 'topk-router', scorng: 'x' } })).toThrow(
      /\$\.router.*unknown option 'scorng'/,
    );
    // the experts exist by the time the router's config fails: nothing of them is left
    const liveBefore = tf.memory().numTensors;
    expect(() => new MoE({ ...small, router: { type: 'topk-router', scorng: 'x' } })).toThrow(
      /unknown option 'scorng'/,
    );
    expect(tf.memory().numTensors).toBe(liveBefore);
    const moe = new MoE(small);
    const bad = tf.zeros([2, 5]);
    expect(() => moe.forward(bad)).toThrow('moe: x expected last axis 6, got shape [2,5]');
    bad.dispose();
    moe.dispose();
  });

  it.each(['sparse', 'dense'] as const)(
    'leaks no tensors (%s dispatch, aux, backward)',
    async (dispatch) => {
      await expectNoLeaks(() => {
        const moe = new MoE({ ...small, dispatch, numSharedExperts: 1, capacityFactor: 0.5 });
        const x = randn([2, 3, 6], 9);
        const aux = new AuxLosses();
        tf.dispose(moe.forward(x, { aux }));
        aux.dispose();
        const { value, grads } = tf.variableGrads(() => {
          const a = new AuxLosses();
          const loss = tf.add(tf.sum(moe.forward(x, { aux: a })), a.total()) as tf.Scalar;
          a.dispose();
          return loss;
        });
        tf.dispose([x, value]);
        tf.dispose(grads);
        moe.dispose();
      });
    },
  );
});
