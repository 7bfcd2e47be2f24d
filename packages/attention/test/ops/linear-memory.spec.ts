import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, type LinearAttentionForm } from '@attnkit/attention';
import { expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import { FORMS, logSigmoidGate, positive, randn } from './linear-helpers';

describe('linearAttention: chunk form memory', () => {
  // Peak bytes of forward + backward over the bytes alive before it.
  function peakBytes(form: LinearAttentionForm, t: number): Promise<number> {
    const [q, k] = [randn([1, 1, t, 16], 1, 0.3), randn([1, 1, t, 16], 2, 0.3)];
    const v = randn([1, 1, t, 16], 3);
    const gate = logSigmoidGate([1, 1, t], 4);
    const base = tf.memory().numBytes;
    return tf
      .profile(() => {
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, g: tf.Tensor) =>
          tf.sum(
            linearAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
              form,
              gate: g as tf.Tensor3D,
              chunkSize: 32,
            }).output,
          ),
        )([q, k, v, gate]);
        tf.dispose(grads);
      })
      .then((info) => {
        tf.dispose([q, k, v, gate]);
        return info.peakBytes - base;
      });
  }

  it('forward + backward at T=512 stays below one [T, T] matrix and grows linearly in T', async () => {
    const t = 512;
    const square = t * t * 4;
    const chunk = await peakBytes('chunk', t);
    const parallel = await peakBytes('parallel', t);
    expect(parallel).toBeGreaterThan(square); // the reference really materialises [T, T]
    expect(chunk).toBeLessThan(square);
    expect(chunk * 8).toBeLessThan(parallel);
    // Doubling T doubles the chunk form's memory (a [T, T] anywhere would quadruple it).
    expect(await peakBytes('chunk', 2 * t)).toBeLessThan(2.5 * chunk);
  });
});

describe('linearAttention: leaks', () => {
  const [B, H, T, DK, DV] = [1, 2, 5, 3, 2];
  for (const form of FORMS) {
    for (const normalize of [false, true]) {
      it(`${form}${normalize ? ', normalize' : ''}: forward and backward free every intermediate`, async () => {
        const q = positive([B, H, T, DK], 1);
        const k = positive([B, H, T, DK], 2);
        const v = randn([B, H, T, DV], 3);
        const gate = logSigmoidGate([B, H, T], 4);
        const decay = tf.tensor1d([0.9, 0.7]);
        const kv = randn([B, H, DK, DV], 5);
        const kSum = positive([B, H, DK], 6);
        const inputs = [q, k, v, gate, decay, kv, kSum];
        const run = (xs: tf.Tensor[]) =>
          linearAttention(xs[0] as tf.Tensor4D, xs[1] as tf.Tensor4D, xs[2] as tf.Tensor4D, {
            form,
            normalize,
            chunkSize: 2,
            gate: xs[3] as tf.Tensor3D,
            decay: xs[4],
            initialState: normalize
              ? { kv: xs[5] as tf.Tensor4D, kSum: xs[6] as tf.Tensor3D }
              : { kv: xs[5] as tf.Tensor4D },
          });
        await expectNoLeaks(() => {
          const { output, state } = run(inputs);
          tf.dispose([output, state.kv, state.kSum!].filter(Boolean));
        });
        const used = normalize ? inputs : inputs.slice(0, 6);
        await expectNoLeaks(() => {
          const grads = tf.grads((...xs: tf.Tensor[]) => {
            const { output, state } = run([...xs, kSum]);
            return tf.add(tf.sum(output), tf.sum(state.kv));
          })(used);
          tf.dispose(grads);
        });
        if (!normalize) {
          // Bidirectional forms too.
          if (form !== 'recurrent') {
            await expectNoLeaks(() => {
              const grads = tf.grads((a: tf.Tensor) =>
                tf.sum(linearAttention(a as tf.Tensor4D, k, v, { form, causal: false }).output),
              )([q]);
              tf.dispose(grads);
            });
          }
        }
        tf.dispose(inputs);
      });
    }
  }
});

describe('linearAttention: the chunk form custom gradient against finite differences', () => {
  it('q, k, v, gate, initial kv and kSum (normalize, decay, chunk 2 not dividing T = 5)', () => {
    tf.tidy(() => {
      const [B, H, T, DK, DV] = [1, 2, 5, 2, 2];
      const inputs = [
        positive([B, H, T, DK], 11),
        positive([B, H, T, DK], 12),
        randn([B, H, T, DV], 13),
        tf.sub(logSigmoidGate([B, H, T], 14), 0.1),
        randn([B, H, DK, DV], 15, 0.5),
        positive([B, H, DK], 16),
      ];
      const f = (...xs: tf.Tensor[]) => {
        const { output, state } = linearAttention(
          xs[0] as tf.Tensor4D,
          xs[1] as tf.Tensor4D,
          xs[2] as tf.Tensor4D,
          {
            form: 'chunk',
            chunkSize: 2,
            normalize: true,
            decay: [0.9, 0.8],
            gate: xs[3] as tf.Tensor3D,
            checkValues: false, // a finite-difference step may cross 0
            initialState: { kv: xs[4] as tf.Tensor4D, kSum: xs[5] as tf.Tensor3D },
          },
        );
        return tf.concat([
          tf.reshape(output, [-1]),
          tf.reshape(state.kv, [-1]),
          tf.reshape(state.kSum!, [-1]),
        ]);
      };
      const error = finiteDifferenceCheck(f, inputs, { epsilon: 1e-2, atol: 3e-3, rtol: 2e-2 });
      expect(error).toBeLessThan(3e-3);
    });
  });
});
