/**
 * Model presets that use routing blocks. Routing cannot depend on @attnkit/models (models
 * depends on routing), so models registers these: `registerPreset(name, routingPresets[name])`.
 */
export type RoutingPreset = { type: string } & Record<string, unknown>;

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
