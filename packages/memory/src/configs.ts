// The config types of every block this package registers, by type name, merged into core's
// `AttnkitConfigs` so `build()` checks their literals at compile time (core's config-types.ts).
// A new registered type adds a line here and to the list below (configs.spec.ts compares the
// list with the registry).
import { type SchemaConfig, configTypeList } from '@attnkit/core';
import type {
  knnMemorySchema,
  landmarkAttentionSchema,
  memoryTokensSchema,
  neuralMemorySchema,
  prototypeMemorySchema,
  recurrentMemorySchema,
  retrievalAttentionSchema,
  titansMacSchema,
  titansMagSchema,
  titansMalSchema,
} from './index';

/** Config types of @attnkit/memory's registered blocks. */
export interface MemoryConfigs {
  'knn-memory': SchemaConfig<typeof knnMemorySchema, 'knn-memory'>;
  'landmark-attention': SchemaConfig<typeof landmarkAttentionSchema, 'landmark-attention'>;
  'memory-tokens': SchemaConfig<typeof memoryTokensSchema, 'memory-tokens'>;
  'neural-memory': SchemaConfig<typeof neuralMemorySchema, 'neural-memory'>;
  'prototype-memory': SchemaConfig<typeof prototypeMemorySchema, 'prototype-memory'>;
  'recurrent-memory': SchemaConfig<typeof recurrentMemorySchema, 'recurrent-memory'>;
  'retrieval-attention': SchemaConfig<typeof retrievalAttentionSchema, 'retrieval-attention'>;
  'titans-mac': SchemaConfig<typeof titansMacSchema, 'titans-mac'>;
  'titans-mag': SchemaConfig<typeof titansMagSchema, 'titans-mag'>;
  'titans-mal': SchemaConfig<typeof titansMalSchema, 'titans-mal'>;
}

declare module '@attnkit/core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AttnkitConfigs extends MemoryConfigs {}
}

/** The type names of `MemoryConfigs`, for the spec that compares them with the registry. */
export const MEMORY_CONFIG_TYPES = configTypeList<MemoryConfigs>()([
  'knn-memory',
  'landmark-attention',
  'memory-tokens',
  'neural-memory',
  'prototype-memory',
  'recurrent-memory',
  'retrieval-attention',
  'titans-mac',
  'titans-mag',
  'titans-mal',
]);
