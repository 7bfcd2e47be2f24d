import * as tf from '@tensorflow/tfjs-core';
import { AuxLosses, ConfigError, Rng, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { MoAAttention, type MoAConfig } from '@attnkit/routing';
import { fixture, randn, testRope } from '../helpers';

interface MoAFixture {
  config: MoAConfig;
  x: number[][][];
  params: Record<string, number[][]>;
  y: number[][][];
  loadBalance: number;
  zLoss: number;
  load: number[];
  objectiveWeights: number[][][];
  gradX: number[][][];
  grads: Record<string, number[][]>;
}

const golden = fixture<MoAFixture>('moa.json');
const base = { type: 'moa', dModel: 16, numHeads: 6, headDim: 4, topK: 2 } as const;
const make = (config: Partial<MoAConfig> = {}, seed = 3) =>
  build<MoAAttention>({ ...base, ...config }, { rng: new Rng(seed) });
const input = (t = 5, seed = 1) => randn([2, t, 16], seed) as tf.Tensor3D;

function decodeStepwise(m: MoAAttention, x: tf.Tensor3D, context = {}): tf.Tensor {
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

describe('moa (Mixture of Attention heads)', () => {
  it('matches the PyTorch reference (outputs, aux losses, load, gradients)', () => {
    const state = Object.fromEntries(
      Object.entries(golden.params).map(([k, v]) => [k, tf.tensor2d(v)]),
    );
    // aux weights 1, so the collector's total is the reference's lb + z
    const m = build<MoAAttention>({ ...golden.config, loadBalanceWeight: 1, zLossWeight: 1 });
    m.loadStateDict(state);
    const x = tf.tensor3d(golden.x);
    const r = tf.tensor3d(golden.objectiveWeights);
    const aux = new AuxLosses();
    const y = m.forward(x, { aux });
    expectClose(y, golden.y, { atol: 1e-5 });
    expectClose(aux.values()['moa.load_balance']!, golden.loadBalance, { atol: 1e-5 });
    expectClose(aux.values()['moa.z_loss']!, golden.zLoss, { atol: 1e-5 });
    expect(m.lastStats!.load).toEqual(golden.load);
    const loss = (t: tf.Tensor3D) => {
      const c = new AuxLosses();
      const out = m.forward(t, { aux: c });
      return tf.add(tf.sum(tf.mul(out, r)), c.total()) as tf.Scalar;
    };
    const gradX = tf.grad((t: tf.Tensor) => loss(t as tf.Tensor3D))(x);
    expectClose(gradX, golden.gradX, { atol: 1e-4, rtol: 1e-4 });
    const params = m.namedParameters();
    const { value, grads } = tf.variableGrads(() => loss(x));
    for (const [name, expected] of Object.entries(golden.grads)) {
      expectClose(grads[params.get(name)!.name]!, expected, { atol: 1e-4, rtol: 1e-4 });
    }
    tf.dispose([x, r, y, gradX, value, grads, ...Object.values(state)]);
    aux.dispose();
    m.dispose();
  });

  it('shares one key/value head by default and uses the default aux weights', () => {
    const m = make();
    expect(m.k.config.outFeatures).toBe(4);
    expect(m.q.config.outFeatures).toBe(24);
    const aux = new AuxLosses();
    const x = input();
    m.forward(x, { aux }).dispose();
    expect(Object.keys(aux.values()).sort()).toEqual(['moa.load_balance', 'moa.z_loss']);
    expect(m.lastStats!.load.reduce((a, b) => a + b)).toBe(2 * 5 * 2);
    tf.dispose(x);
    aux.dispose();
    m.dispose();
  });

  it('cached token-by-token decoding equals the full forward (RoPE)', () => {
    const m = make({ numKvHeads: 2 });
    const x = input(6);
    const context = { positional: testRope };
    const full = m.forward(x, context);
    const stepwise = decodeStepwise(m, x, context);
    expect(maxAbsDiff(stepwise, full)).toBeLessThanOrEqual(1e-4);
    tf.dispose([x, full, stepwise]);
    m.dispose();
  });

  it('disables, forces and reweights heads at run time', () => {
    const m = make();
    const x = input();
    const y = m.forward(x);
    m.setHeadControl({ forced: [5], disabled: [0] });
    const controlled = m.forward(x);
    expect(m.lastStats!.load[5]).toBe(10);
    expect(m.lastStats!.load[0]).toBe(0);
    expect(maxAbsDiff(controlled, y)).toBeGreaterThan(1e-4);
    m.setHeadControl(null);
    expectClose(m.forward(x), y, { atol: 1e-6 });
    tf.dispose([x, y, controlled]);
    m.dispose();
  });

  it('has gradients for every parameter, the router included', () => {
    const m = make({ qkNorm: 'rms', bias: true });
    const x = input(3);
    const { grads, value } = tf.variableGrads(() => {
      const aux = new AuxLosses();
      return tf.add(tf.sum(tf.square(m.forward(x, { aux }))), aux.total()) as tf.Scalar;
    });
    for (const [name, v] of m.namedParameters()) {
      expect([name, grads[v.name] !== undefined]).toEqual([name, true]);
    }
    tf.dispose([x, value, grads]);
    m.dispose();
  });

  it('rejects bad configs and controls with clear errors', () => {
    expect(() => make({ topK: 7 })).toThrow('moa: topK expected an integer <= numHeads (6), got 7');
    expect(() => new MoAAttention({ ...base, numHeads: 0 })).toThrow(
      'moa: numHeads expected an integer >= 1, got 0',
    );
    expect(() => make({ numHeads: 0 })).toThrow(ConfigError);
    expect(() => make({ numKvHeads: 4 })).toThrow(
      'moa: $.numKvHeads expected a divisor of numHeads=6, got 4',
    );
    expect(() => build<Module>({ ...base, numSharedHeads: 1 })).toThrow(
      /unknown option 'numSharedHeads'/,
    );
    const m = make();
    expect(() => m.setHeadControl({ disabled: [0, 1, 2, 3, 4] })).toThrow(
      'moa: control.disabled expected at least topK=2 heads left enabled, got 1',
    );
    expect(() => m.setHeadControl({ forced: [6] })).toThrow(ConfigError);
    m.dispose();
  });

  it('leaks nothing over forward, backward with aux losses, decoding and dispose', async () => {
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
      decodeStepwise(m, x).dispose();
      x.dispose();
      m.dispose();
    });
  });
});
