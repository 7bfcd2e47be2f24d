import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, State, build, type Module, type TokenMixer } from '@attnkit/core';
import { HyperAttention, type HyperAttentionConfig } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

const make = (extra: Partial<HyperAttentionConfig> = {}, seed = 3) =>
  new HyperAttention(
    { type: 'hyper-attention', dModel: 8, numHeads: 2, blockSize: 3, sampleSize: 4, ...extra },
    { rng: new Rng(seed) },
  );
const input = (t: number) => tf.randomNormal([2, t, 8], 0, 1, 'float32', 2) as tf.Tensor3D;

describe('hyper-attention (Han et al. 2023)', () => {
  it('with blockSize >= T it is bidirectional multi-head softmax attention (same weights)', () => {
    const hyper = make({ blockSize: 16 });
    const mha = build<Module & TokenMixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: false });
    mha.loadStateDict(hyper.stateDict());
    const x = input(9);
    expect(maxAbsDiff(hyper.forward(x), mha.forward(x))).toBeLessThanOrEqual(1e-5);
    // Small blocks approximate it: close, not equal.
    const small = make({ blockSize: 2, sampleSize: 0 });
    small.loadStateDict(hyper.stateDict());
    const gap = maxAbsDiff(small.forward(x), mha.forward(x));
    expect(gap).toBeGreaterThan(1e-4);
    [hyper, mha, small].forEach((m) => m.dispose());
  });

  it('is deterministic given its seed (LSH directions and sample), and the seed matters', () => {
    const x = input(9);
    const a = make({ seed: 1 });
    const b = make({ seed: 1 }, 8);
    b.loadStateDict(a.stateDict());
    const other = make({ seed: 2 }, 8);
    other.loadStateDict(a.stateDict());
    expect(maxAbsDiff(a.forward(x), a.forward(x))).toBe(0);
    expect(maxAbsDiff(a.forward(x), b.forward(x))).toBe(0);
    expect(a.samplesFor(9)).toEqual(b.samplesFor(9));
    expect(a.samplesFor(9).every((j) => j >= 0 && j < 9)).toBe(true);
    expect(maxAbsDiff(a.forward(x), other.forward(x))).toBeGreaterThan(1e-6);
    [a, b, other].forEach((m) => m.dispose());
  });

  it('is bidirectional only: causal use and decoding are refused with typed errors', async () => {
    const x = input(3);
    await expectNoLeaks(() => {
      const m = make();
      expect(m.capabilities).toMatchObject({ causal: 'never', decoding: false });
      expect(() => m.forward(x, { causal: true })).toThrow(/never causal/);
      expect(() => m.forward(x, { state: new State() })).toThrow(/cannot decode/);
      m.dispose();
    });
    expect(() => make({ causal: true } as never)).toThrow(ConfigError);
    expect(() => make({ hashBits: 17 })).toThrow(/hashBits/);
    expect(() => make({ blockSize: 0 })).toThrow(/blockSize/);
    expect(() => make({ sampleSize: -1 })).toThrow(/sampleSize/);
  });
});
