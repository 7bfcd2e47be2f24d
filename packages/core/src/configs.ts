// The config types of every block this package registers, by type name, merged into core's
// `AttnkitConfigs` so `build()` checks their literals at compile time (core's config-types.ts).
// A new registered type adds a line here and to the list below (configs.spec.ts compares the
// list with the registry).
import { type SchemaConfig, configTypeList } from './config-types';
import type {
  dropoutSchema,
  embeddingSchema,
  gluSchema,
  layerNormSchema,
  linearSchema,
  mlpSchema,
  qkNormSchema,
  rmsNormSchema,
  scaleNormSchema,
} from './index';

/** Config types of @attnkit/core's registered blocks. */
export interface CoreConfigs {
  dropout: SchemaConfig<typeof dropoutSchema, 'dropout'>;
  embedding: SchemaConfig<typeof embeddingSchema, 'embedding'>;
  geglu: Omit<SchemaConfig<typeof gluSchema, 'geglu'>, 'activation'>; // a named GLU variant
  glu: SchemaConfig<typeof gluSchema, 'glu'>;
  'layer-norm': SchemaConfig<typeof layerNormSchema, 'layer-norm'>;
  linear: SchemaConfig<typeof linearSchema, 'linear'>;
  mlp: SchemaConfig<typeof mlpSchema, 'mlp'>;
  'qk-norm': SchemaConfig<typeof qkNormSchema, 'qk-norm'>;
  reglu: Omit<SchemaConfig<typeof gluSchema, 'reglu'>, 'activation'>; // a named GLU variant
  'rms-norm': SchemaConfig<typeof rmsNormSchema, 'rms-norm'>;
  'scale-norm': SchemaConfig<typeof scaleNormSchema, 'scale-norm'>;
  swiglu: Omit<SchemaConfig<typeof gluSchema, 'swiglu'>, 'activation'>; // a named GLU variant
}

declare module './config-types' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AttnkitConfigs extends CoreConfigs {}
}

/** The type names of `CoreConfigs`, for the spec that compares them with the registry. */
export const CORE_CONFIG_TYPES = configTypeList<CoreConfigs>()([
  'dropout',
  'embedding',
  'geglu',
  'glu',
  'layer-norm',
  'linear',
  'mlp',
  'qk-norm',
  'reglu',
  'rms-norm',
  'scale-norm',
  'swiglu',
]);
