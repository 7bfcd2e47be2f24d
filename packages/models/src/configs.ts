// The config types of every block this package registers, by type name, merged into core's
// `AttnkitConfigs` so `build()` checks their literals at compile time (core's config-types.ts).
// A new registered type adds a line here and to the list below (configs.spec.ts compares the
// list with the registry).
import { type SchemaConfig, configTypeList } from '@attnkit/core';
import type {
  decoderLmSchema,
  encoderDecoderSchema,
  encoderSchema,
  latentAttentionPoolingSchema,
  patchEmbeddingSchema,
  transformerBlockSchema,
  vitSchema,
} from './index';

/** Config types of @attnkit/models's registered blocks. */
export interface ModelsConfigs {
  'decoder-lm': SchemaConfig<typeof decoderLmSchema, 'decoder-lm'>;
  encoder: SchemaConfig<typeof encoderSchema, 'encoder'>;
  'encoder-decoder': SchemaConfig<typeof encoderDecoderSchema, 'encoder-decoder'>;
  'latent-attention-pooling': SchemaConfig<
    typeof latentAttentionPoolingSchema,
    'latent-attention-pooling'
  >;
  'patch-embedding': SchemaConfig<typeof patchEmbeddingSchema, 'patch-embedding'>;
  'transformer-block': SchemaConfig<typeof transformerBlockSchema, 'transformer-block'>;
  vit: SchemaConfig<typeof vitSchema, 'vit'>;
}

declare module '@attnkit/core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AttnkitConfigs extends ModelsConfigs {}
}

/** The type names of `ModelsConfigs`, for the spec that compares them with the registry. */
export const MODELS_CONFIG_TYPES = configTypeList<ModelsConfigs>()([
  'decoder-lm',
  'encoder',
  'encoder-decoder',
  'latent-attention-pooling',
  'patch-embedding',
  'transformer-block',
  'vit',
]);
