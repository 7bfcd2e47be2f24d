import * as tf from '@tensorflow/tfjs-core';
import {
  linearAttention,
  type LinearAttentionForm,
  type LinearAttentionOptions,
} from '@attnkit/attention';

export const FORMS: LinearAttentionForm[] = ['parallel', 'chunk', 'recurrent'];

/** Deterministic normal draws (tfjs' seeded op is fine for test inputs). */
export const randn = (shape: number[], seed: number, scale = 1) =>
  tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale)) as tf.Tensor4D;

/** Positive features (as a feature map would give), so normalising never divides by ~0. */
export const positive = (shape: number[], seed: number) =>
  tf.tidy(() => tf.add(tf.sigmoid(randn(shape, seed, 1.5)), 0.1)) as tf.Tensor4D;

/** Log decays in (-inf, 0): log σ(x), the GLA gate. */
export const logSigmoidGate = (shape: number[], seed: number) =>
  tf.tidy(() => tf.logSigmoid(tf.add(randn(shape, seed), 2))) as tf.Tensor3D;

export interface Case {
  name: string;
  b: number;
  h: number;
  t: number;
  dk: number;
  dv: number;
  normalize?: boolean;
  decay?: number | number[] | 'tensor';
  gate?: boolean;
  initial?: boolean;
  scale?: number;
  chunkSize?: number;
}

export const CASES: Case[] = [
  { name: 'plain', b: 2, h: 2, t: 7, dk: 3, dv: 4, chunkSize: 3 },
  { name: 'normalize', b: 1, h: 2, t: 7, dk: 3, dv: 2, normalize: true, chunkSize: 3 },
  { name: 'scalar decay', b: 2, h: 2, t: 8, dk: 4, dv: 3, decay: [0.9, 0.5], chunkSize: 4 },
  { name: 'decay tensor', b: 1, h: 2, t: 6, dk: 3, dv: 3, decay: 'tensor', chunkSize: 4 },
  { name: 'gate', b: 2, h: 2, t: 9, dk: 3, dv: 5, gate: true, chunkSize: 4 },
  { name: 'initial state', b: 1, h: 2, t: 5, dk: 4, dv: 2, initial: true, chunkSize: 2 },
  {
    name: 'everything',
    b: 2,
    h: 2,
    t: 10,
    dk: 3,
    dv: 4,
    normalize: true,
    decay: 0.95,
    gate: true,
    initial: true,
    scale: 0.5,
    chunkSize: 4,
  },
  { name: 'chunk larger than T', b: 1, h: 1, t: 5, dk: 2, dv: 3, gate: true, chunkSize: 64 },
  { name: 'chunk of one', b: 1, h: 2, t: 4, dk: 2, dv: 3, gate: true, initial: true, chunkSize: 1 },
];

/** Inputs of a case: the tensors to differentiate, by name. */
export function caseInputs(c: Case, seed = 0): Record<string, tf.Tensor> {
  const { b, h, t, dk, dv } = c;
  const feature = c.normalize ? positive : (s: number[], sd: number) => randn(s, sd, 0.7);
  const x: Record<string, tf.Tensor> = {
    q: feature([b, h, t, dk], seed + 1),
    k: feature([b, h, t, dk], seed + 2),
    v: randn([b, h, t, dv], seed + 3),
  };
  if (c.gate) x.gate = logSigmoidGate([b, h, t], seed + 4);
  if (c.decay === 'tensor') x.decay = tf.linspace(0.6, 0.95, h);
  if (c.initial) {
    x.kv = randn([b, h, dk, dv], seed + 5, 0.5);
    if (c.normalize) x.kSum = positive([b, h, dk], seed + 6);
  }
  return x;
}

/** Options of a case for one form, reading tensors from `x` (so gradients reach them). */
export function caseOptions(
  c: Case,
  x: Record<string, tf.Tensor>,
  form: LinearAttentionForm,
): LinearAttentionOptions {
  const options: LinearAttentionOptions = {
    form,
    chunkSize: c.chunkSize,
    normalize: c.normalize,
    scale: c.scale,
  };
  if (c.decay !== undefined) options.decay = c.decay === 'tensor' ? x.decay : c.decay;
  if (x.gate) options.gate = x.gate;
  if (x.kv)
    options.initialState = x.kSum
      ? { kv: x.kv as tf.Tensor4D, kSum: x.kSum as tf.Tensor3D }
      : { kv: x.kv as tf.Tensor4D };
  return options;
}

/** Output, final state and gradients of sum(out·p1) + sum(kv·p2) + sum(kSum·p3). */
export function runCase(c: Case, x: Record<string, tf.Tensor>, form: LinearAttentionForm) {
  const names = Object.keys(x);
  const forward = (...xs: tf.Tensor[]) => {
    const bound: Record<string, tf.Tensor> = {};
    names.forEach((n, i) => (bound[n] = xs[i]!));
    return linearAttention(
      bound.q as tf.Tensor4D,
      bound.k as tf.Tensor4D,
      bound.v as tf.Tensor4D,
      caseOptions(c, bound, form),
    );
  };
  const objective = (...xs: tf.Tensor[]) => {
    const { output, state } = forward(...xs);
    let total = tf.sum(tf.mul(output, probe(output.shape, 1)));
    total = tf.add(total, tf.sum(tf.mul(state.kv, probe(state.kv.shape, 2))));
    if (state.kSum) total = tf.add(total, tf.sum(tf.mul(state.kSum, probe(state.kSum.shape, 3))));
    return total as tf.Scalar;
  };
  const result = forward(...names.map((n) => x[n]!));
  const grads = tf.grads(objective)(names.map((n) => x[n]!));
  const gradients: Record<string, tf.Tensor> = {};
  names.forEach((n, i) => (gradients[n] = grads[i]!));
  return { ...result, gradients };
}

/** A fixed, non-uniform weighting for the objective. */
export function probe(shape: number[], salt: number): tf.Tensor {
  const size = shape.reduce((a, d) => a * d, 1);
  return tf.tensor(
    Array.from({ length: size }, (_, i) => Math.sin(i * 0.37 + salt) + 0.3),
    shape,
  );
}
