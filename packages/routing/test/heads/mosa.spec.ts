import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, build, type IncrementalState } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import type { MultiHeadAttention } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { MoSAAttention, type MoSAConfig, selectTokens } from '@attnkit/routing';
import { fixture, randn, testRope } from '../helpers';

interface MoSAFixture {
  config: MoSAConfig;
  x: number[][][];
  params: Record<string, number[][]>;
  y: number[][][];
  picked: number[][];
  objectiveWeights: number[][][];
  gradX: number[][][];
  grads: Record<string, number[][]>;
}

const golden = fixture<MoSAFixture>('mosa.json');
const base = { type: 'mosa', dModel: 12, numHeads: 3, sparsity: 2 } as const;
const make = (config: Partial<MoSAConfig> = {}, seed = 3) =>
  build<MoSAAttention>({ ...base, ...config }, { rng: new Rng(seed) });
const input = (t = 6, seed = 1) => randn([2, t, 12], seed) as tf.Tensor3D;

describe('mosa (Mixture of Sparse Attention)', () => {
  it('matches the PyTorch reference (chosen tokens, outputs, gradients; RoPE)', () => {
    const m = build<MoSAAttention>(golden.config);
    const state = Object.fromEntries(
      Object.entries(golden.params).map(([k, v]) => [k, tf.tensor2d(v)]),
    );
    m.loadStateDict(state);
    const x = tf.tensor3d(golden.x);
    const w = tf.tensor3d(golden.objectiveWeights);
    const context = { positional: testRope };
    const y = m.forward(x, context);
    expectClose(y, golden.y, { atol: 1e-5 });
    const scores = tf.tidy(() => tf.sigmoid(m.router.forward(x)));
    const [b, t] = x.shape;
    const chosen = Array.from(selectTokens(scores.dataSync(), b, t, 3, 4, false));
    expect(chosen).toEqual(golden.picked.flat());
    const loss = (input: tf.Tensor3D) => tf.sum(tf.mul(m.forward(input, context), w)) as tf.Scalar;
    const gradX = tf.grad((input: tf.Tensor) => loss(input as tf.Tensor3D))(x);
    expectClose(gradX, golden.gradX, { atol: 1e-4, rtol: 1e-4 });
    const params = m.namedParameters();
    const { value, grads } = tf.variableGrads(() => loss(x));
    for (const [name, expected] of Object.entries(golden.grads)) {
      expectClose(grads[params.get(name)!.name]!, expected, { atol: 1e-4, rtol: 1e-4 });
    }
    tf.dispose([x, w, y, scores, gradX, value, grads, ...Object.values(state)]);
    m.dispose();
  });

  it('with sparsity 1 and a zero router it is half of causal MHA with the same weights', () => {
    const mha = build<MultiHeadAttention>({ type: 'mha', dModel: 12, numHeads: 3 });
    const m = make({ sparsity: 1 });
    m.loadStateDict({ ...mha.stateDict(), 'router.weight': tf.zeros([12, 3]) });
    const x = input(5);
    const context = { positional: testRope };
    expectClose(m.forward(x, context), tf.mul(mha.forward(x, context), 0.5), { atol: 1e-5 });
    expect(m.lastStats).toEqual({ k: 5, coverage: 1 });
    // segment ids keep attention within each segment
    const bidirectional = make({ sparsity: 1, causal: false });
    bidirectional.loadStateDict({ ...m.stateDict() });
    const segmentIds = tf.tensor2d([0, 0, 0, 1, 1, 0, 0, 0, 1, 1], [2, 5], 'int32');
    const whole = bidirectional.forward(x, { segmentIds });
    const head = bidirectional.forward(tf.slice(x, [0, 0, 0], [-1, 3, -1]) as tf.Tensor3D);
    expectClose(tf.slice(whole, [0, 0, 0], [-1, 3, -1]), head, { atol: 1e-5 });
    [mha, m, bidirectional].forEach((module) => module.dispose());
  });

  it('each head takes ceil(T/ρ) tokens in order; includeFirst always takes token 0', () => {
    // scores [batch 1, time 5, heads 2]
    const scores = [0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.95, 0.6, 0.1, 0.9];
    expect(Array.from(selectTokens(scores, 1, 5, 2, 2, false))).toEqual([0, 3, 1, 4]);
    expect(Array.from(selectTokens(scores, 1, 5, 2, 2, true))).toEqual([0, 3, 0, 4]);
    // ties: the earlier token
    expect(Array.from(selectTokens([0.5, 0.5, 0.5], 1, 3, 1, 2, false))).toEqual([0, 1]);
    const m = make({ sparsity: 3 });
    expect(m.tokensPerHead(7)).toBe(3);
    expect(m.tokensPerHead(2)).toBe(1);
    m.dispose();
  });

  it('has gradients for every parameter, the router included', () => {
    const m = make();
    const x = input();
    const { grads, value } = tf.variableGrads(
      () => tf.sum(tf.square(m.forward(x, { positional: testRope }))) as tf.Scalar,
    );
    for (const [name, v] of m.namedParameters()) {
      const g = grads[v.name];
      expect([name, g !== undefined && tf.max(tf.abs(g)).dataSync()[0]! > 0]).toEqual([name, true]);
    }
    tf.dispose([x, value, grads]);
    m.dispose();
  });

  it('rejects bad configs and contexts with clear errors', () => {
    expect(() => make({ sparsity: 0.5 })).toThrow(/sparsity expected a value >= 1/);
    expect(() => new MoSAAttention({ ...base, numHeads: 0 })).toThrow(
      'mosa: numHeads expected an integer >= 1, got 0',
    );
    expect(() => make({ numHeads: 5 })).toThrow(/numHeads expected a divisor of dModel=12/);
    expect(() => build<Module>({ ...base, topK: 2 })).toThrow(/unknown option 'topK'/);
    const m = make();
    const x = input(3);
    expect(() =>
      m.forward(x, { state: { length: 0, dispose() {} } as unknown as IncrementalState }),
    ).toThrow(/mosa: context.state expected not set/);
    expect(() => m.forward(x, { mask: tf.ones([1, 1, 3, 3]) })).toThrow(ConfigError);
    const bias = () => tf.zeros([3, 3]);
    expect(() => m.forward(x, { positional: { kind: 'bias', bias } })).toThrow(
      /context.positional expected a rotary/,
    );
    expect(() => m.forward(tf.zeros([1, 3, 4]) as tf.Tensor3D)).toThrow(/last axis dModel=12/);
    expect((m as { initState?: unknown }).initState).toBeUndefined();
    m.dispose();
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = make({ includeFirst: true });
      const x = input(5);
      const segmentIds = tf.tensor2d([0, 0, 1, 1, 1, 0, 0, 0, 1, 1], [2, 5], 'int32');
      const { value, grads } = tf.variableGrads(
        () => tf.sum(m.forward(x, { positional: testRope, segmentIds })) as tf.Scalar,
      );
      tf.dispose([x, segmentIds, value, grads]);
      m.dispose();
    });
  });
});
