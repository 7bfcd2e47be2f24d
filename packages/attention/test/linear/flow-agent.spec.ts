import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  build,
  estimateConfig,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { FlowState, flowAttention, makeFeatureMap } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff, mixerContract } from '@attnkit/core/testing';

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  shapes: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/flow-agent.json'), 'utf8'),
) as { cases: Case[] };

type Mixer = Module & TokenMixer;

function load(c: Case, extra: object = {}): Mixer {
  const m = build<Mixer>({ ...c.config, ...extra });
  m.loadStateDict(
    Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w, c.shapes[n])])),
  );
  return m;
}

const gradOf = (m: Mixer, x: tf.Tensor3D, probe: tf.Tensor3D) =>
  tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(x);

const weightGrads = (m: Mixer, x: tf.Tensor3D, probe: tf.Tensor3D) =>
  tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar).grads;

/** Decoding `step` tokens at a time through a FlowState. */
function decode(m: Mixer, x: tf.Tensor3D, step: number): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const state = m.initState!(b);
  const outs: tf.Tensor3D[] = [];
  for (let i = 0; i < t; i += step) {
    const n = Math.min(step, t - i);
    outs.push(m.forward(tf.slice(x, [0, i, 0], [b, n, d]), { state }));
  }
  state.dispose();
  return tf.concat(outs, 1);
}

describe('flowformer and agent-attention: golden values from the PyTorch reference', () => {
  const variants = (c: Case): [string, object][] =>
    c.config.type === 'flowformer'
      ? [
          ['chunk, chunkSize 3', { chunkSize: 3 }],
          ['parallel', { form: 'parallel' }],
        ]
      : [['(its one form)', {}]];
  for (const c of fixture.cases) {
    it.each(variants(c))(
      `${c.name} %s: output and input gradient match (float64 reference, plain loops)`,
      (_n, extra) => {
        const m = load(c, extra);
        const x = tf.tensor3d(c.x, c.shape);
        const probe = tf.tensor3d(c.probe, c.shape);
        expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
        expectClose(gradOf(m, x, probe), tf.tensor3d(c.gradX, c.shape), {
          atol: 3e-5,
          rtol: 1e-4,
        });
        expect(estimateConfig(c.config)!.parameters).toBe(m.numParams());
        m.dispose();
      },
    );
  }

  it('flowformer causal: token-by-token decoding reproduces the reference output', () => {
    const c = fixture.cases.find((k) => k.name === 'flowformer causal')!;
    const m = load(c);
    expectClose(decode(m, tf.tensor3d(c.x, c.shape), 1), tf.tensor3d(c.y, c.shape), {
      atol: 3e-5,
      rtol: 1e-4,
    });
    m.dispose();
  });
});

