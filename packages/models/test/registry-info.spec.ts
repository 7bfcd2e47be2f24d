import { build, estimateConfig, registeredTypes, registryInfo } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/routing';
import '@attnkit/memory';
import '@attnkit/models';

// What the docs site lists: every registered type, so a new block without metadata fails here.
const types = registeredTypes();

describe('registry metadata', () => {
  it('covers the types of every package', () => {
    for (const t of ['linear', 'rotary', 'mha', 'moe', 'transformer-block', 'decoder-lm']) {
      expect(types).toContain(t);
    }
  });

  it.each(types)('%s has a one-line summary and an example config of its own type', (type) => {
    const entry = registryInfo(type)!;
    expect(entry.category).not.toBe('module');
    expect(typeof entry.info.summary).toBe('string');
    expect(entry.info.summary!.length).toBeGreaterThan(10);
    expect(entry.info.summary).not.toMatch(/\n/);
    expect((entry.info.example as { type?: string }).type).toBe(type);
    for (const key of Object.keys(entry.info.example as object)) {
      expect(entry.configKeys).toContain(key);
    }
  });

  it.each(types)('%s builds from its example config and disposes without leaking', async (type) => {
    await expectNoLeaks(() => {
      const module = build(registryInfo(type)!.info.example);
      expect(module.blockName).toBeDefined();
      module.dispose();
    });
  });

  it('every type registers an estimate (what it allocates, known before building)', () => {
    const without = registeredTypes(undefined, { deprecated: true }).filter(
      (t) => !registryInfo(t)!.hasEstimate,
    );
    expect(without).toEqual([]);
  });

  // What build checks against maxParameters before allocating must be what it then allocates.
  it.each(types)('%s estimates the parameters its example builds', (type) => {
    expectEstimateMatches(registryInfo(type)!.info.example);
  });

  // A second config per family, other than the example (bias, heads, options that add or drop
  // parameters), so an estimate fitted to the example alone fails.
  const variants: [string, object][] = [
    [
      'differential',
      {
        type: 'differential',
        dModel: 16,
        numHeads: 2,
        numKvHeads: 1,
        bias: true,
        qkNorm: 'rms',
        headNorm: 'group',
      },
    ],
    ['gaam', { type: 'gaam', dModel: 12, numHeads: 3, numGaussians: 2, mixture: 'sum' }],
    ['selective', { type: 'selective', dModel: 12, numHeads: 4, numKvHeads: 2, bias: true }],
    [
      'talking-heads',
      {
        type: 'talking-heads',
        dModel: 12,
        numHeads: 3,
        numKeyHeads: 2,
        numValueHeads: 4,
        headDim: 5,
        bias: true,
      },
    ],
    [
      'multi-token',
      {
        type: 'multi-token',
        dModel: 12,
        numHeads: 4,
        headKernel: 4,
        queryKernel: 2,
        keyKernel: 3,
        headNorm: 'group',
      },
    ],
    [
      'multi-token',
      {
        type: 'multi-token',
        dModel: 8,
        numHeads: 2,
        keyQueryConv: 'none',
        headMix: 'none',
        headNorm: 'none',
      },
    ],
    [
      'linear-attention',
      { type: 'linear-attention', dModel: 12, numHeads: 3, numKvHeads: 1, bias: true },
    ],
    ['performer', { type: 'performer', dModel: 12, numHeads: 2, bias: true }],
    ['efficient-attention', { type: 'efficient-attention', dModel: 12, numHeads: 3, headDim: 2 }],
    [
      'linformer',
      {
        type: 'linformer',
        dModel: 8,
        numHeads: 2,
        maxLength: 6,
        projectedLength: 2,
        sharing: 'key-value',
        bias: true,
      },
    ],
    ['retnet', { type: 'retnet', dModel: 12, numHeads: 3, bias: true }],
    ['lightning', { type: 'lightning', dModel: 12, numHeads: 4, numKvHeads: 2, bias: true }],
    ['gla', { type: 'gla', dModel: 12, numHeads: 3, numKvHeads: 1, bias: true }],
    ['based', { type: 'based', dModel: 12, numHeads: 3, numKvHeads: 1, bias: true }],
    ['lln', { type: 'lln', dModel: 12, numHeads: 4, bias: true }],
    [
      'mamba',
      {
        type: 'mamba',
        dModel: 12,
        expand: 1,
        dState: 3,
        dConv: 2,
        dtRank: 5,
        bias: true,
        convBias: false,
      },
    ],
    [
      'mamba2',
      { type: 'mamba2', dModel: 12, expand: 1, dState: 3, headDim: 6, bias: true, convBias: false },
    ],
    ['aaren', { type: 'aaren', dModel: 12, numHeads: 2, headDim: 5, bias: true }],
    ['topk-router', { type: 'topk-router', dim: 6, numExperts: 3, balanceBias: true }],
    ['dense-router', { type: 'dense-router', dim: 6, numExperts: 3, weighting: 'softmax' }],
    ['similarity-router', { type: 'similarity-router', dim: 5, numExperts: 3 }],
    [
      'moe',
      {
        type: 'moe',
        dim: 6,
        numExperts: 3,
        topK: 1,
        numSharedExperts: 2,
        sharedHiddenDim: 5,
        expert: { type: 'swiglu', hiddenDim: 4 },
        router: { type: 'noisy-topk-router' },
      },
    ],
    [
      'moh',
      {
        type: 'moh',
        dModel: 12,
        numHeads: 3,
        numSharedHeads: 0,
        topK: 2,
        bias: true,
        sinkLogit: true,
      },
    ],
    ['moh', { type: 'moh', dModel: 12, numHeads: 3, numSharedHeads: 3, topK: 0 }],
    [
      'mixture-of-attention-heads',
      {
        type: 'mixture-of-attention-heads',
        dModel: 12,
        numHeads: 3,
        numKvHeads: 3,
        topK: 1,
        bias: true,
      },
    ],
    ['mosa', { type: 'mosa', dModel: 12, numHeads: 3, headDim: 2, sparsity: 2 }],
    [
      'patch-embedding',
      { type: 'patch-embedding', imageSize: 6, patchSize: 3, channels: 2, dModel: 4 },
    ],
    [
      'latent-attention-pooling',
      {
        type: 'latent-attention-pooling',
        dModel: 8,
        numLatents: 3,
        numHeads: 2,
        hiddenDim: 5,
        norm: { type: 'rms-norm' },
      },
    ],
    [
      'transformer-block',
      {
        type: 'transformer-block',
        dModel: 8,
        placement: 'sandwich',
        norm: { type: 'layer-norm' },
        mixer: { type: 'gla', numHeads: 2 },
        feedForward: { type: 'swiglu', hiddenDim: 6 },
        crossAttention: { type: 'cross-attention', numHeads: 4 },
      },
    ],
    [
      'decoder-lm',
      {
        type: 'decoder-lm',
        vocabSize: 11,
        dModel: 8,
        numLayers: 3,
        maxLength: 5,
        tieEmbeddings: false,
        positional: { type: 'learned' },
        block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 6 } },
        layerOverrides: {
          '0': { mixer: { type: 'retnet', numHeads: 2 } },
          '2': {
            feedForward: {
              type: 'moe',
              numExperts: 2,
              topK: 1,
              expert: { type: 'mlp', hiddenDim: 3 },
            },
          },
        },
      },
    ],
    [
      'decoder-lm',
      {
        type: 'decoder-lm',
        vocabSize: 11,
        dModel: 8,
        numLayers: 4,
        maxLength: 5,
        positional: { type: 'learned' },
        kvSharing: { groupSize: 2 },
        block: {
          mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
          feedForward: { type: 'mlp', hiddenDim: 6 },
        },
      },
    ],
    [
      'encoder',
      {
        type: 'encoder',
        vocabSize: 11,
        dModel: 8,
        numLayers: 2,
        maxLength: 5,
        positional: { type: 'learned' },
        block: {
          placement: 'post',
          mixer: { type: 'mha', numHeads: 2, causal: false },
          feedForward: { type: 'mlp', hiddenDim: 6 },
        },
        pooling: 'latent',
        latent: { numLatents: 2, numHeads: 2 },
        numClasses: 3,
      },
    ],
    [
      'encoder-decoder',
      {
        type: 'encoder-decoder',
        vocabSize: 11,
        dModel: 8,
        encoderLayers: 2,
        decoderLayers: 1,
        maxLength: 5,
        tieEmbeddings: false,
        positional: { type: 'learned' },
        block: { mixer: { type: 'mha', numHeads: 4 }, feedForward: { type: 'mlp', hiddenDim: 6 } },
        crossAttention: { type: 'cross-attention', numHeads: 2 },
        encoderOverrides: { '1': { mixer: { type: 'mha', numHeads: 2 } } },
      },
    ],
    [
      'vit',
      {
        type: 'vit',
        imageSize: 6,
        patchSize: 2,
        channels: 1,
        dModel: 8,
        numLayers: 2,
        positional: { type: 'learned' },
        pooling: 'mean',
        numClasses: 3,
        block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 6 } },
      },
    ],
  ];
  it.each(variants)('%s estimates the parameters of a second config', (_type, config) => {
    expectEstimateMatches(config);
  });

  it('a stack estimates every layer without building them (numLayers 1e6 is refused at once)', () => {
    const example = registryInfo('decoder-lm')!.info.example as Record<string, unknown>;
    const config = { ...example, numLayers: 1_000_000 };
    const one = estimateConfig({ ...example, numLayers: 1 })!;
    const two = estimateConfig({ ...example, numLayers: 2 })!;
    const layer = two.parameters - one.parameters;
    expect(estimateConfig(config)!.parameters).toBe(one.parameters + 999_999 * layer);
    const started = Date.now();
    expect(() => build(config)).toThrow(/decoder-lm: \$\.numLayers expected at most maxParameters/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a layer override written with a leading zero is refused (no layer would read it)', () => {
    const example = registryInfo('decoder-lm')!.info.example as Record<string, unknown>;
    const config = {
      ...example,
      layerOverrides: { '00': { mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 } } },
    };
    expect(() => estimateConfig(config)).toThrow(
      /decoder-lm: \$\.layerOverrides\.00 expected a layer index without leading zeros, got '00'/,
    );
    expect(() => build(config)).toThrow(/\$\.layerOverrides\.00 expected a layer index without/);
  });

  it('a nested estimate names the full JSON path of a bad child', () => {
    const example = registryInfo('decoder-lm')!.info.example as Record<string, unknown>;
    const block = {
      mixer: { type: 'gqa', numHeads: 2, numKvHeads: 3 },
      feedForward: { type: 'mlp', hiddenDim: 4 },
    };
    expect(() => estimateConfig({ ...example, block })).toThrow(/\$\.block\.mixer\.numKvHeads/);
    const moe = {
      type: 'moe',
      dim: 8,
      numExperts: 2,
      expert: { type: 'mlp', hiddenDim: 4 },
      router: { type: 'mlp' },
    };
    expect(() => estimateConfig(moe)).toThrow(/\$\.router\.type expected a registered router/);
  });
});

