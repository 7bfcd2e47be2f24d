import { registerPreset, type EntryInfo, type PresetConfig } from '@attnkit/core';

/**
 * Model presets that use routing blocks, registered in core's `presets` when this package is
 * imported (the decoder-lm and vit assemblies they name come from @attnkit/models).
 */
export type RoutingPreset = PresetConfig;

/** llama-tiny (packages/models/src/presets/llama-tiny.json) without its block. */
const lmBase = {
  type: 'decoder-lm',
  vocabSize: 65,
  dModel: 64,
  numLayers: 2,
  maxLength: 64,
  positional: { type: 'rotary', headDim: 16 },
  finalNorm: { type: 'rms-norm' },
  tieEmbeddings: true,
};

/** Mixture-of-Head attention with 1 shared + top-2 of 3 routed heads: 75% of heads per token. */
const mohMixer = { type: 'moh', numHeads: 4, numSharedHeads: 1, topK: 2 };

export const routingPresets: Record<string, RoutingPreset> = {
  /**
   * llama-tiny with a DeepSeekMoE feed-forward: 1 shared + top-2 of 8 fine-grained experts. No
   * capacity limit, so token-by-token generation routes exactly as the full forward.
   */
  'moe-lm-tiny': {
    ...lmBase,
    block: {
      mixer: { type: 'gqa', numHeads: 4, numKvHeads: 2 },
      feedForward: {
        type: 'moe',
        numExperts: 8,
        topK: 2,
        numSharedExperts: 1,
        expert: { type: 'swiglu', hiddenDim: 32 },
      },
      norm: { type: 'rms-norm' },
      placement: 'pre',
    },
  },
  /** llama-tiny with its GQA mixer (4 query / 2 key-value heads) replaced by MoH. */
  'moh-lm-tiny': {
    ...lmBase,
    block: {
      mixer: { ...mohMixer, numKvHeads: 2 },
      feedForward: { type: 'swiglu', hiddenDim: 128 },
      norm: { type: 'rms-norm' },
      placement: 'pre',
    },
  },
  /** vit-tiny (32×32 images, 8×8 patches) with its MHA mixer replaced by MoH; needs the vit assembly. */
  'moh-vit-tiny': {
    type: 'vit',
    imageSize: 32,
    patchSize: 8,
    channels: 3,
    dModel: 64,
    numLayers: 2,
    numClasses: 10,
    block: {
      mixer: mohMixer,
      feedForward: { type: 'mlp', hiddenDim: 128, activation: 'gelu' },
      norm: { type: 'layer-norm' },
      placement: 'pre',
    },
    pooling: 'cls',
  },
};

const info: Record<string, EntryInfo> = {
  'moe-lm-tiny': {
    paper: 'Dai et al. 2024, DeepSeekMoE',
    summary: 'llama-tiny with a mixture-of-experts feed-forward: 1 shared + top-2 of 8 experts.',
  },
  'moh-lm-tiny': {
    paper: 'Jin et al. 2024, MoH',
    summary: 'llama-tiny with Mixture-of-Head attention: 1 shared + top-2 of 3 routed heads.',
  },
  'moh-vit-tiny': {
    paper: 'Jin et al. 2024, MoH',
    summary: 'vit-tiny with Mixture-of-Head attention: 1 shared + top-2 of 3 routed heads.',
  },
};

for (const [name, config] of Object.entries(routingPresets)) {
  registerPreset(name, config, { info: info[name] });
}
