import * as tf from '@tensorflow/tfjs-core';
import {
  AuxLosses,
  ConfigError,
  Rng,
  ShapeError,
  build,
  type IncrementalState,
} from '@attnkit/core';
import type { Module } from '@attnkit/core';
import type { MultiHeadAttention } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { MoHAttention, type MoHConfig, mohFromMHA } from '@attnkit/routing';
import { randn, testRope } from '../helpers';

const base = { type: 'moh', dModel: 16, numHeads: 4, numSharedHeads: 1, topK: 2 } as const;
const make = (config: Partial<MoHConfig> = {}, seed = 3) =>
  build<MoHAttention>({ ...base, ...config }, { rng: new Rng(seed) });
const input = (t = 6, seed = 1) => randn([2, t, 16], seed) as tf.Tensor3D;

/** Feeds the sequence one token at a time through a cache and stacks the outputs. */
function decodeStepwise(m: MoHAttention, x: tf.Tensor3D, context = {}): tf.Tensor {
  const state = m.initState(x.shape[0]);
  const steps: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i++) {
    const token = tf.slice(x, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D;
    steps.push(m.forward(token, { ...context, state }));
    token.dispose();
  }
  state.dispose();
  const out = tf.concat(steps, 1);
  tf.dispose(steps);
  return out;
}

/** Gradients of sum(out · r) w.r.t. the input and the named variables of `m`. */
function gradients(
  forward: (x: tf.Tensor3D) => tf.Tensor,
  x: tf.Tensor3D,
  vars: Record<string, tf.Variable>,
): Record<string, tf.Tensor> {
  const r = randn(x.shape, 9);
  const objective = (t: tf.Tensor3D) => tf.sum(tf.mul(forward(t), r)) as tf.Scalar;
  const gradX = tf.grad((t: tf.Tensor) => objective(t as tf.Tensor3D))(x);
  const list = Object.values(vars);
  const { value, grads } = tf.variableGrads(() => objective(x), list);
  const out: Record<string, tf.Tensor> = { x: gradX };
  for (const [name, v] of Object.entries(vars)) out[name] = grads[v.name]!;
  tf.dispose([r, value]);
  return out;
}

describe('moh from a trained MHA (all heads, weight 1) equals MHA', () => {
  const cases: Record<string, unknown>[] = [
    { type: 'gqa', numKvHeads: 2 },
    { type: 'mha', qkNorm: 'rms', sinkLogit: true, bias: true },
    { type: 'sliding-window', window: 3, chunkSize: 2 },
  ];
  for (const config of cases) {
    it(`${JSON.stringify(config)}: forward and backward within 1e-5 (RoPE)`, () => {
      const mha = build<MultiHeadAttention>(
        { dModel: 16, numHeads: 4, ...config },
        { rng: new Rng(5) },
      );
      const moh = mohFromMHA(mha, { numSharedHeads: 1, topK: 2 }, { rng: new Rng(6) });
      const x = input(5);
      const context = { positional: testRope };
      const aux = new AuxLosses();
      const a = moh.forward(x, { ...context, aux });
      const b = mha.forward(x, context);
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-5);
      expect(aux.size).toBe(0); // no routing, no load-balance loss
      expect(moh.lastStats!.activeFraction).toBe(1);

      const shared = Object.fromEntries(
        [...mha.namedParameters()].map(([n, v]) => [n, v] as const),
      );
      const mohVars = moh.namedParameters();
      const ga = gradients(
        (t) => moh.forward(t, context),
        x,
        Object.fromEntries(Object.keys(shared).map((n) => [n, mohVars.get(n)!])),
      );
      const gb = gradients((t) => mha.forward(t, context), x, shared);
      for (const name of Object.keys(gb)) {
        expect({ name, err: maxAbsDiff(ga[name]!, gb[name]!) <= 1e-5 }).toEqual({
          name,
          err: true,
        });
      }
      expect(Object.keys(gb)).toEqual(expect.arrayContaining(['x', 'q.weight', 'o.weight']));
      tf.dispose([x, a, b, ...Object.values(ga), ...Object.values(gb)]);
      mha.dispose();
      moh.dispose();
    });
  }

  it('a built moh with allHeads takes an MHA state dict via loadAttentionWeights', () => {
    const mha = build<MultiHeadAttention>({ type: 'mha', dModel: 16, numHeads: 4 });
    const moh = make({ allHeads: true });
    moh.loadAttentionWeights(mha);
    const x = input();
    expect(maxAbsDiff(moh.forward(x), mha.forward(x))).toBeLessThanOrEqual(1e-5);
    // the routed model differs: head weights sum to 1, not to numHeads
    const routed = mohFromMHA(mha, { numSharedHeads: 1, topK: 2, allHeads: false });
    expect(maxAbsDiff(routed.forward(x), mha.forward(x))).toBeGreaterThan(1e-3);
    const wrong = build<MultiHeadAttention>({
      type: 'gqa',
      dModel: 16,
      numHeads: 4,
      numKvHeads: 2,
    });
    expect(() => moh.loadAttentionWeights(wrong)).toThrow(/mismatched: k\.weight/);
    [mha, moh, routed, wrong].forEach((m) => m.dispose());
  });
});