function expectEstimateMatches(config: unknown): void {
  const estimate = estimateConfig(config);
  expect(estimate).toBeDefined();
  const module = build(config);
  try {
    expect(estimate!.parameters).toBe(module.numParams());
    expect(estimate!.bytes).toBeGreaterThanOrEqual(4 * module.numParams());
  } finally {
    module.dispose();
  }
}

describe('slots refuse a block of the wrong category', () => {
  const model = (block: object) => ({
    type: 'decoder-lm',
    vocabSize: 16,
    dModel: 8,
    numLayers: 2,
    maxLength: 8,
    positional: { type: 'learned' },
    block: {
      mixer: { type: 'mha', numHeads: 2 },
      feedForward: { type: 'mlp', hiddenDim: 16 },
      ...block,
    },
  });

  it('names the JSON path, what the slot takes and what was given', async () => {
    await expectNoLeaks(() => {
      expect(() => build(model({ mixer: { type: 'rms-norm' } }))).toThrow(
        /^registry: \$\.block\.mixer\.type expected a registered mixer \(.*gqa.*mha.*\), got 'rms-norm' \(a norm\)$/,
      );
      expect(() => build(model({ feedForward: { type: 'mha', numHeads: 2 } }))).toThrow(
        /\$\.block\.feedForward\.type expected a registered feedforward \(.*moe.*swiglu.*\), got 'mha' \(a mixer\)/,
      );
      expect(() => build(model({ norm: { type: 'mlp', hiddenDim: 4 } }))).toThrow(
        /\$\.block\.norm\.type expected a registered norm .*, got 'mlp' \(a feedforward\)/,
      );
      const positional = { ...model({}), positional: { type: 'rms-norm' } };
      expect(() => build(positional)).toThrow(
        /\$\.positional\.type expected a registered positional/,
      );
      const expert = { type: 'moe', numExperts: 2, expert: { type: 'mlp', hiddenDim: 4 } };
      const router = { ...expert, dim: 8, router: { type: 'mlp' } };
      expect(() => build(router)).toThrow(
        /\$\.router\.type expected a registered router \(.*topk-router.*\), got 'mlp' \(a feedforward\)/,
      );
    });
  });

  it('keeps every slot filled today building (moe in the feed-forward slot, moh as a mixer)', () => {
    const m = build(
      model({
        mixer: { type: 'moh', numHeads: 4, numSharedHeads: 1, topK: 2 },
        feedForward: { type: 'moe', numExperts: 2, expert: { type: 'swiglu', hiddenDim: 8 } },
        norm: { type: 'layer-norm' },
      }),
    );
    m.dispose();
  });
});
