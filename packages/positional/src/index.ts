// @attnkit/positional public surface. Importing it registers every encoding with core's
// registry under category 'positional'.
export { sinusoidalEmbedding, SinusoidalPositional, sinusoidalSchema } from './sinusoidal';
export type { SinusoidalConfig } from './sinusoidal';
export { LearnedPositional, learnedSchema } from './learned';
export type { LearnedConfig } from './learned';
export { sinusoidal2dEmbedding, Sinusoidal2dPositional, sinusoidal2dSchema } from './sinusoidal-2d';
export type { Sinusoidal2dConfig } from './sinusoidal-2d';
export { applyRotary } from './rotary/apply-rotary';
export { resolveRotary, rotaryOptionsSchema, rotaryScalingSchema } from './rotary/frequencies';
export type { ResolvedRotary, RotaryOptions, RotaryScaling } from './rotary/frequencies';
export { RotaryPositional, rotarySchema } from './rotary/rotary';
export type { RotaryConfig } from './rotary/rotary';
export { alibiSlopes, AlibiBias, alibiSchema } from './alibi';
export type { AlibiConfig } from './alibi';
export { t5RelativeBucket, T5RelativeBias, t5RelativeSchema } from './t5-relative';
export type { T5BucketOptions, T5RelativeConfig } from './t5-relative';
export { ShawRelativeBias, shawRelativeSchema } from './shaw-relative';
export type { ShawRelativeConfig } from './shaw-relative';
export { BamBias, bamSchema } from './bam';
export type { BamConfig } from './bam';
export { NoPositional, nopeSchema } from './nope';
export type { NopeConfig } from './nope';
export * from './configs';
