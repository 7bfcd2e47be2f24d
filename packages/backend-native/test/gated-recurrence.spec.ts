// The gated recurrence kernel (csrc/gated_recurrence.cc) against the composites: on native,
// @attnkit/attention's deltaRule (both forms) and linearAttention with a per-key-dimension gate
// ('chunk' and 'recurrent') run the kernel and its gradient kernel; on cpu the same calls run
// the WY chunk form, GLA's chunkwise form, or the token loops. Outputs, final state and every
// gradient agree (max abs error <= 1e-4).
import * as tf from '@tensorflow/tfjs-core';
import { deltaRule, linearAttention } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { GATED_RECURRENCE, GATED_RECURRENCE_GRAD } from '../src/index';
import { rand } from './helpers';
import { on } from './train-helpers';

interface Case {
  name: string;
  /** [batch, heads, time, dk, dv] */
  shape: [number, number, number, number, number];
  op: 'delta' | 'gated-delta' | 'gla' | 'gla-normalized';
  form: 'chunk' | 'recurrent';
  init: boolean;
}

/** [name, shape, op, form, initial state]. */
const CASES: Case[] = (
  [
    ['size 1 everywhere, delta', [1, 1, 1, 1, 1], 'delta', 'chunk', false],
    ['odd sizes, gated delta, state', [2, 3, 7, 5, 3], 'gated-delta', 'chunk', true],
    ['past a checkpoint (t 70), gated delta', [1, 2, 70, 9, 11], 'gated-delta', 'chunk', true],
    ['recurrent form, delta', [2, 1, 5, 4, 6], 'delta', 'recurrent', true],
    ['GLA, odd sizes', [2, 3, 9, 5, 7], 'gla', 'chunk', false],
    ['GLA past two checkpoints (t 131), state', [1, 1, 131, 3, 2], 'gla', 'chunk', true],
    ['GLA recurrent, size 1', [1, 1, 1, 1, 1], 'gla', 'recurrent', true],
    ['GLA normalised', [1, 2, 6, 4, 3], 'gla-normalized', 'chunk', false],
  ] as const
).map(([name, shape, op, form, init]) => ({ name, shape: [...shape], op, form, init }) as Case);

function run(c: Case): Float32Array[] {
  const [b, h, t, dk, dv] = c.shape;
  return tf.tidy(() => {
    const delta = c.op === 'delta' || c.op === 'gated-delta';
    // The inputs each op reads, by name (each gets a gradient): delta-rule keys of norm ~1 and
    // β in (0, 1), as the mixers feed them; GLA's keys positive; log decays in (-0.5, 0).
    const inputs: Record<string, tf.Tensor> = {
      q: rand([b, h, t, dk], 1),
      k: delta ? tf.div(rand([b, h, t, dk], 2), Math.sqrt(dk)) : tf.sigmoid(rand([b, h, t, dk], 2)),
      v: rand([b, h, t, dv], 3),
    };
    if (delta) inputs.beta = tf.sigmoid(rand([b, h, t], 4));
    if (c.op !== 'delta')
      inputs.gate = tf.mul(tf.sigmoid(rand(delta ? [b, h, t] : [b, h, t, dk], 5)), -0.5);
    if (c.init) inputs.s0 = rand([b, h, dk, dv], 6);
    const names = Object.keys(inputs);
    const wOut = rand([b, h, t, dv], 8);
    const wState = rand([b, h, dk, dv], 9);
    const call = (list: tf.Tensor[]) => {
      const x = Object.fromEntries(names.map((n, i) => [n, list[i]!]));
      const [q, k, v] = [x.q, x.k, x.v] as tf.Tensor4D[];
      if (delta) {
        const r = deltaRule(q!, k!, v!, x.beta as tf.Tensor3D, {
          form: c.form,
          chunkSize: 4,
          scale: 0.7,
          ...(x.gate ? { gate: x.gate as tf.Tensor3D, checkValues: false } : {}),
          ...(x.s0 ? { initialState: x.s0 as tf.Tensor4D } : {}),
        });
        return { output: r.output, kv: r.state };
      }
      const r = linearAttention(q!, k!, v!, {
        form: c.form,
        chunkSize: 4,
        scale: 0.7,
        gate: x.gate as tf.Tensor4D,
        checkValues: false,
        normalize: c.op === 'gla-normalized',
        ...(x.s0 ? { initialState: { kv: x.s0 as tf.Tensor4D } } : {}),
      });
      return { output: r.output, kv: r.state.kv };
    };
    const loss = (...list: tf.Tensor[]) => {
      const { output, kv } = call(list);
      return tf.add(tf.sum(tf.mul(output, wOut)), tf.sum(tf.mul(kv, wState))) as tf.Scalar;
    };
    const list = names.map((n) => inputs[n]!);
    const { output, kv } = call(list);
    return [output, kv, ...tf.grads(loss)(list)].map((x) => x.dataSync() as Float32Array);
  });
}

describe('gated recurrence kernel on native', () => {
  it.each(CASES.map((c) => [c.name, c] as const))(
    'matches the composite, outputs and gradients: %s',
    async (_n, c) => {
      const composite = await on('cpu', () => run(c));
      const kernel = await on('native', () => run(c));
      expect(kernel.length).toBe(composite.length);
      composite.forEach((expected, i) => {
        expect(kernel[i]!.length).toBe(expected.length);
        expect(maxAbsDiff(kernel[i]!, expected)).toBeLessThanOrEqual(1e-4);
      });
      const profile = await on('native', () => tf.profile(() => void run(c)));
      const names = profile.kernels.map((k) => k.name);
      expect(names).toContain(GATED_RECURRENCE);
      expect(names).toContain(GATED_RECURRENCE_GRAD);
    },
  );

  it('refuses bad inputs with typed errors', async () => {
    await on('native', () => {
      const ok = {
        q: tf.zeros([1, 2, 3, 4]),
        k: tf.zeros([1, 2, 3, 4]),
        v: tf.zeros([1, 2, 3, 5]),
        beta: tf.zeros([1, 2, 3]),
        logDecay: tf.zeros([1, 2, 3, 1]),
        s0: tf.zeros([1, 2, 4, 5]),
      };
      const attrs = { scale: 1, delta: true };
      const call = (inputs: object, a: object = attrs) =>
        tf.tidy(() => void tf.engine().runKernel(GATED_RECURRENCE, inputs as never, a as never));
      expect(() => call(ok)).not.toThrow();
      expect(() => call({ ...ok, logDecay: tf.zeros([1, 2, 3, 4]) })).not.toThrow();
      expect(() => call({ ...ok, logDecay: tf.zeros([1, 2, 3, 2]) })).toThrow(TypeError);
      expect(() => call({ ...ok, logDecay: tf.zeros([1, 2, 3]) })).toThrow(/logDecay must be/);
      expect(() => call({ ...ok, k: tf.zeros([1, 2, 3, 5]) })).toThrow(TypeError);
      expect(() => call({ ...ok, s0: tf.zeros([1, 2, 5, 4]) })).toThrow(TypeError);
      expect(() => call({ ...ok, beta: undefined })).toThrow(/beta is missing/);
      expect(() => call({ ...ok, v: tf.zeros([1, 2, 3, 5], 'int32') })).toThrow(TypeError);
      expect(() => call(ok, { scale: Number.NaN, delta: true })).toThrow(RangeError);
      expect(() => call(ok, { scale: 1 })).toThrow(RangeError);
      tf.dispose(Object.values(ok));
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    const c = CASES[2]!;
    await on('native', () => run(c));
    await on('native', () => expectNoLeaks(() => run(c)));
  });
});
