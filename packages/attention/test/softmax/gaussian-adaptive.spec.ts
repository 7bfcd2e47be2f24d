import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import type { GaussianAdaptiveAttention } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, mixerContract, parameterGradients, perturb, randomInput } from '../helpers';

describe('Gaussian adaptive attention (GAAM)', () => {
  describe('contract (feature axis: per token, causal, decodes)', () => {
    mixerContract({ type: 'gaam', numGaussians: 2 }, { prepare: (m) => perturb(m) });
    mixerContract(
      { type: 'gaam', numGaussians: 3, mixture: 'sum' },
      { prepare: (m) => perturb(m) },
    );
  });

  it("axis 'time' mixes the sequence: every output depends on every token", () => {
    const m = makeMixer<GaussianAdaptiveAttention>({ type: 'gaam', axis: 'time' });
    const a = randomInput(5, 1);
    const b = tf.concat([tf.slice(a, [0, 0, 0], [-1, 4, -1]), randomInput(1, 7)], 1) as tf.Tensor3D;
    const first = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [-1, 1, -1]);
    expect(maxAbsDiff(first(m.forward(a)), first(m.forward(b)))).toBeGreaterThan(1e-4);
    for (const [name, g] of parameterGradients(m, a)) expect([name, g > 0]).toEqual([name, true]);
    m.dispose();
  });

  it('weights are positive and sum to one along the axis; output = x ⊙ weights', () => {
    const x = randomInput(5);
    for (const axis of ['feature', 'time'] as const) {
      const m = makeMixer<GaussianAdaptiveAttention>({ type: 'gaam', axis, numGaussians: 2 });
      perturb(m);
      const y = m.forward(x);
      const w = tf.div(y, x);
      const heads = tf.reshape(w, [2, 5, 4, 4]);
      const sums = tf.sum(heads, axis === 'feature' ? 3 : 1);
      expectClose(sums, tf.onesLike(sums), { atol: 1e-4 });
      expect(tf.min(w).dataSync()[0]).toBeGreaterThan(0);
      m.dispose();
    }
  });

  it("axis 'time' is bidirectional only and cannot decode", async () => {
    const m = makeMixer({ type: 'gaam', axis: 'time' });
    expect(() => m.initState!(2)).toThrow(
      "gaam: axis expected 'feature' to decode (axis 'time' reads the whole sequence), got 'time'",
    );
    expect(() => m.forward(randomInput(3), { causal: true })).toThrow(/context.causal/);
    expect(() => m.forward(randomInput(3), { mask: tf.ones([3, 3], 'bool') })).toThrow(ConfigError);
    expect(() => m.forward(randomInput(1))).toThrow(
      /gaussianAdaptiveAttention: x expected at least 2 entries along axis 2/,
    );
    const x = randomInput(3);
    await expectNoLeaks(() => m.forward(x).dispose());
    m.dispose();
  });

  it('rejects bad configs naming block, argument and values', () => {
    expect(() => makeMixer({ type: 'gaam', numHeads: 3 })).toThrow(
      'gaam: numHeads expected a divisor of dModel=16, got 3',
    );
    expect(() => makeMixer({ type: 'gaam', numHeads: 16 })).toThrow(
      /gaam: numHeads expected at most dModel\/2=8/,
    );
    expect(() => makeMixer({ type: 'gaam', mixture: 'max' })).toThrow(/\$\.mixture/);
    expect(() => makeMixer({ type: 'gaam', initialScale: 0 })).toThrow(/\$\.initialScale/);
    const m = makeMixer({ type: 'gaam' });
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    m.dispose();
  });
});
