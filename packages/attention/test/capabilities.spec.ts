import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  checkMixerContext,
  requireCapabilities,
  type AttentionWeightsInfo,
  type MixerCapabilities,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, randomInput } from './helpers';

const caps = (c: Record<string, unknown>): MixerCapabilities => {
  const m = makeMixer(c);
  const out = m.capabilities!;
  m.dispose();
  return out;
};

describe('mixer capabilities', () => {
  it('are declared from the config', () => {
    expect(caps({ type: 'mha' })).toMatchObject({
      causal: 'either',
      stateGrowth: 'linear',
      decoding: true,
    });
    expect(caps({ type: 'sliding-window', window: 4 }).stateGrowth).toBe('constant');
    expect(caps({ type: 'mha', causal: true }).causal).toBe('only');
    expect(caps({ type: 'selective' }).causal).toBe('only');
    expect(caps({ type: 'cross-attention' })).toMatchObject({
      causal: 'never',
      decoding: false,
      positional: [],
    });
    expect(caps({ type: 'gaam', axis: 'time' })).toMatchObject({
      causal: 'never',
      decoding: false,
      masks: false,
    });
  });

  it('one shared check refuses what a mixer does not take, naming the field', () => {
    const only = caps({ type: 'selective' });
    expect(() => checkMixerContext('selective', only, { causal: false })).toThrow(
      'selective: context.causal expected true or unset (causal only), got false',
    );
    const none = {
      ...only,
      masks: false,
      segmentIds: false,
      decoding: false,
      positional: [] as [],
    };
    const mask = tf.ones([1, 1], 'bool');
    expect(() => checkMixerContext('x', none, { mask })).toThrow(/context.mask/);
    expect(() => checkMixerContext('x', none, { positional: { kind: 'rotate' } })).toThrow(
      /context.positional expected an encoding of kind no rotate or bias, embed or none, got 'rotate'/,
    );
    expect(() => checkMixerContext('x', none, { positional: { kind: 'embed' } })).not.toThrow();
    mask.dispose();
    expect(() =>
      requireCapabilities('gaam', '$.block.mixer', caps({ type: 'gaam', axis: 'time' }), {
        causal: true,
      }),
    ).toThrow(
      "gaam: $.block.mixer.type expected a mixer that can run causally, got 'gaam' (never causal)",
    );
    expect(() =>
      requireCapabilities('selective', '$.block.mixer', only, { causal: false }),
    ).toThrow(ConfigError);
  });

  it('the mixers refuse through it at run time', () => {
    const m = makeMixer({ type: 'selective' });
    expect(() => m.forward(randomInput(2), { causal: false })).toThrow(/causal only/);
    m.dispose();
  });
});

describe('attention weights reach the hook', () => {
  it('with the layer path, and with chunkSize set too (same output as without a hook)', () => {
    const m = makeMixer({ type: 'mha', chunkSize: 2 });
    const x = randomInput(5);
    const seen: AttentionWeightsInfo[] = [];
    const plain = m.forward(x);
    const hooked = m.forward(x, {
      path: 'layers_3.mixer',
      attentionHook: (info) => seen.push({ ...info, weights: tf.keep(info.weights.clone()) }),
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe('layers_3.mixer');
    expect(seen[0]!.block).toBe('mha');
    expect(seen[0]!.weights.shape).toEqual([2, 4, 5, 5]);
    expectClose(tf.sum(seen[0]!.weights, -1), tf.ones([2, 4, 5]), { atol: 1e-5 });
    expect(maxAbsDiff(plain, hooked)).toBeLessThan(1e-5);
    tf.dispose([x, plain, hooked, seen[0]!.weights]);
    m.dispose();
  });
});

describe('head control', () => {
  it('disabling every head leaves only the output bias; weights of 1 change nothing', async () => {
    const m = makeMixer({ type: 'gqa', numKvHeads: 2, bias: true });
    const x = randomInput(3);
    const plain = m.forward(x);
    const ones = m.forward(x, { heads: { weights: [1, 1, 1, 1] } });
    expect(maxAbsDiff(plain, ones)).toBe(0);
    const off = m.forward(x, { heads: { disabled: [0, 1, 2, 3] } });
    const bias = (m as unknown as { o: { bias: tf.Tensor } }).o.bias;
    expectClose(off, tf.broadcastTo(bias, [2, 3, 16]), { atol: 1e-6 });
    // Halving every head's weight halves the pre-bias output.
    const half = m.forward(x, { heads: { weights: [0.5, 0.5, 0.5, 0.5] } });
    expectClose(tf.sub(half, bias), tf.mul(tf.sub(plain, bias), 0.5), { atol: 1e-5 });
    expect(() => m.forward(x, { heads: { weights: [1] } })).toThrow(
      /context.heads.weights expected 4 finite numbers/,
    );
    expect(() => m.forward(x, { heads: { disabled: [4] } })).toThrow(/context.heads.disabled/);
    await expectNoLeaks(() => m.forward(x, { heads: { disabled: [1] } }).dispose());
    tf.dispose([x, plain, ones, off, half]);
    m.dispose();
  });
});