describe('flowformer (Wu et al. 2022)', () => {
  const x = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
  const probe = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
  const make = (extra: object) =>
    build<Mixer>({ type: 'flowformer', dModel: 8, numHeads: 2, numKvHeads: 1, ...extra });

  it.each([
    ['causal', true],
    ['bidirectional', false],
  ])(
    '%s: parallel == chunk (causal: == recurrent, 1 and 3 tokens a step): outputs, input and weight gradients <= 1e-4',
    (_n, causal) => {
      const chunk = make({ causal, chunkSize: 4 });
      const parallel = make({ causal, form: 'parallel' });
      parallel.loadStateDict(chunk.stateDict());
      const full = parallel.forward(x);
      expect(maxAbsDiff(chunk.forward(x), full)).toBeLessThanOrEqual(1e-4);
      if (causal) {
        for (const step of [1, 3]) {
          expect(maxAbsDiff(decode(chunk, x, step), full)).toBeLessThanOrEqual(1e-4);
        }
      }
      expect(maxAbsDiff(gradOf(chunk, x, probe), gradOf(parallel, x, probe))).toBeLessThanOrEqual(
        1e-4,
      );
      const [gc, gp] = [weightGrads(chunk, x, probe), weightGrads(parallel, x, probe)];
      const [vc, vp] = [Object.values(gc), Object.values(gp)];
      expect(vc.length).toBe(4);
      vc.forEach((g, i) => expect(maxAbsDiff(g, vp[i]!)).toBeLessThanOrEqual(1e-4));
      chunk.dispose();
      parallel.dispose();
    },
  );

  it('decoding carries the five flow sums, constant in size; the state refuses the encoder form', () => {
    const m = make({ numKvHeads: 2 });
    const state = m.initState!(2) as FlowState;
    m.forward(tf.slice(x, [0, 0, 0], [2, 3, 8]), { state });
    const shapes = Object.fromEntries(
      Object.entries(state.tensors()).map(([n, t]) => [n, t.shape]),
    );
    expect(shapes).toEqual({
      queries: [2, 2, 4, 1],
      keys: [2, 2, 4, 2],
      sinks: [2, 2, 4, 1],
      competition: [2, 2, 1, 1],
      kv: [2, 2, 4, 4],
    });
    const bytes = state.bytes;
    m.forward(tf.slice(x, [0, 3, 0], [2, 5, 8]), { state });
    expect(state.bytes).toBe(bytes);
    expect(state.length).toBe(8);
    expect(() => m.forward(tf.slice(x, [0, 8, 0], [2, 1, 8]), { state, causal: false })).toThrow(
      /^flowformer: context\.state expected no state with causal: false/,
    );
    state.dispose();
    m.dispose();
  });

  it("the bidirectional competition spans every position: a late token moves early outputs; causal, it doesn't", () => {
    const later = tf.concat([tf.slice(x, [0, 0, 0], [2, 10, 8]), tf.ones([2, 1, 8])], 1);
    const head = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [2, 10, 8]);
    for (const causal of [true, false]) {
      const m = make({ causal });
      const moved = maxAbsDiff(head(m.forward(x)), head(m.forward(later as tf.Tensor3D)));
      if (causal) expect(moved).toBe(0);
      else expect(moved).toBeGreaterThan(1e-4);
      m.dispose();
    }
  });

  it('flowAttention refuses mismatched heads, eps <= 0 and a state in the bidirectional form', () => {
    const q = tf.ones([1, 2, 3, 4]) as tf.Tensor4D;
    const base = { causal: true, form: 'chunk', eps: 1e-6 } as const;
    expect(() => flowAttention(q, tf.ones([1, 2, 3, 5]) as tf.Tensor4D, q, base)).toThrow(
      /^flowAttention: fk expected shape \[1,2,3,4\]/,
    );
    expect(() => flowAttention(q, q, q, { ...base, eps: 0 })).toThrow(/^flowAttention: eps/);
    const { state } = flowAttention(q, q, q, base);
    expect(() => flowAttention(q, q, q, { ...base, causal: false, initialState: state })).toThrow(
      /^flowAttention: initialState expected none with causal: false/,
    );
    tf.dispose(Object.values(state));
  });

  it("registers the paper's φ as the 'sigmoid' feature map", () => {
    const phi = makeFeatureMap('sigmoid', { headDim: 3 });
    const v = tf.tensor2d([[-2, 0, 5]]);
    expectClose(phi.apply(v, 'query'), tf.sigmoid(v));
    expect(() => phi.apply(tf.zeros([1, 4]), 'key')).toThrow(ShapeError);
    expect(() => makeFeatureMap('sigmoid', { headDim: 3, numFeatures: 2 })).toThrow(ConfigError);
  });

  it('declares encoder use truthfully and refuses bad configs before allocating', async () => {
    const encoder = make({ causal: false });
    expect(encoder.capabilities).toMatchObject({ causal: 'never', decoding: false });
    expect(make({}).capabilities).toMatchObject({
      causal: 'either',
      decoding: true,
      stateGrowth: 'constant',
      strictlyCausal: true,
    });
    encoder.dispose();
    await expectNoLeaks(() => {
      expect(() => make({ featureMap: 'nope' })).toThrow(/featureMap/);
      expect(() => make({ eps: 0 })).toThrow(ConfigError);
      expect(() => make({ numHeads: 3 })).toThrow(/numHeads/);
      expect(() => make({ window: 2 })).toThrow(ConfigError);
    });
    const relu = make({ featureMap: 'elu+1' });
    expect(relu.forward(x).shape).toEqual([2, 11, 8]);
    relu.dispose();
  });
});

// The registered example is causal; the encoder config declares no decoding and must pass too.
describe('mixer contract: flowformer with causal: false', () => {
  for (const check of mixerContract({
    type: 'flowformer',
    dModel: 8,
    numHeads: 2,
    causal: false,
  })) {
    it(check.name, async () => {
      await check.run();
    });
  }
});

describe('agent-attention (Han et al. 2024)', () => {
  const config = { type: 'agent-attention', dModel: 8, numHeads: 2, numAgents: 3, maxLength: 6 };
  const x = tf.randomNormal([2, 6, 8], 0, 1, 'float32', 3) as tf.Tensor3D;

  it('is an encoder mixer: causal use, a decoding state and a causal config are refused', () => {
    const m = build<Mixer>(config);
    expect(m.capabilities).toMatchObject({ causal: 'never', decoding: false, stateGrowth: 'none' });
    expect(m.initState).toBeUndefined();
    expect(() => m.forward(x, { causal: true })).toThrow(
      /^agent-attention: context\.causal expected false or unset/,
    );
    const state = new FlowState();
    expect(() => m.forward(x, { state })).toThrow(/^agent-attention: context\.state expected no/);
    expect(() => build({ ...config, causal: true })).toThrow(ConfigError);
    expect(m.forward(x, { causal: false }).shape).toEqual([2, 6, 8]);
    m.dispose();
  });

  it('refuses input longer than maxLength and an even kernel; shorter inputs use the first positions', () => {
    const m = build<Mixer>(config);
    const long = tf.zeros([1, 7, 8]) as tf.Tensor3D;
    expect(() => m.forward(long)).toThrow(ShapeError);
    expect(() => m.forward(long)).toThrow(
      /^agent-attention: x expected at most maxLength=6 tokens, got 7 tokens/,
    );
    expect(m.forward(tf.slice(x, [0, 0, 0], [2, 2, 8])).shape).toEqual([2, 2, 8]);
    expect(() => build({ ...config, kernelSize: 4 })).toThrow(/kernelSize/);
    expect(() => build({ ...config, numAgents: 0 })).toThrow(/numAgents/);
    m.dispose();
  });

  it('each output depends on every position (pooled agents); leaks nothing over forward and backward', async () => {
    const m = build<Mixer>(config);
    const later = tf.concat([tf.slice(x, [0, 0, 0], [2, 5, 8]), tf.ones([2, 1, 8])], 1);
    const first = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [2, 1, 8]);
    expect(maxAbsDiff(first(m.forward(x)), first(m.forward(later as tf.Tensor3D)))).toBeGreaterThan(
      1e-5,
    );
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(x))) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  });
});
