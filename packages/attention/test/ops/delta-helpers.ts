import * as tf from '@tensorflow/tfjs-core';
import { deltaRule, type DeltaRuleForm } from '@attnkit/attention';

export interface DeltaCase {
  name: string;
  b: number;
  h: number;
  t: number;
  dk: number;
  dv: number;
  chunkSize: number;
  gate?: boolean;
  initial?: boolean;
}

export const DELTA_CASES: DeltaCase[] = [
  { name: 'plain, T not a multiple of C', b: 2, h: 2, t: 7, dk: 3, dv: 4, chunkSize: 3 },
  { name: 'gate', b: 1, h: 2, t: 9, dk: 4, dv: 3, chunkSize: 4, gate: true },
  { name: 'initial state', b: 2, h: 1, t: 6, dk: 3, dv: 5, chunkSize: 4, initial: true },
  {
    name: 'gate and initial state',
    b: 1,
    h: 2,
    t: 11,
    dk: 5,
    dv: 2,
    chunkSize: 5,
    gate: true,
    initial: true,
  },
  { name: 'one token', b: 2, h: 2, t: 1, dk: 3, dv: 2, chunkSize: 4, gate: true, initial: true },
  { name: 'chunk of one', b: 1, h: 1, t: 4, dk: 2, dv: 3, chunkSize: 1, gate: true },
  { name: 'chunk larger than T', b: 1, h: 2, t: 6, dk: 4, dv: 4, chunkSize: 64, initial: true },
];

const randn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** q, k L2-normalised (the regime the delta rule is stable in), β ∈ (0, 1), log α ∈ (-∞, 0). */
export function deltaInputs(c: DeltaCase): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
    const x: Record<string, tf.Tensor> = {
      q: randn([c.b, c.h, c.t, c.dk], 1),
      k: unit(randn([c.b, c.h, c.t, c.dk], 2)),
      v: randn([c.b, c.h, c.t, c.dv], 3),
      beta: tf.sigmoid(randn([c.b, c.h, c.t], 4)),
    };
    if (c.gate) x.gate = tf.neg(tf.softplus(tf.neg(tf.add(randn([c.b, c.h, c.t], 5), 1.5))));
    if (c.initial) x.s0 = tf.mul(randn([c.b, c.h, c.dk, c.dv], 6), 0.5);
    return x;
  });
}

/** Output, state and the gradient of Σ output·p1 + Σ state·p2 for every input. */
export function runDelta(c: DeltaCase, x: Record<string, tf.Tensor>, form: DeltaRuleForm) {
  const names = Object.keys(x);
  const p1 = randn([c.b, c.h, c.t, c.dv], 7);
  const p2 = randn([c.b, c.h, c.dk, c.dv], 8);
  const call = (...args: tf.Tensor[]) => {
    const a = Object.fromEntries(names.map((n, i) => [n, args[i]!]));
    return deltaRule(
      a.q as tf.Tensor4D,
      a.k as tf.Tensor4D,
      a.v as tf.Tensor4D,
      a.beta as tf.Tensor3D,
      {
        form,
        chunkSize: c.chunkSize,
        gate: a.gate as tf.Tensor3D | undefined,
        initialState: a.s0 as tf.Tensor4D | undefined,
      },
    );
  };
  const { output, state } = call(...names.map((n) => x[n]!));
  const loss = (...args: tf.Tensor[]) => {
    const r = call(...args);
    return tf.add(tf.sum(tf.mul(r.output, p1)), tf.sum(tf.mul(r.state, p2))) as tf.Scalar;
  };
  const grads = tf.grads(loss)(names.map((n) => x[n]!));
  return { output, state, gradients: Object.fromEntries(names.map((n, i) => [n, grads[i]!])) };
}
