import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { generate, type DecoderLM, type DecoderLmConfig } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { ids, tinyLm } from './helpers';

const hymbaBlock = {
  mixer: { type: 'hymba', numHeads: 2, dState: 4, window: 3, metaTokens: 2, form: 'sequential' },
  feedForward: { type: 'swiglu', hiddenDim: 16 },
};
const hymbaLm = (o: Partial<DecoderLmConfig> = {}) =>
  tinyLm({ numLayers: 4, positional: { type: 'rotary', headDim: 8 }, block: hymbaBlock, ...o });
const tokens = [[1, 5, 2, 7, 3, 9, 4, 6, 8, 2]];

/** Logits of the whole sequence, and of it fed one token at a time on a decoding state. */
function fullAndCached(model: DecoderLM) {
  const x = ids(tokens);
  const full = model.forward(x);
  const state = model.initState(1);
  const steps = tokens[0]!.map((_, i) => model.forward(ids([[tokens[0]![i]!]]), { state }));
  const cached = tf.concat(steps, 1);
  const bytes = state.bytes;
  const layerBytes = state.layers.map((s) => s!.bytes);
  state.dispose();
  tf.dispose([x, ...steps]);
  return { full, cached, bytes, layerBytes };
}

describeWithBlocks('cross-layer KV sharing (decoder-lm kvSharing)', () => {
  it('gqa, groups of 2: cached == full, and the KV cache holds half the bytes', () => {
    const plain = tinyLm({ numLayers: 4 });
    const shared = tinyLm({ numLayers: 4, kvSharing: { groupSize: 2 } });
    const a = fullAndCached(plain);
    const b = fullAndCached(shared);
    expect(maxAbsDiff(b.cached, b.full)).toBeLessThan(1e-4);
    expect(maxAbsDiff(a.cached, a.full)).toBeLessThan(1e-4);
    expect(b.bytes).toBe(a.bytes / 2);
    expect(b.layerBytes[1]).toBe(0); // a consumer caches nothing
    expect(maxAbsDiff(a.full, b.full)).toBeGreaterThan(1e-4); // same weights, other keys
    tf.dispose([a.full, a.cached, b.full, b.cached]);
    plain.dispose();
    shared.dispose();
  });

  it('hymba (window 3, meta tokens), groups of 2: cached == full past the window; the caches halve', () => {
    const plain = hymbaLm();
    const shared = hymbaLm({ kvSharing: { groupSize: 2 } });
    const a = fullAndCached(plain);
    const b = fullAndCached(shared);
    expect(maxAbsDiff(b.cached, b.full)).toBeLessThan(1e-4);
    const cache = (m: DecoderLM) => {
      const state = m.initState(1);
      m.forward(ids(tokens), { state }).dispose();
      const kv = state.layers.map(
        (s) => (s as unknown as { attention: { bytes: number } }).attention.bytes,
      );
      state.dispose();
      return kv.reduce((p, q) => p + q, 0);
    };
    expect(cache(shared)).toBe(cache(plain) / 2);
    tf.dispose([a.full, a.cached, b.full, b.cached]);
    plain.dispose();
    shared.dispose();
  });

  it("consumers attend the first layer's keys: their own k/v weights change nothing, the producer's do", () => {
    const model = tinyLm({ numLayers: 2, kvSharing: { groupSize: 2 } });
    const x = ids(tokens);
    const before = model.forward(x);
    const params = model.namedParameters();
    const scramble = (name: string) => {
      const v = params.get(name)!;
      v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', 3));
      return model.forward(x);
    };
    const consumer = scramble('layers_1.mixer.k.weight');
    expect(maxAbsDiff(consumer, before)).toBe(0);
    const producer = scramble('layers_0.mixer.k.weight');
    expect(maxAbsDiff(producer, before)).toBeGreaterThan(1e-4);
    tf.dispose([x, before, consumer, producer]);
    model.dispose();
  });

  it("hymba consumers attend the first layer's keys and meta tokens, not their own", () => {
    const model = hymbaLm({ numLayers: 2, kvSharing: { groupSize: 2 } });
    const x = ids(tokens);
    const before = model.forward(x);
    const params = model.namedParameters();
    const outputs = ['layers_1.mixer.k.weight', 'layers_1.mixer.v.weight'].map((name) => {
      const v = params.get(name)!;
      v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', 5));
      return model.forward(x);
    });
    outputs.forEach((y) => expect(maxAbsDiff(y, before)).toBe(0));
    tf.dispose([x, before, ...outputs]);
    model.dispose();
  });

  it("trains: the consumer's loss reaches the producer's k projection; nothing leaks", async () => {
    // Same seed, same weights: with sharing, layer 0's k gets layer 1's gradient on top of its own.
    const [shared, plain] = [{ kvSharing: { groupSize: 2 } }, {}].map((o) =>
      tinyLm({ numLayers: 2, ...o }),
    );
    const x = ids(tokens);
    const gradK = (model: DecoderLM) => {
      const k = model.namedParameters().get('layers_0.mixer.k.weight')!;
      const loss = () => tf.sum(tf.square(model.forward(x))) as tf.Scalar;
      const { value, grads } = tf.variableGrads(loss, [k]);
      value.dispose();
      return grads[k.name]!;
    };
    await expectNoLeaks(() => {
      const [a, b] = [gradK(shared!), gradK(plain!)];
      expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-6);
      expect(tf.tidy(() => tf.all(tf.isFinite(a)).dataSync()[0])).toBe(1);
      tf.dispose([a, b]);
    });
    x.dispose();
    shared!.dispose();
    plain!.dispose();
  });

  it('generates the same tokens with and without the cache; the fused decoder declines', async () => {
    const model = tinyLm({ numLayers: 4, kvSharing: { groupSize: 2 } });
    const cached = await generate(model, [1, 2, 3], { maxTokens: 6, temperature: 0 });
    const full = await generate(model, [1, 2, 3], {
      maxTokens: 6,
      temperature: 0,
      useCache: false,
    });
    expect(cached).toEqual(full);
    expect(model.fusedDecoding()).toMatch(/kvSharing/);
    model.dispose();
  });

  it('refuses bad sharing configs with typed errors naming the JSON path', () => {
    const refuse = (o: Partial<DecoderLmConfig>, path: RegExp) => {
      expect(() => tinyLm(o)).toThrow(ConfigError);
      expect(() => tinyLm(o)).toThrow(path);
    };
    refuse(
      { numLayers: 2, kvSharing: { groupSize: 3 } },
      /\$\.kvSharing\.groupSize expected at most numLayers=2, got 3/,
    );
    refuse({ kvSharing: { groupSize: 0 } }, /\$\.kvSharing\.groupSize/);
    refuse({ kvSharing: { groupsize: 2 } as never }, /groupsize/);
    refuse(
      {
        kvSharing: { groupSize: 2 },
        block: {
          mixer: { type: 'mamba', dState: 4 },
          feedForward: { type: 'swiglu', hiddenDim: 16 },
        },
        positional: { type: 'nope' },
      },
      /\$\.block\.mixer expected a mixer that shares keys\/values/,
    );
    refuse(
      {
        kvSharing: { groupSize: 2 },
        layerOverrides: { 1: { mixer: { type: 'mha', numHeads: 2 } } },
      },
      /\$\.layerOverrides\.1\.mixer expected the keys\/values of layer 0 \(numKvHeads=1/,
    );
  });
});
