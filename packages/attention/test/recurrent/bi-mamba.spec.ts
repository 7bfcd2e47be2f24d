import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention';
import { maxAbsDiff } from '@attnkit/core/testing';

type Mixer = Module & TokenMixer;
const config = { type: 'bi-mamba', dModel: 8, dState: 4, expand: 2, dtRank: 2, chunkSize: 3 };

/** Mamba built with bi-mamba's shared projections and one direction's SSM weights. */
function direction(bi: Mixer, prefix: 'forwardSsm' | 'backwardSsm'): Mixer {
  const m = build<Mixer>({ ...config, type: 'mamba' });
  const weights = Object.entries(bi.stateDict()).flatMap(([name, value]) => {
    if (name.startsWith('inProj.') || name.startsWith('outProj.')) return [[name, value]];
    if (name.startsWith(`${prefix}.`)) return [[name.slice(prefix.length + 1), value]];
    return [];
  });
  m.loadStateDict(Object.fromEntries(weights));
  return m;
}

describe('bi-mamba', () => {
  it('is the forward Mamba plus the time-reversed backward Mamba (shared in/out projections)', () => {
    tf.tidy(() => {
      const bi = build<Mixer>(config);
      const [ahead, back] = [direction(bi, 'forwardSsm'), direction(bi, 'backwardSsm')];
      const x = tf.randomNormal([2, 7, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
      // out((y_f + y_b) ⊙ SiLU(z)) = out(y_f ⊙ SiLU(z)) + out(y_b ⊙ SiLU(z)): out has no bias.
      const expected = tf.add(
        ahead.forward(x),
        tf.reverse(back.forward(tf.reverse(x, 1) as tf.Tensor3D), 1),
      );
      expect(maxAbsDiff(bi.forward(x), expected)).toBeLessThan(1e-5);
      [bi, ahead, back].forEach((m) => m.dispose());
    });
  });

  it('every output sees the whole input: the last token changes the first output', () => {
    tf.tidy(() => {
      const bi = build<Mixer>(config);
      const x = tf.randomNormal([1, 6, 8], 0, 1, 'float32', 2) as tf.Tensor3D;
      const changed = tf.concat([tf.slice(x, 0, [1, 5]), tf.ones([1, 1, 8])], 1) as tf.Tensor3D;
      const first = (y: tf.Tensor) => tf.slice(y, 0, [1, 1]);
      expect(maxAbsDiff(first(bi.forward(x)), first(bi.forward(changed)))).toBeGreaterThan(1e-4);
      bi.dispose();
    });
  });

  it('chunked and sequential scans agree: outputs and every gradient ≤ 1e-4', () => {
    tf.tidy(() => {
      const chunk = build<Mixer>(config);
      const sequential = build<Mixer>({ ...config, form: 'sequential' });
      sequential.loadStateDict(chunk.stateDict());
      const x = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
      const probe = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 4);
      expect(maxAbsDiff(chunk.forward(x), sequential.forward(x))).toBeLessThan(1e-4);
      const loss = (m: Mixer) => () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
      const a = tf.variableGrads(loss(chunk));
      const b = tf.variableGrads(loss(sequential));
      const other = sequential.namedParameters();
      for (const [name, v] of chunk.namedParameters()) {
        const diff = maxAbsDiff(a.grads[v.name]!, b.grads[other.get(name)!.name]!);
        if (!(diff <= 1e-4)) throw new Error(`${name}: gradients differ by ${diff}`);
      }
      chunk.dispose();
      sequential.dispose();
    });
  });

  it('is encoder only: causal use and decoding are refused with ConfigError', () => {
    const bi = build<Mixer>(config);
    expect(bi.capabilities).toMatchObject({
      causal: 'never',
      decoding: false,
      stateGrowth: 'none',
    });
    tf.tidy(() => {
      const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
      expect(() => bi.forward(x, { causal: true })).toThrow(ConfigError);
      expect(() => bi.forward(x, { causal: true })).toThrow(/context\.causal/);
      expect(() => bi.initState!(1)).toThrow(ConfigError);
      expect(() => bi.initState!(1)).toThrow(/initState/);
    });
    bi.dispose();
  });

  it.each([
    [{ dtMin: 0.2, dtMax: 0.1 }, /dtMax/],
    [{ form: 'parallel' }, /form/],
    [{ dState: 0 }, /dState/],
  ])('refuses %j naming the field', (extra, field) => {
    expect(() => build({ ...config, ...extra })).toThrow(ConfigError);
    expect(() => build({ ...config, ...extra })).toThrow(field);
  });
});
