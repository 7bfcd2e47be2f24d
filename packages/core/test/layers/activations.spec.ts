import * as tf from '@tensorflow/tfjs-core';
import {
  RegistryError,
  activationNameSchema,
  builtinActivationNames,
  gelu,
  geluTanh,
  getActivation,
  registerActivation,
} from '@attnkit/core';
import {
  expectClose,
  expectNoLeaks,
  finiteDifferenceCheck,
  maxAbsDiff,
} from '@attnkit/core/testing';

describe('activations', () => {
  const x = tf.tensor1d([-2, -0.5, 0, 0.5, 2]);

  it('computes each built-in', () => {
    const v = [-2, -0.5, 0, 0.5, 2];
    const sig = (t: number) => 1 / (1 + Math.exp(-t));
    expectClose(
      getActivation('relu')(x),
      v.map((t) => Math.max(t, 0)),
    );
    expectClose(
      getActivation('relu2')(x),
      v.map((t) => Math.max(t, 0) ** 2),
    );
    expectClose(
      getActivation('squared-relu')(x),
      v.map((t) => Math.max(t, 0) ** 2),
    );
    expectClose(
      getActivation('silu')(x),
      v.map((t) => t * sig(t)),
      { atol: 1e-6 },
    );
    expectClose(getActivation('sigmoid')(x), v.map(sig), { atol: 1e-6 });
    expectClose(getActivation('tanh')(x), v.map(Math.tanh), { atol: 1e-6 });
    expectClose(getActivation('identity')(x), v);
    // GELU values from the closed form with erf(0.5/sqrt2)=0.3829249, erf(2/sqrt2)=0.9544997
    expectClose(
      getActivation('gelu')(tf.tensor1d([0.5, 2])),
      [0.5 * 0.5 * 1.3829249, 2 * 0.5 * 1.9544997],
      { atol: 1e-5 },
    );
  });

  it('has gradients matching finite differences', () => {
    for (const name of builtinActivationNames) {
      finiteDifferenceCheck((t) => getActivation(name)(t), [tf.tensor1d([-1.3, -0.4, 0.7, 1.9])]);
    }
  });

  it('gelu-tanh stays within 1e-3 of exact gelu and matches its closed form', () => {
    const grid = tf.linspace(-4, 4, 33);
    expect(maxAbsDiff(geluTanh(grid), gelu(grid))).toBeLessThan(1e-3);
    const t = 1.5;
    const inner = Math.sqrt(2 / Math.PI) * (t + 0.044715 * t ** 3);
    expectClose(geluTanh(tf.scalar(t)), 0.5 * t * (1 + Math.tanh(inner)), { atol: 1e-6 });
    grid.dispose();
  });

  it('lets users add one that configs can then name, and refuses unknown and duplicate names', () => {
    expect(activationNameSchema.safeParse('test-double').success).toBe(false);
    registerActivation('test-double', (t) => tf.mul(t, 2));
    expect(activationNameSchema.safeParse('test-double').success).toBe(true);
    expectClose(getActivation('test-double')(tf.tensor1d([1])), [2]);
    expect(() => registerActivation('gelu', (t) => t)).toThrow(RegistryError);
    expect(() => getActivation('swishy')).toThrow(/one of gelu, gelu-tanh/);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      for (const name of builtinActivationNames) getActivation(name)(x).dispose();
    });
  });
});
