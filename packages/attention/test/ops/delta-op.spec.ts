import * as tf from '@tensorflow/tfjs-core';
import { deltaRule, type DeltaRuleForm, type DeltaRuleOptions } from '@attnkit/attention';
import { ConfigError, ShapeError } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { deltaInputs } from './delta-helpers';

const FORMS: DeltaRuleForm[] = ['chunk', 'recurrent'];

describe('deltaRule: errors', () => {
  const [B, H, T, DK, DV] = [1, 2, 3, 4, 5];
  const q = () => tf.zeros([B, H, T, DK]) as tf.Tensor4D;
  const v = () => tf.zeros([B, H, T, DV]) as tf.Tensor4D;
  const beta = () => tf.zeros([B, H, T]) as tf.Tensor3D;
  const withOptions = (o: () => object) => () =>
    deltaRule(q(), q(), v(), beta(), o() as DeltaRuleOptions);
  it.each([
    [
      'q rank',
      () => deltaRule(tf.zeros([H, T, DK]) as never, q(), v(), beta()),
      ShapeError,
      /^deltaRule: q expected rank 4, got rank 3 \[2,3,4\]$/,
    ],
    [
      'k shape',
      () => deltaRule(q(), tf.zeros([B, H, T, DK + 1]) as never, v(), beta()),
      ShapeError,
      /^deltaRule: k expected shape \[1,2,3,4\], got/,
    ],
    [
      'v time',
      () => deltaRule(q(), q(), tf.zeros([B, H, T + 1, DV]) as never, beta()),
      ShapeError,
      /^deltaRule: v expected shape \[1,2,3,\*?.*\]/,
    ],
    [
      'beta shape',
      () => deltaRule(q(), q(), v(), tf.zeros([B, H, T, 1]) as never),
      ShapeError,
      /^deltaRule: beta expected rank 3, got rank 4/,
    ],
    [
      'beta dtype',
      () => deltaRule(q(), q(), v(), tf.zeros([B, H, T], 'int32') as never),
      ShapeError,
      /^deltaRule: beta expected dtype float32/,
    ],
    ['form', withOptions(() => ({ form: 'parallel' })), ConfigError, /^deltaRule: form expected/],
    ['chunkSize', withOptions(() => ({ chunkSize: 0 })), ConfigError, /^deltaRule: chunkSize/],
    [
      'gate shape',
      withOptions(() => ({ gate: tf.zeros([B, H, T, DK]) })),
      ShapeError,
      /^deltaRule: gate expected shape \[1,2,3\]/,
    ],
    [
      'gate sign',
      withOptions(() => ({ gate: tf.fill([B, H, T], 0.5) })),
      ConfigError,
      /^deltaRule: gate expected log forget gates <= 0 \(finite\), got max 0\.5$/,
    ],
    [
      'gate NaN',
      withOptions(() => ({ gate: tf.fill([B, H, T], NaN) })),
      ConfigError,
      /^deltaRule: gate expected log forget gates <= 0/,
    ],
    [
      'initialState shape',
      withOptions(() => ({ initialState: tf.zeros([B, H, DV, DK]) })),
      ShapeError,
      /^deltaRule: initialState expected shape \[1,2,4,5\]/,
    ],
  ] as const)('%s', (_name, call, kind, message) => {
    tf.tidy(() => {
      expect(call).toThrow(kind);
      expect(call).toThrow(message);
    });
  });
});

