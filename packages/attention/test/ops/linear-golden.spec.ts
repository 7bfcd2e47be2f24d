import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, type LinearAttentionOptions } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';
import { FORMS } from './linear-helpers';

// Fixture: tools/reference/attention/linear_reference.py (PyTorch, naive and sequential forms).
interface Case {
  name: string;
  shape: [number, number, number, number, number];
  causal: boolean;
  normalize: boolean;
  scale: number;
  decay?: number[];
  [key: string]: unknown;
}
const cases: Case[] = require('../fixtures/linear.json');
const tol = { atol: 3e-5, rtol: 1e-4 };

describe('linearAttention against PyTorch', () => {
  for (const c of cases) {
    for (const form of FORMS) {
      if (!c.causal && form === 'recurrent') continue;
      it(`${c.name} (${form})`, () => {
        tf.tidy(() => {
          const [b, h, t, dk, dv] = c.shape;
          const shapes: Record<string, number[]> = {
            q: [b, h, t, dk],
            k: [b, h, t, dk],
            v: [b, h, t, dv],
            gate: [b, h, t],
            kv0: [b, h, dk, dv],
            kSum0: [b, h, dk],
          };
          const names = Object.keys(shapes).filter((n) => c[n] !== undefined);
          const inputs = names.map((n) => tf.tensor(c[n] as number[], shapes[n]));
          const probe = tf.tensor(c.probe as number[], [b, h, t, dv]);
          const run = (...xs: tf.Tensor[]) => {
            const x = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
            const options: LinearAttentionOptions = {
              form,
              chunkSize: 4,
              causal: c.causal,
              normalize: c.normalize,
              scale: c.scale,
              decay: c.decay,
              gate: x.gate as tf.Tensor3D | undefined,
            };
            if (x.kv0) {
              options.initialState = { kv: x.kv0 as tf.Tensor4D };
              if (x.kSum0) options.initialState.kSum = x.kSum0 as tf.Tensor3D;
            }
            return linearAttention(
              x.q as tf.Tensor4D,
              x.k as tf.Tensor4D,
              x.v as tf.Tensor4D,
              options,
            );
          };
          const { output, state } = run(...inputs);
          expectClose(output, tf.tensor(c.output as number[], [b, h, t, dv]), tol);
          expectClose(state.kv, tf.tensor(c.kv as number[], [b, h, dk, dv]), tol);
          if (c.normalize) expectClose(state.kSum!, tf.tensor(c.kSum as number[], [b, h, dk]), tol);
          const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(run(...xs).output, probe)))(
            inputs,
          );
          names.forEach((n, i) => {
            expectClose(grads[i]!, tf.tensor(c[`grad_${n}`] as number[], shapes[n]), tol);
          });
        });
      });
    }
  }
});
