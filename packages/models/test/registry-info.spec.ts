import { build, estimateConfig, registeredTypes, registryInfo } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/routing';
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

  // Types still relying on the allocation backstop alone (checked weight by weight while
  // building, not before): a new type must register an `estimate`, and one that adds it leaves
  // this list.
  const pendingEstimate = [
    'aaren',
    'based',
    'decoder-lm',
    'dense-router',
    'differential',
    'efficient-attention',
    'encoder',
    'encoder-decoder',
    'expert-choice-router',
    'gaam',
    'gla',
    'latent-attention-pooling',
    'lightning',
    'linear-attention',
    'linformer',
    'lln',
    'mamba',
    'mamba2',
    'mixture-of-attention-heads',
    'moe',
    'moh',
    'mosa',
    'multi-token',
    'noisy-topk-router',
    'patch-embedding',
    'performer',
    'retnet',
    'selective',
    'similarity-router',
    'talking-heads',
    'topk-router',
    'transformer-block',
    'vit',
  ];

  it('every type but the pending ones registers an estimate', () => {
    const without = types.filter((t) => !registryInfo(t)!.hasEstimate);
    expect(without).toEqual(pendingEstimate);
  });

  // What build checks against maxParameters before allocating must be what it then allocates.
  const estimated = types.filter((t) => !pendingEstimate.includes(t));
  it.each(estimated)('%s estimates the parameters its example builds', (type) => {
    const example = registryInfo(type)!.info.example;
    const estimate = estimateConfig(example);
    expect(estimate).toBeDefined();
    const module = build(example);
    try {
      expect(estimate!.parameters).toBe(module.numParams());
      expect(estimate!.bytes).toBeGreaterThanOrEqual(4 * module.numParams());
    } finally {
      module.dispose();
    }
  });
});

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