describe('moh routing', () => {
  it('weights each head by its gate: output = o(Σ_i g_i H^i)', () => {
    // disabling shared head h == zeroing its block of the o-projection
    const m = make({ numKvHeads: 2, numSharedHeads: 2, topK: 1 });
    const x = input();
    const y = m.forward(x);
    const head = 1;
    const d = m.headDim;
    const original = m.o.weight.clone();
    const rows = tf.tidy(() => {
      const keep = new Float32Array(4 * d).fill(1);
      keep.fill(0, head * d, (head + 1) * d);
      return tf.mul(original, tf.reshape(tf.tensor1d(keep), [-1, 1]));
    });
    m.o.weight.assign(rows);
    const zeroedHead = m.forward(x);
    m.setHeadControl({ disabled: [head] });
    m.o.weight.assign(original);
    const disabled = m.forward(x);
    expectClose(disabled, zeroedHead, { atol: 1e-5 });
    expect(maxAbsDiff(disabled, y)).toBeGreaterThan(1e-4);
    // reweighting head 0 by 3 == scaling its o rows by 3
    m.setHeadControl({ weights: [3, 1, 1, 1] });
    const reweighted = m.forward(x);
    m.setHeadControl(null);
    m.o.weight.assign(
      tf.tidy(() => {
        const scale = new Float32Array(4 * d).fill(1);
        scale.fill(3, 0, d);
        return tf.mul(original, tf.reshape(tf.tensor1d(scale), [-1, 1]));
      }),
    );
    expectClose(reweighted, m.forward(x), { atol: 1e-5 });
    tf.dispose([x, y, original, rows, zeroedHead, disabled, reweighted]);
    m.dispose();
  });

  it('reports per-head load and the load-balance loss', () => {
    const m = make({ numHeads: 8, numSharedHeads: 2, topK: 3, loadBalanceWeight: 0.5 });
    const x = input(5);
    const aux = new AuxLosses();
    m.forward(x, { aux }).dispose();
    const { tokens, headLoad, activeFraction } = m.lastStats!;
    expect(tokens).toBe(10);
    expect(headLoad.slice(0, 2)).toEqual([10, 10]);
    expect(headLoad.slice(2).reduce((a, b) => a + b)).toBe(30);
    expect(activeFraction).toBeCloseTo(5 / 8);
    const gating = m.gating.forward(x);
    expect(aux.values()['moh.load_balance']).toBeCloseTo(gating.loss!.dataSync()[0]! * 0.5, 6);
    m.setHeadControl({ forced: [5], disabled: [6] });
    m.forward(x).dispose();
    expect(m.lastStats!.headLoad[5]).toBe(10);
    expect(m.lastStats!.headLoad[6]).toBe(0);
    tf.dispose([x, gating.gates, gating.loss!]);
    aux.dispose();
    m.dispose();
  });

  it('uses the positional encoding from the context (rotate and bias)', () => {
    const m = make();
    const x = input(4);
    const calls: string[] = [];
    const bias = (qp: tf.Tensor1D, kp: tf.Tensor1D, heads: number) => {
      calls.push(`bias ${heads}`);
      return tf.mul(tf.abs(tf.sub(tf.reshape(qp, [-1, 1]), tf.reshape(kp, [1, -1]))), -1);
    };
    const plain = m.forward(x);
    const withBias = m.forward(x, { positional: { kind: 'bias', bias } });
    const rotated = m.forward(x, { positional: testRope });
    expect(calls).toEqual(['bias 4']);
    expect(maxAbsDiff(withBias, plain)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(rotated, plain)).toBeGreaterThan(1e-3);
    tf.dispose([x, plain, withBias, rotated]);
    m.dispose();
  });

  it('cached token-by-token decoding equals the full forward (GQA, RoPE, routed heads)', () => {
    for (const config of [{ numKvHeads: 2 }, { numKvHeads: 1, window: 3 }, { qkNorm: 'rms' }]) {
      const m = make(config as Partial<MoHConfig>);
      const x = input(7);
      const context = { positional: testRope };
      const full = m.forward(x, context);
      const stepwise = decodeStepwise(m, x, context);
      expect(maxAbsDiff(stepwise, full)).toBeLessThanOrEqual(1e-4);
      tf.dispose([x, full, stepwise]);
      m.dispose();
    }
  });

  it('is causal, and segment ids keep attention within each segment', () => {
    const m = make();
    const a = input(5);
    const b = tf.concat([tf.slice(a, [0, 0, 0], [-1, 3, -1]), randn([2, 2, 16], 4)], 1);
    expectClose(
      tf.slice(m.forward(b as tf.Tensor3D), [0, 0, 0], [-1, 3, -1]),
      tf.slice(m.forward(a), [0, 0, 0], [-1, 3, -1]),
      { atol: 1e-6 },
    );
    const bidirectional = make({ causal: false });
    const x = input(4);
    const segmentIds = tf.tensor2d([0, 0, 1, 1, 0, 0, 1, 1], [2, 4], 'int32');
    const whole = bidirectional.forward(x, { segmentIds });
    const firstHalf = bidirectional.forward(tf.slice(x, [0, 0, 0], [-1, 2, -1]) as tf.Tensor3D);
    expectClose(tf.slice(whole, [0, 0, 0], [-1, 2, -1]), firstHalf, { atol: 1e-6 });
    m.dispose();
    bidirectional.dispose();
  });

  it('has gradients for every parameter, the router included', () => {
    const m = make({ numKvHeads: 2, qkNorm: 'layer', sinkLogit: true, bias: true });
    const x = input(3);
    const { grads, value } = tf.variableGrads(() => {
      const aux = new AuxLosses();
      const y = m.forward(x, { aux });
      return tf.add(tf.sum(tf.square(y)), aux.total()) as tf.Scalar;
    });
    for (const [name, v] of m.namedParameters()) {
      expect([name, grads[v.name] !== undefined]).toEqual([name, true]);
    }
    const routerGrad = grads[m.gating.routed!.gate.weight.name]!;
    expect(tf.max(tf.abs(routerGrad)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([x, value, grads]);
    m.dispose();
  });

  it('hands per-head attention weights to the hook', () => {
    const m = make();
    const x = input(3);
    const seen: number[][] = [];
    m.forward(x, { attentionHook: ({ weights }) => seen.push(weights.shape) }).dispose();
    expect(seen).toEqual([[2, 4, 3, 3]]);
    x.dispose();
    m.dispose();
  });
});

describe('moh bad inputs', () => {
  it('rejects bad configs with the block, argument and values', () => {
    expect(() => make({ topK: 4 })).toThrow(
      'moh: topK expected an integer in [1, 3] (numHeads - numSharedHeads), got 4',
    );
    expect(() => make({ numSharedHeads: 5 })).toThrow(
      'moh: numSharedHeads expected an integer <= numHeads (4), got 5',
    );
    expect(() => new MoHAttention({ ...base, numHeads: 0 })).toThrow(
      'moh: numHeads expected an integer >= 1, got 0',
    );
    expect(() => make({ numHeads: 0 })).toThrow(/numHeads expected a value > 0, got 0/);
    expect(() => make({ numKvHeads: 3 })).toThrow(
      'moh: $.numKvHeads expected a divisor of numHeads=4, got 3',
    );
    expect(() => make({ numHeads: 3, numSharedHeads: 0, topK: 1 })).toThrow(
      /numHeads expected a divisor of dModel=16/,
    );
    expect(() => build<Module>({ ...base, topk: 2 })).toThrow(/unknown option 'topk'/);
    expect(() => build<Module>({ ...base, numSinkTokens: 1 })).toThrow(
      /unknown option 'numSinkTokens'/,
    );
    expect(() => new MoHAttention({ ...base, loadBalanceWeight: -1 })).toThrow(ConfigError);
  });

  it('rejects bad head controls, inputs and states', () => {
    const m = make();
    expect(() => m.setHeadControl({ disabled: [4] })).toThrow(
      'moh: control.disabled expected experts in [0, 4), got 4',
    );
    expect(() => m.setHeadControl({ forced: [1, 2, 3] })).toThrow(
      'moh: control.forced expected at most topK=2 routed heads, got [1,2,3]',
    );
    expect(() => m.setHeadControl({ disabled: [1, 2] })).toThrow(
      'moh: control.disabled expected at least topK=2 routed heads left enabled, got 1',
    );
    expect(() => m.setHeadControl({ weights: [1] })).toThrow(ConfigError);
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([2, 3]) as unknown as tf.Tensor3D)).toThrow(/rank 3/);
    expect(() =>
      m.forward(input(2), { state: { length: 0, dispose() {} } as unknown as IncrementalState }),
    ).toThrow(/context.state expected a KVCache/);
    const cross = build<MultiHeadAttention>({ type: 'cross-attention', dModel: 16, numHeads: 4 });
    expect(() => mohFromMHA(cross, { numSharedHeads: 1, topK: 1 })).toThrow(
      /moh: mha expected a self-attention mixer/,
    );
    cross.dispose();
    m.dispose();
  });
});

describe('moh leaks', () => {
  it('leaks nothing over forward, backward with aux loss, decoding and dispose', async () => {
    await expectNoLeaks(() => {
      const m = make({ numKvHeads: 2 });
      const x = input(4);
      const aux = new AuxLosses();
      const { value, grads } = tf.variableGrads(() => {
        const y = m.forward(x, { aux, positional: testRope });
        return tf.add(tf.sum(y), aux.total()) as tf.Scalar;
      });
      tf.dispose([value, grads]);
      aux.dispose();
      m.setHeadControl({ disabled: [0], weights: [1, 2, 1, 1] });
      decodeStepwise(m, x, { positional: testRope }).dispose();
      const mha = build<MultiHeadAttention>({ type: 'mha', dModel: 16, numHeads: 4 });
      const copy = mohFromMHA(mha, { numSharedHeads: 2, topK: 1 });
      copy.forward(x).dispose();
      [x].forEach((t) => t.dispose());
      [m, mha, copy].forEach((module) => module.dispose());
    });
  });
});
