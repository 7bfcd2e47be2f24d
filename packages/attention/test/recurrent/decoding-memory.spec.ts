import * as tf from '@tensorflow/tfjs-core';
import { build, type IncrementalState, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention'; // registers the mixers
import type { HymbaState } from '@attnkit/attention';

type Mixer = Module & TokenMixer;

/**
 * Decoding memory is constant in the sequence length where the math says so (issue 13): the
 * state's bytes after 16 decoded tokens and after 1,024 are equal. The tokens are decoded one at a
 * time, except the middle stretch, fed 62 tokens a call to keep the spec fast.
 */
const configs: Record<string, object> = {
  mamba: { type: 'mamba', dModel: 8, dState: 4, form: 'sequential' },
  mamba2: { type: 'mamba2', dModel: 8, dState: 4, headDim: 4 },
  aaren: { type: 'aaren', dModel: 8, numHeads: 2 },
  // The SSM heads carry a fixed state; the attention heads a KV cache of at most `window` tokens.
  'hymba (window 4)': {
    type: 'hymba',
    dModel: 8,
    numHeads: 2,
    dState: 4,
    window: 4,
    metaTokens: 2,
    form: 'sequential',
  },
};

/** Bytes of the state after each of `steps` single-token calls, from where `state` stands. */
function stepBytes(m: Mixer, state: IncrementalState, steps: number): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < steps; i++) {
    tf.tidy(() => {
      m.forward(tf.randomNormal([1, 1, 8], 0, 1, 'float32', i) as tf.Tensor3D, { state });
    });
    bytes.push(state.bytes);
  }
  return bytes;
}

describe('decoding memory of the recurrent mixers', () => {
  it.each(Object.entries(configs))(
    '%s: the state bytes after 16 and 1,024 tokens are equal',
    (_n, config) => {
      const m = build<Mixer>(config);
      const state = m.initState!(1);
      const early = stepBytes(m, state, 16);
      for (let i = 0; i < 16; i++) {
        tf.tidy(() => {
          const x = tf.randomNormal([1, 62, 8], 0, 1, 'float32', 7 + i) as tf.Tensor3D;
          m.forward(x, { state });
        });
      }
      const late = stepBytes(m, state, 16);
      expect(state.length).toBe(1024);
      expect(early[15]).toBeGreaterThan(0);
      expect(late[15]).toBe(early[15]);
      expect(new Set(late).size).toBe(1); // flat while decoding, not only at the two ends
      state.dispose();
      m.dispose();
    },
    20_000, // ~4 s alone on a busy machine
  );

  it('hymba: the KV cache alone keeps the window; without a window it grows with the tokens', () => {
    const windowed = build<Mixer>(configs['hymba (window 4)']!);
    const global = build<Mixer>({ ...configs['hymba (window 4)']!, window: undefined });
    const bytes = (m: Mixer, tokens: number) => {
      const state = m.initState!(1) as HymbaState;
      stepBytes(m, state, tokens);
      const out = {
        ssm: state.ssm.bytes,
        cache: state.attention.bytes,
        kept: state.attention.positions.length,
      };
      state.dispose();
      return out;
    };
    const [a, b] = [bytes(windowed, 8), bytes(windowed, 40)];
    expect(b).toEqual(a);
    expect(b.kept).toBe(3); // the next query's own key makes the window's 4
    const [c, d] = [bytes(global, 8), bytes(global, 40)];
    expect(d.ssm).toBe(c.ssm);
    expect(d.cache).toBe(5 * c.cache); // linear in the tokens: 40 vs 8 keys
    windowed.dispose();
    global.dispose();
  });
});
