// The config types of every block this package registers, by type name, merged into core's
// `AttnkitConfigs` so `build()` checks their literals at compile time (core's config-types.ts).
// A new registered type adds a line here and to the list below (configs.spec.ts compares the
// list with the registry).
import { type SchemaConfig, configTypeList } from '@attnkit/core';
import type {
  aarenSchema,
  adaptiveFilterAttentionSchema,
  agentAttentionSchema,
  arflowHybridSchema,
  basedSchema,
  biMambaSchema,
  biformerSchema,
  coarseToFineAttentionSchema,
  coreContextAwareSchema,
  crossAttentionSchema,
  deltaNetSchema,
  dhsaSchema,
  differentialSchema,
  efficientAttentionSchema,
  fastSchema,
  flexPrefillSchema,
  flowformerSchema,
  gaamSchema,
  gatedDeltaNetSchema,
  glaSchema,
  gqaSchema,
  haloAttentionSchema,
  heposSchema,
  hipAttentionSchema,
  hymbaSchema,
  hyperAttentionSchema,
  latteSchema,
  lightningSchema,
  linearAttentionSchema,
  linformerSchema,
  litSchema,
  lkcaSchema,
  llnSchema,
  lokiSchema,
  lowBitBlockSchema,
  lsgAttentionSchema,
  mamba2Schema,
  mambaSchema,
  megaSchema,
  mhaSchema,
  mixtureOfSparseAttentionSchema,
  mobaSchema,
  mqaSchema,
  multiTokenSchema,
  neighborhoodAttentionSchema,
  nsaSchema,
  performerSchema,
  retnetSchema,
  routingTransformerSchema,
  s2AttentionSchema,
  seerAttentionSchema,
  selectiveSchema,
  slidingWindowSchema,
  softmaxRnnSchema,
  sparsifinerSchema,
  streamingSchema,
  talkingHeadsSchema,
  topThetaSchema,
  topkAttentionSchema,
  waltAttentionSchema,
} from './index';

