// One config idiom: constructing a registered class directly refuses a bad config exactly as
// build() does (the same ConfigError, block and JSON path), and builds the same module otherwise.
import * as core from '@attnkit/core';
import {
  build,
  registeredTypes,
  registryInfo,
  type Module,
  type ModuleOptions,
} from '@attnkit/core';
import * as attention from '@attnkit/attention';
import * as positional from '@attnkit/positional';
import * as routing from '@attnkit/routing';
import * as models from '@attnkit/models';

type Ctor = new (config: never, options?: ModuleOptions) => Module;

const classes: Record<string, Ctor> = {
  linear: core.Linear,
  embedding: core.Embedding,
  dropout: core.Dropout,
  'rms-norm': core.RMSNorm,
  'layer-norm': core.LayerNorm,
  'scale-norm': core.ScaleNorm,
  'qk-norm': core.QKNorm,
  mlp: core.MLP,
  glu: core.GLU,
  swiglu: core.GLU,
  geglu: core.GLU,
  reglu: core.GLU,
  alibi: positional.AlibiBias,
  bam: positional.BamBias,
  learned: positional.LearnedPositional,
  nope: positional.NoPositional,
  rotary: positional.RotaryPositional,
  'shaw-relative': positional.ShawRelativeBias,
  sinusoidal: positional.SinusoidalPositional,
  'sinusoidal-2d': positional.Sinusoidal2dPositional,
  't5-relative': positional.T5RelativeBias,
  mha: attention.MultiHeadAttention,
  gqa: attention.MultiHeadAttention,
  mqa: attention.MultiHeadAttention,
  'sliding-window': attention.MultiHeadAttention,
  streaming: attention.MultiHeadAttention,
  'cross-attention': attention.CrossAttention,
  differential: attention.DifferentialAttention,
  gaam: attention.GaussianAdaptiveAttention,
  selective: attention.SelectiveAttention,
  'talking-heads': attention.TalkingHeadsAttention,
  'multi-token': attention.MultiTokenAttention,
  moe: routing.MoE,
  'topk-router': routing.TopKRouter,
  'noisy-topk-router': routing.NoisyTopKRouter,
  'expert-choice-router': routing.ExpertChoiceRouter,
  'dense-router': routing.DenseRouter,
  'similarity-router': routing.SimilarityRouter,
  mosa: routing.MoSAAttention,
  moh: routing.MoHAttention,
  'mixture-of-attention-heads': routing.MoAAttention,
  'transformer-block': models.TransformerBlock,
  'patch-embedding': models.PatchEmbedding,
  'latent-attention-pooling': models.LatentAttentionPooling,
  'decoder-lm': models.DecoderLM,
  encoder: models.Encoder,
  'encoder-decoder': models.EncoderDecoder,
  vit: models.ViT,
};

const message = (f: () => unknown): string => {
  try {
    (f() as Module).dispose();
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
  return 'no error';
};

describe('constructors parse their config as build() does', () => {
  it('covers every registered type', () => {
    expect(registeredTypes().filter((t) => !(t in classes))).toEqual([]);
  });

  it.each(Object.keys(classes))('%s: a misspelt option is the same ConfigError', (type) => {
    const example = registryInfo(type)!.info.example as Record<string, unknown>;
    const Class = classes[type]!;
    const bad = { ...example, misspelt: 1 };
    const viaBuild = message(() => build(bad));
    expect(viaBuild).toBe(
      `ConfigError: ${type}: $.misspelt expected only known options, got unknown option 'misspelt'`,
    );
    expect(message(() => new Class(bad as never))).toBe(viaBuild);
    // and the example itself builds either way
    expect(message(() => new Class(example as never))).toBe('no error');
  });
});

describe('mqa keeps its own config', () => {
  it('has one key/value head without numKvHeads in its config, and reloads once saved', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const m = build<attention.MultiHeadAttention>({ type: 'mqa', dModel: 8, numHeads: 4 });
    expect(m.numKvHeads).toBe(1);
    expect(m.config).not.toHaveProperty('numKvHeads');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqa-'));
    try {
      await core.saveModule(dir, m);
      const loaded = await core.loadModule<attention.MultiHeadAttention>(dir);
      expect(loaded.numKvHeads).toBe(1);
      loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      m.dispose();
    }
  });
});
