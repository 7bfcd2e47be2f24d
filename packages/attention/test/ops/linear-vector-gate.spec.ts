import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, ConfigError } from '@attnkit/core';
import { linearAttention } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { FORMS, caseInputs, randn, runCase, type Case } from './linear-helpers';

const TOL = 1e-4;

/** Per-key-dimension log decays log σ(x + shift), the GLA gate (shift sets how fast it forgets). */
const vectorGate = (shape: number[], seed: number, shift = 2) =>
  tf.tidy(() => tf.logSigmoid(tf.add(randn(shape, seed), shift)));

const CASES: (Case & { shift?: number })[] = [
  { name: 'vector gate', b: 2, h: 2, t: 9, dk: 3, dv: 5, chunkSize: 4 },
  {
    name: 'vector gate with decay, normalize, initial state and scale',
    b: 2,
    h: 2,
    t: 10,
    dk: 4,
    dv: 3,
    normalize: true,
    decay: [0.95, 0.8],
    initial: true,
    scale: 0.5,
    chunkSize: 4,
  },
  {
    name: 'vector gate, decay tensor',
    b: 1,
    h: 2,
    t: 6,
    dk: 3,
    dv: 3,
    decay: 'tensor',
    chunkSize: 4,
  },
  { name: 'vector gate, chunk larger than T', b: 1, h: 1, t: 5, dk: 2, dv: 3, chunkSize: 64 },
  {
    name: 'vector gate, chunk of one',
    b: 1,
    h: 2,
    t: 4,
    dk: 2,
    dv: 3,
    initial: true,
    chunkSize: 1,
  },
  // log σ(x - 6) ≈ -6 per step: cumulative products underflow float32 within a chunk; the
  // log-space form never divides by one.
  {
    name: 'vector gate, fast forgetting',
    b: 1,
    h: 2,
    t: 24,
    dk: 3,
    dv: 2,
    chunkSize: 16,
    shift: -6,
  },
];

function inputs(c: Case & { shift?: number }, seed = 0): Record<string, tf.Tensor> {
  const x = caseInputs({ ...c, gate: false }, seed);
  x.gate = vectorGate([c.b, c.h, c.t, c.dk], seed + 4, c.shift ?? 2);
  return x;
}

