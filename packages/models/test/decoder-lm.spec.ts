import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { generate, getPreset, listPresets, registerPreset } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { ids, tinyLm, tinyLmConfig } from './helpers';

describeWithBlocks('DecoderLM', () => {
  it('gives logits per position that ignore future tokens', () => {
    const model = tinyLm();
    const a = model.forward(ids([[1, 2, 3, 4]]));
    const b = model.forward(ids([[1, 2, 9, 9]]));
    expect(a.shape).toEqual([1, 4, 11]);
    const first = (t: tf.Tensor) => Array.from(tf.slice(t, [0, 0, 0], [1, 2, 11]).dataSync());
    expect(first(a)).toEqual(first(b));
    model.dispose();
  });

  it('builds hybrids layer by layer and unties the head on request', () => {
    const hybrid = tinyLm({
      layerOverrides: { 1: { feedForward: { type: 'mlp', hiddenDim: 12, activation: 'gelu' } } },
    });
    expect(hybrid.blocks[1]!.config.feedForward.type).toBe('mlp');
    expect(hybrid.blocks[0]!.config.feedForward.type).toBe('swiglu');
    const untied = tinyLm({ tieEmbeddings: false });
    expect(untied.numParams() - tinyLm().numParams()).toBe(8 * 11);
    hybrid.dispose();
    untied.dispose();
  });

  it('refuses a decoding state when a layer cannot decode, and generation falls back to full forwards', async () => {
    const model = tinyLm({
      layerOverrides: { 1: { mixer: { type: 'mosa', numHeads: 2, sparsity: 2 } } },
    });
    const state = model.initState(1);
    expect(state.layers[1]).toBeUndefined();
    expect(() => model.forward(ids([[1, 2]]), { state })).toThrow(
      /decoder: state\.layers\[1\] expected a decoding state for every layer .*got none: mixer 'mosa' cannot decode/,
    );
    state.dispose();
    const cached = await generate(model, [1, 2, 3], { maxTokens: 5, temperature: 0 });
    const full = await generate(model, [1, 2, 3], {
      maxTokens: 5,
      temperature: 0,
      useCache: false,
    });
    expect(cached).toEqual(full);
    model.dispose();
  });

  it('names the JSON path of a bad layer and refuses sequences past maxLength', () => {
    expect(() => tinyLm({ layerOverrides: { 5: {} } })).toThrow(/layerOverrides\.5/);
    expect(() => tinyLm({ numLayers: 0 })).toThrow(/\$\.numLayers/);
    const model = tinyLm({ maxLength: 3 });
    expect(() => model.forward(ids([[1, 2, 3, 4]]))).toThrow(/maxLength=3/);
    model.dispose();
  });

  it('redraws every Linear weight with linearInit, leaving embeddings and norms alone', () => {
    const plain = tinyLm();
    const small = tinyLm({ linearInit: { name: 'uniform', min: -1e-3, max: 1e-3 } });
    const plainParams = plain.namedParameters();
    for (const [name, v] of small.namedParameters()) {
      const values = Array.from(v.dataSync());
      const linear = /\.(q|k|v|o|gate|up|down)\.weight$/.test(name);
      if (linear) expect([name, Math.max(...values.map(Math.abs)) <= 1e-3]).toEqual([name, true]);
      else expect([name, values]).toEqual([name, Array.from(plainParams.get(name)!.dataSync())]);
    }
    expect(() => tinyLm({ linearInit: { name: 'normal', std: -1 } })).toThrow(/\$\.linearInit/);
    plain.dispose();
    small.dispose();
  });

  it('frees what it built when a nested config fails half way', async () => {
    await expectNoLeaks(() => {
      expect(() =>
        tinyLm({ layerOverrides: { 1: { mixer: { type: 'gqa', numHeads: 3, numKvHeads: 1 } } } }),
      ).toThrow(/numHeads/);
    });
  });

  it('leaks nothing through forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const model = tinyLm();
      const input = ids([[1, 2, 3]]);
      const g = tf.variableGrads(
        () => tf.mean(model.forward(input)) as tf.Scalar,
        model.parameters(),
      );
      tf.dispose([input, g.value, ...Object.values(g.grads)]);
      model.dispose();
    });
  });
});

describe('presets', () => {
  it('lists, copies and registers presets', () => {
    expect(listPresets()).toEqual(
      expect.arrayContaining(['gpt-tiny', 'llama-tiny', 'bert-tiny', 'vit-tiny']),
    );
    const llama = getPreset('llama-tiny');
    llama.dModel = 1;
    expect(getPreset('llama-tiny').dModel).toBe(64);
    registerPreset('unit-lm', tinyLmConfig() as never);
    expect(getPreset('unit-lm').vocabSize).toBe(11);
    expect(() => registerPreset('unit-lm', tinyLmConfig() as never)).toThrow(/not taken/);
    expect(() => getPreset('x')).toThrow(/'llama-tiny'/);
  });
});

describeWithBlocks('presets build', () => {
  it('builds every decoder preset', () => {
    for (const name of ['gpt-tiny', 'llama-tiny']) {
      const model = tinyLm(getPreset(name) as never);
      expect(model.numParams()).toBeGreaterThan(0);
      model.dispose();
    }
  });
});
