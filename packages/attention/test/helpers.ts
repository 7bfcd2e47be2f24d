import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, type Module, type TokenMixer } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import '@attnkit/attention'; // registers the mixers

export type Mixer = Module & TokenMixer;

export const randomInput = (t = 6, seed = 1, dModel = 16, batch = 2) =>
  tf.randomNormal([batch, t, dModel], 0, 1, 'float32', seed) as tf.Tensor3D;

export function makeMixer<M extends Mixer = Mixer>(config: Record<string, unknown>, seed = 3): M {
  return build<M>({ dModel: 16, numHeads: 4, ...config }, { rng: new Rng(seed) });
}
const makeMixerOf = makeMixer;

/** Feeds the sequence `step` tokens at a time through a fresh state and concatenates the outputs. */
export function decodeStepwise(m: Mixer, input: tf.Tensor3D, step = 1): tf.Tensor {
  const state = m.initState!(input.shape[0]);
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < input.shape[1]; i += step) {
    const n = Math.min(step, input.shape[1] - i);
    const chunk = tf.slice(input, [0, i, 0], [-1, n, -1]) as tf.Tensor3D;
    outs.push(m.forward(chunk, { state }));
    chunk.dispose();
  }
  state.dispose();
  const out = tf.concat(outs, 1);
  tf.dispose(outs);
  return out;
}

/** Gradients of sum(forward(x)²) for every parameter: each must exist and be non-zero somewhere. */
export function parameterGradients(m: Mixer, input: tf.Tensor3D): Map<string, number> {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(input))) as tf.Scalar);
  const out = new Map<string, number>();
  for (const [name, v] of m.namedParameters()) {
    const g = grads[v.name];
    out.set(name, g ? tf.max(tf.abs(g)).dataSync()[0]! : NaN);
  }
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

export interface ContractOptions {
  /** Decoding equals the full causal forward (default true). */
  decodes?: boolean;
  /** Later tokens never change earlier outputs (default true). */
  causal?: boolean;
  dModel?: number;
  /** Runs after construction (e.g. to move parameters off an identity initialisation). */
  prepare?: (m: Mixer) => void;
}

/** Adds seeded noise to every parameter, so identity-initialised kernels do real work. */
export function perturb(m: Mixer, scale = 0.3, seed = 5): void {
  let i = 0;
  for (const v of m.parameters()) {
    const next = tf.tidy(() =>
      tf.add(v, tf.randomNormal(v.shape, 0, scale, 'float32', seed + i++)),
    );
    v.assign(next);
    next.dispose();
  }
}

/**
 * The token-mixer contract every mixer here meets: shape, causality, cached decoding one
 * token and three tokens at a time == the full forward (max abs err <= 1e-4), a gradient
 * for every parameter, nothing leaked over forward, backward, decoding and dispose.
 */
export function mixerContract(config: Record<string, unknown>, options: ContractOptions = {}) {
  const { decodes = true, causal = true, dModel = 16, prepare } = options;
  const name = JSON.stringify(config) + (prepare ? ' (prepared)' : '');
  const makeMixer = (c: Record<string, unknown>) => {
    const m = makeMixerOf(c);
    prepare?.(m);
    return m;
  };
  const input = (t = 7, seed = 1) => randomInput(t, seed, dModel);

  it(`${name}: [batch, time, dModel] in and out`, () => {
    const m = makeMixer(config);
    expect(m.forward(input()).shape).toEqual([2, 7, dModel]);
    m.dispose();
  });

  if (causal) {
    it(`${name}: later tokens do not change earlier outputs`, () => {
      const m = makeMixer(config);
      const a = input(6, 1);
      const b = tf.concat(
        [tf.slice(a, [0, 0, 0], [-1, 4, -1]), randomInput(2, 8, dModel)],
        1,
      ) as tf.Tensor3D;
      const head = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [-1, 4, -1]);
      expect(maxAbsDiff(head(m.forward(a)), head(m.forward(b)))).toBeLessThan(1e-5);
      expect(maxAbsDiff(m.forward(a), m.forward(b))).toBeGreaterThan(1e-4);
      m.dispose();
    });
  }

  if (decodes) {
    for (const step of [1, 3]) {
      it(`${name}: cached decoding ${step} token(s) at a time equals the full forward`, () => {
        const m = makeMixer(config);
        const x = input(8);
        expect(maxAbsDiff(decodeStepwise(m, x, step), m.forward(x))).toBeLessThan(1e-4);
        m.dispose();
      });
    }
  }

  it(`${name}: every parameter gets a gradient`, () => {
    const m = makeMixer(config);
    for (const [param, g] of parameterGradients(m, input(5))) {
      expect([param, g > 0]).toEqual([param, true]);
    }
    m.dispose();
  });

  it(`${name}: leaks nothing over forward, backward, decoding, hook and dispose`, async () => {
    await expectNoLeaks(() => {
      const m = makeMixer(config);
      const x = input(4);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      m.forward(x, { attentionHook: () => undefined }).dispose();
      if (decodes) decodeStepwise(m, x, 2).dispose();
      x.dispose();
      m.dispose();
    });
  });
}