describe('linearAttention with a per-key-dimension gate [b, h, t, dk] (GLA)', () => {
  for (const c of CASES) {
    it(`${c.name}: parallel == chunk == recurrent (outputs, state, gradients <= 1e-4)`, () => {
      tf.tidy(() => {
        const x = inputs(c);
        const [ref, ...others] = FORMS.map((form) => runCase(c, x, form));
        expect(ref!.output.shape).toEqual([c.b, c.h, c.t, c.dv]);
        expect(ref!.state.kv.shape).toEqual([c.b, c.h, c.dk, c.dv]);
        for (const other of others) {
          expect(maxAbsDiff(other.output, ref!.output)).toBeLessThanOrEqual(TOL);
          expect(maxAbsDiff(other.state.kv, ref!.state.kv)).toBeLessThanOrEqual(TOL);
          if (c.normalize) {
            expect(maxAbsDiff(other.state.kSum!, ref!.state.kSum!)).toBeLessThanOrEqual(TOL);
          }
          for (const name of Object.keys(x)) {
            const g = other.gradients[name]!;
            expect(g.shape).toEqual(x[name]!.shape);
            expect(maxAbsDiff(g, ref!.gradients[name]!)).toBeLessThanOrEqual(TOL);
          }
        }
        for (const name of Object.keys(x)) {
          const grad = ref!.gradients[name]!;
          expect(tf.all(tf.isFinite(grad)).dataSync()[0]).toBe(1);
          expect(tf.max(tf.abs(grad)).dataSync()[0]).toBeGreaterThan(1e-3);
        }
      });
    });
  }

  it('a gate equal across key dimensions gives the scalar gate (outputs and gradients)', () => {
    tf.tidy(() => {
      const c: Case = { name: 'same', b: 1, h: 2, t: 7, dk: 3, dv: 2, chunkSize: 3, gate: true };
      const x = caseInputs(c, 7);
      const scalar = runCase(c, x, 'chunk');
      const spread = { ...x, gate: tf.tile(tf.expandDims(x.gate!, 3), [1, 1, 1, c.dk]) };
      const vector = runCase(c, spread, 'chunk');
      expect(maxAbsDiff(vector.output, scalar.output)).toBeLessThanOrEqual(TOL);
      for (const name of ['q', 'k', 'v']) {
        expect(maxAbsDiff(vector.gradients[name]!, scalar.gradients[name]!)).toBeLessThanOrEqual(
          TOL,
        );
      }
      // The scalar gate's gradient is the sum of the spread gate's over dk.
      const summed = tf.sum(vector.gradients.gate!, 3);
      expect(maxAbsDiff(summed, scalar.gradients.gate!)).toBeLessThanOrEqual(TOL);
    });
  });

  it('continuing from the returned state equals one call, in every form', () => {
    tf.tidy(() => {
      const [b, h, t, dk, dv] = [1, 2, 9, 3, 2];
      const q = randn([b, h, t, dk], 1);
      const k = randn([b, h, t, dk], 2);
      const v = randn([b, h, t, dv], 3);
      const gate = vectorGate([b, h, t, dk], 4);
      const part = (x: tf.Tensor, s: number, n: number) =>
        tf.slice(x, [0, 0, s, 0], [b, h, n, -1]) as tf.Tensor4D;
      const full = linearAttention(q, k, v, { gate, form: 'parallel' });
      for (const form of FORMS) {
        const first = linearAttention(part(q, 0, 5), part(k, 0, 5), part(v, 0, 5), {
          gate: part(gate, 0, 5),
          form,
          chunkSize: 2,
        });
        const rest = linearAttention(part(q, 5, 4), part(k, 5, 4), part(v, 5, 4), {
          gate: part(gate, 5, 4),
          form,
          chunkSize: 2,
          initialState: first.state,
        });
        const joined = tf.concat([first.output, rest.output], 2);
        expect(maxAbsDiff(joined, full.output)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(rest.state.kv, full.state.kv)).toBeLessThanOrEqual(TOL);
      }
    });
  });

  it('refuses a gate of the wrong shape or sign, naming both accepted shapes', () => {
    const q = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    const v = tf.zeros([1, 2, 3, 5]) as tf.Tensor4D;
    const run = (gate: tf.Tensor) => () => linearAttention(q, q, v, { gate });
    expect(run(tf.zeros([1, 2, 3, 5]))).toThrow(ShapeError);
    expect(run(tf.zeros([1, 2, 3, 5]))).toThrow(
      /linearAttention: gate expected shape \[1,2,3\] or \[1,2,3,4\], got shape \[1,2,3,5\]/,
    );
    expect(run(tf.fill([1, 2, 3, 4], 0.2))).toThrow(ConfigError);
    expect(run(tf.fill([1, 2, 3, 4], 0.2))).toThrow(/gate expected log decays <= 0/);
    tf.dispose([q, v]);
  });

  it('leaks nothing in any form, forward and backward', async () => {
    const c = CASES[1]!;
    const x = inputs(c, 3);
    await expectNoLeaks(() => {
      for (const form of FORMS) {
        const r = runCase(c, x, form);
        tf.dispose([r.output, r.state.kv, r.state.kSum!, ...Object.values(r.gradients)]);
      }
    });
    tf.dispose(Object.values(x));
  });

  it('the chunk form keeps forward + backward memory linear in T', async () => {
    // Only the chunk form: the parallel reference builds [T, T, dk] by design (and is slow here).
    const peakBytes = async (t: number) => {
      const [q, k, v] = [1, 2, 3].map((seed) => randn([1, 1, t, 8], seed, 0.3));
      const gate = vectorGate([1, 1, t, 8], 4);
      const base = tf.memory().numBytes;
      const info = await tf.profile(() => {
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, g: tf.Tensor) =>
          tf.sum(
            linearAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
              form: 'chunk',
              gate: g,
              chunkSize: 16,
              checkValues: false,
            }).output,
          ),
        )([q!, k!, v!, gate]);
        tf.dispose(grads);
      });
      tf.dispose([q!, k!, v!, gate]);
      return info.peakBytes - base;
    };
    const t = 256;
    const chunk = await peakBytes(t);
    expect(chunk).toBeLessThan((t * t * 8 * 4) / 4); // a quarter of one [T, T, dk] float32
    // Doubling T doubles the chunk form's memory at most (a [T, T] term would quadruple it).
    expect(await peakBytes(2 * t)).toBeLessThan(2.5 * chunk);
  });
});
