import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, estimateConfig, type Module, type TokenMixer } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import '@attnkit/memory';
import type { MemoryTokens } from '@attnkit/memory';
import { checkGolden, goldenCases } from './golden';

type Mixer = Module & TokenMixer;
const d = 8;
const config = (extra: object = {}) => ({
  type: 'memory-tokens',
  dModel: d,
  numTokens: 3,
  mixer: { type: 'gqa', numHeads: 4, numKvHeads: 2 },
  ...extra,
});

/** The wrapped mixer's type alone, with the wrapper's mixer weights. */
function bare(m: MemoryTokens): Mixer {
  const plain = build<Mixer>({ ...m.mixer.config });
  plain.loadStateDict(m.mixer.stateDict());
  return plain;
}

describe('memory-tokens (Sukhbaatar et al. 2019, sec. 4.1)', () => {
  it.each(goldenCases('memory-tokens'))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => checkGolden(c),
  );

  it('equals the wrapped mixer given its keys/values as an explicit prefix, and joins a caller prefix after them', () => {
    const m = build<MemoryTokens>(config());
    const plain = bare(m);
    tf.tidy(() => {
      const x = tf.randomNormal([2, 5, d], 0, 1, 'float32', 3) as tf.Tensor3D;
      const own = { keys: m.keys as tf.Tensor4D, values: m.values as tf.Tensor4D };
      const y = m.forward(x, { causal: true });
      expectClose(y, plain.forward(x, { causal: true, prefix: own }), { atol: 1e-6 });
      // Without the prefix the wrapped mixer is another function: the tokens do something.
      expect(maxAbsDiff(y, plain.forward(x, { causal: true }))).toBeGreaterThan(1e-3);
      const extra = {
        keys: tf.randomNormal([2, 2, 2, 2], 0, 1, 'float32', 4) as tf.Tensor4D,
        values: tf.randomNormal([2, 2, 2, 2], 0, 1, 'float32', 5) as tf.Tensor4D,
      };
      const joined = {
        keys: tf.concat([tf.tile(own.keys, [2, 1, 1, 1]), extra.keys], 2) as tf.Tensor4D,
        values: tf.concat([tf.tile(own.values, [2, 1, 1, 1]), extra.values], 2) as tf.Tensor4D,
      };
      expectClose(
        m.forward(x, { causal: true, prefix: extra }),
        plain.forward(x, { causal: true, prefix: joined }),
        { atol: 1e-6 },
      );
    });
    m.dispose();
    plain.dispose();
  });

  it('decodes with the wrapped mixer’s cache: token by token equals the full forward', () => {
    const m = build<MemoryTokens>(config());
    tf.tidy(() => {
      const x = tf.randomNormal([2, 7, d], 0, 1, 'float32', 6) as tf.Tensor3D;
      const full = m.forward(x, { causal: true });
      const state = m.initState(2);
      const steps = tf.split(x, 7, 1).map((t) => m.forward(t as tf.Tensor3D, { state }));
      state.dispose();
      expectClose(tf.concat(steps, 1), full, { atol: 1e-5 });
    });
    m.dispose();
  });

  it('refuses a wrapped mixer without the prefix capability, and numTokens <= 0, with one-line typed errors', () => {
    const bad = [
      config({ mixer: { type: 'linear-attention', numHeads: 2 } }),
      config({ numTokens: 0 }),
      config({ numTokens: -2 }),
    ];
    for (const c of bad) {
      let error: unknown;
      try {
        build(c).dispose();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toMatch(/\n/);
    }
    expect(() => build(bad[0])).toThrow(/\$\.mixer\.type.*prefix.*'linear-attention'/);
    expect(() => build(bad[1])).toThrow(/numTokens/);
  });

  it('leaks nothing over a refused build, forward, backward and decoding', async () => {
    await expectNoLeaks(() => {
      expect(() => build(config({ mixer: { type: 'linear-attention', numHeads: 2 } }))).toThrow();
      const m = build<MemoryTokens>(config());
      const x = tf.randomNormal([1, 4, d]) as tf.Tensor3D;
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      const state = m.initState(1);
      m.forward(x, { state }).dispose();
      state.dispose();
      x.dispose();
      m.dispose();
    });
  });

  it.each([
    { type: 'mha', numHeads: 2 },
    { type: 'gqa', numHeads: 4, numKvHeads: 2 },
    { type: 'mqa', numHeads: 2 },
    { type: 'mha', numHeads: 2, headDim: 3, bias: true },
  ])('its estimate equals the parameters it builds around %j', (mixer) => {
    const c = config({ mixer });
    const m = build(c);
    expect(estimateConfig(c)!.parameters).toBe(m.numParams());
    m.dispose();
  });
});