/** Config types of @attnkit/attention's registered blocks. */
export interface AttentionConfigs {
  aaren: SchemaConfig<typeof aarenSchema, 'aaren'>;
  'adaptive-filter-attention': SchemaConfig<
    typeof adaptiveFilterAttentionSchema,
    'adaptive-filter-attention'
  >;
  'agent-attention': SchemaConfig<typeof agentAttentionSchema, 'agent-attention'>;
  'arflow-hybrid': SchemaConfig<typeof arflowHybridSchema, 'arflow-hybrid'>;
  based: SchemaConfig<typeof basedSchema, 'based'>;
  'bi-mamba': SchemaConfig<typeof biMambaSchema, 'bi-mamba'>;
  biformer: SchemaConfig<typeof biformerSchema, 'biformer'>;
  'coarse-to-fine-attention': SchemaConfig<
    typeof coarseToFineAttentionSchema,
    'coarse-to-fine-attention'
  >;
  'core-context-aware': SchemaConfig<typeof coreContextAwareSchema, 'core-context-aware'>;
  'cross-attention': SchemaConfig<typeof crossAttentionSchema, 'cross-attention'>;
  deltanet: SchemaConfig<typeof deltaNetSchema, 'deltanet'>;
  dhsa: SchemaConfig<typeof dhsaSchema, 'dhsa'>;
  differential: SchemaConfig<typeof differentialSchema, 'differential'>;
  'efficient-attention': SchemaConfig<typeof efficientAttentionSchema, 'efficient-attention'>;
  fast: SchemaConfig<typeof fastSchema, 'fast'>;
  flexprefill: SchemaConfig<typeof flexPrefillSchema, 'flexprefill'>;
  flowformer: SchemaConfig<typeof flowformerSchema, 'flowformer'>;
  gaam: SchemaConfig<typeof gaamSchema, 'gaam'>;
  'gated-deltanet': SchemaConfig<typeof gatedDeltaNetSchema, 'gated-deltanet'>;
  gla: SchemaConfig<typeof glaSchema, 'gla'>;
  gqa: SchemaConfig<typeof gqaSchema, 'gqa'>;
  'halo-attention': SchemaConfig<typeof haloAttentionSchema, 'halo-attention'>;
  hepos: SchemaConfig<typeof heposSchema, 'hepos'>;
  'hip-attention': SchemaConfig<typeof hipAttentionSchema, 'hip-attention'>;
  hymba: SchemaConfig<typeof hymbaSchema, 'hymba'>;
  'hyper-attention': SchemaConfig<typeof hyperAttentionSchema, 'hyper-attention'>;
  latte: SchemaConfig<typeof latteSchema, 'latte'>;
  lightning: SchemaConfig<typeof lightningSchema, 'lightning'>;
  'linear-attention': SchemaConfig<typeof linearAttentionSchema, 'linear-attention'>;
  linformer: SchemaConfig<typeof linformerSchema, 'linformer'>;
  lit: SchemaConfig<typeof litSchema, 'lit'>;
  lkca: SchemaConfig<typeof lkcaSchema, 'lkca'>;
  lln: SchemaConfig<typeof llnSchema, 'lln'>;
  loki: SchemaConfig<typeof lokiSchema, 'loki'>;
  'lowbit-block-topk': SchemaConfig<typeof lowBitBlockSchema, 'lowbit-block-topk'>;
  'lsg-attention': SchemaConfig<typeof lsgAttentionSchema, 'lsg-attention'>;
  mamba: SchemaConfig<typeof mambaSchema, 'mamba'>;
  mamba2: SchemaConfig<typeof mamba2Schema, 'mamba2'>;
  mega: SchemaConfig<typeof megaSchema, 'mega'>;
  mha: SchemaConfig<typeof mhaSchema, 'mha'>;
  'mixture-of-sparse-attention': SchemaConfig<
    typeof mixtureOfSparseAttentionSchema,
    'mixture-of-sparse-attention'
  >;
  moba: SchemaConfig<typeof mobaSchema, 'moba'>;
  mqa: SchemaConfig<typeof mqaSchema, 'mqa'>;
  'multi-token': SchemaConfig<typeof multiTokenSchema, 'multi-token'>;
  'neighborhood-attention': SchemaConfig<
    typeof neighborhoodAttentionSchema,
    'neighborhood-attention'
  >;
  nsa: SchemaConfig<typeof nsaSchema, 'nsa'>;
  performer: SchemaConfig<typeof performerSchema, 'performer'>;
  retnet: SchemaConfig<typeof retnetSchema, 'retnet'>;
  'routing-transformer': SchemaConfig<typeof routingTransformerSchema, 'routing-transformer'>;
  's2-attention': SchemaConfig<typeof s2AttentionSchema, 's2-attention'>;
  'seer-attention': SchemaConfig<typeof seerAttentionSchema, 'seer-attention'>;
  selective: SchemaConfig<typeof selectiveSchema, 'selective'>;
  'sliding-window': SchemaConfig<typeof slidingWindowSchema, 'sliding-window'>;
  'softmax-rnn': SchemaConfig<typeof softmaxRnnSchema, 'softmax-rnn'>;
  sparsifiner: SchemaConfig<typeof sparsifinerSchema, 'sparsifiner'>;
  streaming: SchemaConfig<typeof streamingSchema, 'streaming'>;
  'talking-heads': SchemaConfig<typeof talkingHeadsSchema, 'talking-heads'>;
  'top-theta': SchemaConfig<typeof topThetaSchema, 'top-theta'>;
  'topk-attention': SchemaConfig<typeof topkAttentionSchema, 'topk-attention'>;
  'walt-attention': SchemaConfig<typeof waltAttentionSchema, 'walt-attention'>;
}

declare module '@attnkit/core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AttnkitConfigs extends AttentionConfigs {}
}

/** The type names of `AttentionConfigs`, for the spec that compares them with the registry. */
export const ATTENTION_CONFIG_TYPES = configTypeList<AttentionConfigs>()([
  'aaren',
  'adaptive-filter-attention',
  'agent-attention',
  'arflow-hybrid',
  'based',
  'bi-mamba',
  'biformer',
  'coarse-to-fine-attention',
  'core-context-aware',
  'cross-attention',
  'deltanet',
  'dhsa',
  'differential',
  'efficient-attention',
  'fast',
  'flexprefill',
  'flowformer',
  'gaam',
  'gated-deltanet',
  'gla',
  'gqa',
  'halo-attention',
  'hepos',
  'hip-attention',
  'hymba',
  'hyper-attention',
  'latte',
  'lightning',
  'linear-attention',
  'linformer',
  'lit',
  'lkca',
  'lln',
  'loki',
  'lowbit-block-topk',
  'lsg-attention',
  'mamba',
  'mamba2',
  'mega',
  'mha',
  'mixture-of-sparse-attention',
  'moba',
  'mqa',
  'multi-token',
  'neighborhood-attention',
  'nsa',
  'performer',
  'retnet',
  'routing-transformer',
  's2-attention',
  'seer-attention',
  'selective',
  'sliding-window',
  'softmax-rnn',
  'sparsifiner',
  'streaming',
  'talking-heads',
  'top-theta',
  'topk-attention',
  'walt-attention',
]);