describe('deltaRule: state in, state out', () => {
  const c = { name: '', b: 2, h: 2, t: 9, dk: 3, dv: 4, chunkSize: 2, gate: true, initial: true };
  it.each(FORMS)(
    '%s: two calls through the state equal one call over the whole sequence',
    (form) => {
      tf.tidy(() => {
        const x = deltaInputs(c);
        const cut = 5;
        const part = (name: string, start: number, n: number) =>
          tf.slice(x[name]!, [0, 0, start], [-1, -1, n]);
        const run = (start: number, n: number, s0: tf.Tensor4D) =>
          deltaRule(
            part('q', start, n) as tf.Tensor4D,
            part('k', start, n) as tf.Tensor4D,
            part('v', start, n) as tf.Tensor4D,
            part('beta', start, n) as tf.Tensor3D,
            { form, chunkSize: 2, gate: part('gate', start, n) as tf.Tensor3D, initialState: s0 },
          );
        const whole = run(0, c.t, x.s0 as tf.Tensor4D);
        const first = run(0, cut, x.s0 as tf.Tensor4D);
        const second = run(cut, c.t - cut, first.state);
        const joined = tf.concat([first.output, second.output], 2);
        expect(maxAbsDiff(joined, whole.output)).toBeLessThanOrEqual(1e-5);
        expect(maxAbsDiff(second.state, whole.state)).toBeLessThanOrEqual(1e-5);
      });
    },
  );

  it('without a gate, a key written with β = 1 is read back exactly (the delta rule overwrites)', () => {
    tf.tidy(() => {
      // Write v1 then v2 under the same unit key k: S holds v2 for k, not v1 + v2.
      const k = tf.tensor4d([1, 0, 0, 1, 0, 0], [1, 1, 2, 3]);
      const v = tf.tensor4d([1, 2, 5, -3], [1, 1, 2, 2]);
      for (const form of FORMS) {
        const r = deltaRule(k, k, v, tf.ones([1, 1, 2]) as tf.Tensor3D, { form, scale: 1 });
        expect(maxAbsDiff(r.output, tf.tensor4d([1, 2, 5, -3], [1, 1, 2, 2]))).toBeLessThan(1e-6);
      }
    });
  });
});

describe('deltaRule: memory and leaks', () => {
  function peakBytes(t: number): Promise<number> {
    const c = { name: '', b: 1, h: 1, t, dk: 16, dv: 16, chunkSize: 16, gate: true };
    const x = deltaInputs(c);
    const base = tf.memory().numBytes;
    return tf
      .profile(() => {
        const grads = tf.grads(
          (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b: tf.Tensor, g: tf.Tensor) =>
            tf.sum(
              deltaRule(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, b as tf.Tensor3D, {
                gate: g as tf.Tensor3D,
                chunkSize: 16,
              }).output,
            ),
        )([x.q!, x.k!, x.v!, x.beta!, x.gate!]);
        tf.dispose(grads);
      })
      .then((info) => {
        tf.dispose(Object.values(x));
        return info.peakBytes - base;
      });
  }

  it('chunk form, forward + backward: memory grows linearly in T (no [T, T] anywhere)', async () => {
    const one = await peakBytes(256);
    // Doubling T doubles it; a [T, T] term (or O(n²) slice gradients) would quadruple it.
    expect(await peakBytes(512)).toBeLessThan(2.2 * one);
  });

  it.each(FORMS)('%s: forward and backward free every intermediate', async (form) => {
    const c = { name: '', b: 1, h: 2, t: 5, dk: 3, dv: 2, chunkSize: 2, gate: true, initial: true };
    const x = deltaInputs(c);
    const names = Object.keys(x);
    await expectNoLeaks(() => {
      const run = (...a: tf.Tensor[]) =>
        deltaRule(
          a[0] as tf.Tensor4D,
          a[1] as tf.Tensor4D,
          a[2] as tf.Tensor4D,
          a[3] as tf.Tensor3D,
          {
            form,
            chunkSize: 2,
            gate: a[4] as tf.Tensor3D,
            initialState: a[5] as tf.Tensor4D,
          },
        );
      const r = run(...names.map((n) => x[n]!));
      tf.dispose([r.output, r.state]);
      const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(run(...a).output))(
        names.map((n) => x[n]!),
      );
      tf.dispose(grads);
    });
    tf.dispose(Object.values(x));
  });
});
