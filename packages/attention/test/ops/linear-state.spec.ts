import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, type LinearAttentionOptions } from '@attnkit/attention';
import { maxAbsDiff } from '@attnkit/core/testing';
import { FORMS, logSigmoidGate, positive, randn } from './linear-helpers';

const TOL = 1e-4;
const [B, H, T, DK, DV] = [2, 2, 9, 3, 4];

/** Slices time [start, start + n) of a [b, h, t, ...] tensor. */
const span = (x: tf.Tensor, start: number, n: number) =>
  tf.slice(x, [0, 0, start], [-1, -1, n]) as tf.Tensor4D;

const SETTINGS: [string, Partial<LinearAttentionOptions>, boolean][] = [
  ['plain', {}, false],
  ['normalize + decay + gate', { normalize: true, decay: [0.8, 0.97] }, true],
];

describe('linearAttention: state threading', () => {
  for (const [label, extra, gated] of SETTINGS) {
    for (const form of FORMS) {
      it(`${label}, ${form}: two calls threading the state equal one call`, () => {
        tf.tidy(() => {
          const [q, k] = [positive([B, H, T, DK], 1), positive([B, H, T, DK], 2)];
          const v = randn([B, H, T, DV], 3);
          const gate = gated ? logSigmoidGate([B, H, T], 4) : undefined;
          const options = { ...extra, form, chunkSize: 2 };
          const whole = linearAttention(q, k, v, { ...options, gate });
          const cut = 5;
          const first = linearAttention(span(q, 0, cut), span(k, 0, cut), span(v, 0, cut), {
            ...options,
            gate: gate && (tf.slice(gate, [0, 0, 0], [-1, -1, cut]) as tf.Tensor3D),
          });
          const rest = T - cut;
          const second = linearAttention(
            span(q, cut, rest),
            span(k, cut, rest),
            span(v, cut, rest),
            {
              ...options,
              gate: gate && (tf.slice(gate, [0, 0, cut], [-1, -1, rest]) as tf.Tensor3D),
              initialState: first.state,
            },
          );
          const joined = tf.concat([first.output, second.output], 2);
          expect(maxAbsDiff(joined, whole.output)).toBeLessThanOrEqual(TOL);
          expect(maxAbsDiff(second.state.kv, whole.state.kv)).toBeLessThanOrEqual(TOL);
          if (extra.normalize) {
            expect(maxAbsDiff(second.state.kSum!, whole.state.kSum!)).toBeLessThanOrEqual(TOL);
          }
        });
      });
    }

    it(`${label}: decoding one token at a time (recurrent) equals the parallel form`, () => {
      tf.tidy(() => {
        const [q, k] = [positive([B, H, T, DK], 5), positive([B, H, T, DK], 6)];
        const v = randn([B, H, T, DV], 7);
        const gate = gated ? logSigmoidGate([B, H, T], 8) : undefined;
        const whole = linearAttention(q, k, v, { ...extra, gate, form: 'parallel' });
        let state: LinearAttentionOptions['initialState'];
        const outputs: tf.Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const step = linearAttention(span(q, t, 1), span(k, t, 1), span(v, t, 1), {
            ...extra,
            form: 'recurrent',
            gate: gate && (tf.slice(gate, [0, 0, t], [-1, -1, 1]) as tf.Tensor3D),
            initialState: state,
          });
          outputs.push(step.output);
          state = step.state;
        }
        expect(maxAbsDiff(tf.concat(outputs, 2), whole.output)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(state!.kv, whole.state.kv)).toBeLessThanOrEqual(TOL);
      });
    });
  }
});

describe('linearAttention: causal: false (encoder form)', () => {
  it('every token reads the whole sequence: out_t = q_t S_T, parallel and chunk agree with gradients', () => {
    tf.tidy(() => {
      const [q, k] = [positive([B, H, T, DK], 9), positive([B, H, T, DK], 10)];
      const v = randn([B, H, T, DV], 11);
      const causalState = linearAttention(q, k, v, { form: 'parallel' }).state.kv;
      const expected = tf.matMul(q, causalState);
      const grads = (form: 'parallel' | 'chunk') =>
        tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(
            tf.square(
              linearAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
                form,
                causal: false,
              }).output,
            ),
          ),
        )([q, k, v]);
      for (const form of ['parallel', 'chunk'] as const) {
        const out = linearAttention(q, k, v, { form, causal: false, chunkSize: 4 });
        expect(maxAbsDiff(out.output, expected)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(out.state.kv, causalState)).toBeLessThanOrEqual(TOL);
      }
      const [gp, gc] = [grads('parallel'), grads('chunk')];
      gp.forEach((g, i) => expect(maxAbsDiff(g, gc[i]!)).toBeLessThanOrEqual(TOL));
      // Normalised, it is a weighted mean of the values: weights sum to one.
      const normed = linearAttention(q, k, tf.ones([B, H, T, 1]) as tf.Tensor4D, {
        causal: false,
        normalize: true,
        eps: 0,
      });
      expect(maxAbsDiff(normed.output, tf.onesLike(normed.output))).toBeLessThanOrEqual(1e-5);
    });
  });
});
