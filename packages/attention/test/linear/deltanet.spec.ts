import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  build,
  estimateConfig,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { maxAbsDiff } from '@attnkit/core/testing';
import '@attnkit/attention';

type Mixer = Module & TokenMixer;
const make = (config: object, extra: object = {}) =>
  build<Mixer>({ ...config, ...extra }, { rng: new Rng(7) });

describe('deltanet and gated-deltanet', () => {
  const configs = [
    { type: 'deltanet', dModel: 8, numHeads: 2 },
    { type: 'deltanet', dModel: 8, numHeads: 2, headDim: 3, valueDim: 5, outputGate: true },
    { type: 'gated-deltanet', dModel: 8, numHeads: 2, dConv: 2 },
    { type: 'gated-deltanet', dModel: 12, numHeads: 3, valueDim: 3, convBias: true },
  ];

  it.each(configs)(
    '%j: chunk == recurrent (outputs, input and weight gradients <= 1e-4)',
    (config) => {
      tf.tidy(() => {
        const d = config.dModel;
        const x = tf.randomNormal([2, 11, d], 0, 1, 'float32', 5) as tf.Tensor3D;
        const probe = tf.randomNormal([2, 11, d], 0, 1, 'float32', 6) as tf.Tensor3D;
        const chunk = make(config, { chunkSize: 4 });
        const recurrent = make(config, { form: 'recurrent' });
        expect(maxAbsDiff(chunk.forward(x), recurrent.forward(x))).toBeLessThanOrEqual(1e-4);
        const loss = (m: Mixer) => (input: tf.Tensor) =>
          tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe));
        const [gc, gr] = [tf.grad(loss(chunk))(x), tf.grad(loss(recurrent))(x)];
        expect(maxAbsDiff(gc, gr)).toBeLessThanOrEqual(1e-4);
        expect(tf.max(tf.abs(gc)).dataSync()[0]).toBeGreaterThan(1e-3);
        const weights = (m: Mixer) => tf.variableGrads(() => loss(m)(x) as tf.Scalar).grads;
        const [wc, wr] = [weights(chunk), weights(recurrent)];
        const [pc, pr] = [chunk, recurrent].map((m) => Array.from(m.namedParameters()));
        expect(pc!.length).toBe(pr!.length);
        pc!.forEach(([name, v], i) => {
          expect(pr![i]![0]).toBe(name);
          expect(maxAbsDiff(wc[v.name]!, wr[pr![i]![1].name]!)).toBeLessThanOrEqual(1e-4);
        });
        chunk.dispose();
        recurrent.dispose();
      });
    },
  );

  it.each(configs)(
    '%j: prefill through the state, then tokens one by one, equals the full forward',
    (config) => {
      tf.tidy(() => {
        const m = make(config, { chunkSize: 3 });
        const x = tf.randomNormal([2, 9, config.dModel], 0, 1, 'float32', 8) as tf.Tensor3D;
        const state = m.initState!(2);
        const parts = [m.forward(tf.slice(x, [0, 0, 0], [-1, 5, -1]), { state })];
        for (let i = 5; i < 9; i++)
          parts.push(m.forward(tf.slice(x, [0, i, 0], [-1, 1, -1]), { state }));
        expect(state.length).toBe(9);
        expect(maxAbsDiff(tf.concat(parts, 1), m.forward(x))).toBeLessThanOrEqual(1e-4);
        state.dispose();
        m.dispose();
      });
    },
  );

  it.each(configs)('%j: the estimate is what it allocates', (config) => {
    const m = make(config);
    expect(estimateConfig(config)).toEqual({ parameters: m.numParams(), bytes: 4 * m.numParams() });
    m.dispose();
  });

  it('follows the layers: dv = dk for deltanet and 2·dk for gated-deltanet; gates where the papers put them', () => {
    const plain = make({ type: 'deltanet', dModel: 8, numHeads: 2 });
    const gated = make({ type: 'gated-deltanet', dModel: 8, numHeads: 2 });
    const shapes = (m: Mixer) =>
      Object.fromEntries(Array.from(m.namedParameters()).map(([n, v]) => [n, v.shape]));
    expect(shapes(plain)).toEqual({
      'q.weight': [8, 8],
      'k.weight': [8, 8],
      'v.weight': [8, 8],
      'b.weight': [8, 2],
      convWeight: [24, 4],
      'norm.weight': [4],
      'o.weight': [8, 8],
    });
    expect(shapes(gated)).toMatchObject({
      'v.weight': [8, 16],
      'g.weight': [8, 16],
      'a.weight': [8, 2],
      aLog: [2],
      dtBias: [2],
      'norm.weight': [8],
      'o.weight': [16, 8],
    });
    // α = exp(−exp(A_log)·softplus(·)) in (0, 1): A ∈ (0, 16], Δ's bias from [0.001, 0.1].
    const a = tf.exp((gated as unknown as { aLog: tf.Variable }).aLog).dataSync();
    expect(Array.from(a).every((v) => v > 0 && v <= 16)).toBe(true);
    plain.dispose();
    gated.dispose();
  });

  it('refuses bad configs and foreign states with typed one-line errors', () => {
    for (const type of ['deltanet', 'gated-deltanet']) {
      const base = { type, dModel: 8, numHeads: 2 };
      expect(() => build({ ...base, numHeads: 3 })).toThrow(ConfigError);
      expect(() => build({ ...base, numHeads: 3 })).toThrow(/numHeads/);
      expect(() => build({ ...base, chunkSize: 0 })).toThrow(/chunkSize/);
      expect(() => build({ ...base, form: 'parallel' })).toThrow(/form/);
      expect(() => build({ ...base, causal: false })).toThrow(/causal/);
    }
    const a = make({ type: 'deltanet', dModel: 8, numHeads: 2 });
    const b = make({ type: 'gated-deltanet', dModel: 8, numHeads: 2 });
    const foreign = b.initState!(1);
    tf.tidy(() => {
      expect(() => a.forward(tf.zeros([1, 2, 8]) as tf.Tensor3D, { state: foreign })).toThrow(
        /^deltanet: context\.state expected a DeltaNetState from initState\(\), got GatedDeltaNetState$/,
      );
    });
    foreign.dispose();
    a.dispose();
    b.dispose();
  });
});
