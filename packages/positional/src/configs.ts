// The config types of every block this package registers, by type name, merged into core's
// `AttnkitConfigs` so `build()` checks their literals at compile time (core's config-types.ts).
// A new registered type adds a line here and to the list below (configs.spec.ts compares the
// list with the registry).
import { type SchemaConfig, configTypeList } from '@attnkit/core';
import type {
  alibiSchema,
  bamSchema,
  learnedSchema,
  nopeSchema,
  rotarySchema,
  shawRelativeSchema,
  sinusoidal2dSchema,
  sinusoidalSchema,
  t5RelativeSchema,
} from './index';

/** Config types of @attnkit/positional's registered blocks. */
export interface PositionalConfigs {
  alibi: SchemaConfig<typeof alibiSchema, 'alibi'>;
  bam: SchemaConfig<typeof bamSchema, 'bam'>;
  learned: SchemaConfig<typeof learnedSchema, 'learned'>;
  nope: SchemaConfig<typeof nopeSchema, 'nope'>;
  rotary: SchemaConfig<typeof rotarySchema, 'rotary'>;
  'shaw-relative': SchemaConfig<typeof shawRelativeSchema, 'shaw-relative'>;
  sinusoidal: SchemaConfig<typeof sinusoidalSchema, 'sinusoidal'>;
  'sinusoidal-2d': SchemaConfig<typeof sinusoidal2dSchema, 'sinusoidal-2d'>;
  't5-relative': SchemaConfig<typeof t5RelativeSchema, 't5-relative'>;
}

declare module '@attnkit/core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AttnkitConfigs extends PositionalConfigs {}
}

/** The type names of `PositionalConfigs`, for the spec that compares them with the registry. */
export const POSITIONAL_CONFIG_TYPES = configTypeList<PositionalConfigs>()([
  'alibi',
  'bam',
  'learned',
  'nope',
  'rotary',
  'shaw-relative',
  'sinusoidal',
  'sinusoidal-2d',
  't5-relative',
]);
