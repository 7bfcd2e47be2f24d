// The config types of every block this package registers, by type name, merged into core's
// `AttnkitConfigs` so `build()` checks their literals at compile time (core's config-types.ts).
// A new registered type adds a line here and to the list below (configs.spec.ts compares the
// list with the registry).
import { type SchemaConfig, configTypeList } from '@attnkit/core';
import type {
  denseRouterSchema,
  expertChoiceRouterSchema,
  mixtureOfAttentionHeadsSchema,
  moaSchema,
  moeSchema,
  mohSchema,
  mosaSchema,
  noisyTopKRouterSchema,
  similarityRouterSchema,
  topKRouterSchema,
} from './index';

/** Config types of @attnkit/routing's registered blocks. */
export interface RoutingConfigs {
  'dense-router': SchemaConfig<typeof denseRouterSchema, 'dense-router'>;
  'expert-choice-router': SchemaConfig<typeof expertChoiceRouterSchema, 'expert-choice-router'>;
  'mixture-of-attention-heads': SchemaConfig<
    typeof mixtureOfAttentionHeadsSchema,
    'mixture-of-attention-heads'
  >;
  moa: SchemaConfig<typeof moaSchema, 'moa'>;
  moe: SchemaConfig<typeof moeSchema, 'moe'>;
  moh: SchemaConfig<typeof mohSchema, 'moh'>;
  mosa: SchemaConfig<typeof mosaSchema, 'mosa'>;
  'noisy-topk-router': SchemaConfig<typeof noisyTopKRouterSchema, 'noisy-topk-router'>;
  'similarity-router': SchemaConfig<typeof similarityRouterSchema, 'similarity-router'>;
  'topk-router': SchemaConfig<typeof topKRouterSchema, 'topk-router'>;
}

declare module '@attnkit/core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AttnkitConfigs extends RoutingConfigs {}
}

/** The type names of `RoutingConfigs`, for the spec that compares them with the registry. */
export const ROUTING_CONFIG_TYPES = configTypeList<RoutingConfigs>()([
  'dense-router',
  'expert-choice-router',
  'mixture-of-attention-heads',
  'moa',
  'moe',
  'moh',
  'mosa',
  'noisy-topk-router',
  'similarity-router',
  'topk-router',
]);
