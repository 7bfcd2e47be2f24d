/**
 * Model presets that use routing blocks. Routing cannot depend on @attnkit/models (models
 * depends on routing), so models registers these: `registerPreset(name, routingPresets[name])`.
 */
export type RoutingPreset = { type: string } & Record<string, unknown>;

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
};
