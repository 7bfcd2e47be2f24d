import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import { deltaRule, type DeltaRuleForm } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/delta_reference.py (PyTorch float64 loops over time of the
// papers' recurrence S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ).
interface OpCase {
  name: string;
  shape: [number, number, number, number, number];
  chunkSize: number;
  inputs: Record<string, number[]>;
  p1: number[];
  p2: number[];
  output: number[];
  state: number[];
  grads: Record<string, number[]>;
}
interface MixerCase {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  gradWeights: Record<string, number[]>;
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/delta.json'), 'utf8'),
) as { ops: OpCase[]; mixers: MixerCase[] };

const TOL = { atol: 3e-5, rtol: 1e-4 };
type Mixer = Module & TokenMixer;

describe('deltaRule against the PyTorch recurrence', () => {
  const forms: DeltaRuleForm[] = ['chunk', 'recurrent'];
  for (const c of fixture.ops) {
    it.each(forms)(`${c.name} (%s): output, state and every input gradient`, (form) => {
      tf.tidy(() => {
        const [b, h, t, dk, dv] = c.shape;
        const shapes: Record<string, number[]> = {
          q: [b, h, t, dk],
          k: [b, h, t, dk],
          v: [b, h, t, dv],
          beta: [b, h, t],
          gate: [b, h, t],
          s0: [b, h, dk, dv],
        };
        const names = Object.keys(c.inputs);
        const x = names.map((n) => tf.tensor(c.inputs[n]!, shapes[n]));
        const p1 = tf.tensor(c.p1, [b, h, t, dv]);
        const p2 = tf.tensor(c.p2, [b, h, dk, dv]);
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
        const r = call(...x);
        expectClose(r.output, tf.tensor(c.output, [b, h, t, dv]), TOL);
        expectClose(r.state, tf.tensor(c.state, [b, h, dk, dv]), TOL);
        const grads = tf.grads((...args: tf.Tensor[]) => {
          const out = call(...args);
          return tf.add(tf.sum(tf.mul(out.output, p1)), tf.sum(tf.mul(out.state, p2))) as tf.Scalar;
        })(x);
        names.forEach((n, i) => expectClose(grads[i]!, tf.tensor(c.grads[n]!, shapes[n]), TOL));
      });
    });
  }
});

function load(c: MixerCase, extra: object): Mixer {
  const m = build<Mixer>({ ...c.config, ...extra });
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  return m;
}

/** Token-by-token decoding through the mixer's state (the op's recurrent form). */
function decode(m: Mixer, x: tf.Tensor3D): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const state = m.initState!(b);
  const steps: tf.Tensor3D[] = [];
  for (let i = 0; i < t; i++) steps.push(m.forward(tf.slice(x, [0, i, 0], [b, 1, d]), { state }));
  state.dispose();
  return tf.concat(steps, 1);
}

describe('deltanet and gated-deltanet against the PyTorch layer', () => {
  const forms = [
    ['chunk, chunkSize 3', { chunkSize: 3 }],
    ['chunk, one chunk', {}],
    ['recurrent', { form: 'recurrent' }],
  ] as const;
  for (const c of fixture.mixers) {
    it.each(forms.map(([n, e]) => [n, e] as const))(
      `${c.name} (%s): output, input gradient and small weights' gradients`,
      (_n, extra) => {
        const m = load(c, extra);
        tf.tidy(() => {
          const x = tf.tensor3d(c.x, c.shape);
          const probe = tf.tensor3d(c.probe, c.shape);
          expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), TOL);
          const gradX = tf.grad((input: tf.Tensor) =>
            tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
          )(x);
          expectClose(gradX, tf.tensor3d(c.gradX, c.shape), TOL);
          const { grads } = tf.variableGrads(
            () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar,
          );
          const params = Object.fromEntries(m.namedParameters());
          for (const [name, want] of Object.entries(c.gradWeights)) {
            const g = grads[params[name]!.name]!;
            expectClose(g, tf.tensor(want, g.shape), TOL);
          }
          expectClose(decode(m, x), tf.tensor3d(c.y, c.shape), TOL);
        });
        m.dispose();
      },
    );
  }
});
