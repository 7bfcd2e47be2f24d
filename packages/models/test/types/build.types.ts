// Compile-time test of the typed build(): checked by tsc in the typecheck (never run). Each
// `@ts-expect-error` line must fail to compile, or tsc reports the directive as unused.
import { Module, build, type ConfigOf } from '@attnkit/core';
import '@attnkit/models';

export function typedBuild(json: unknown, dynamicType: string): Module[] {
  const built: Module[] = [
    build({ type: 'mha', dModel: 8, numHeads: 2 }),
    build({ type: 'linear', inFeatures: 4, outFeatures: 2, bias: false }),
    build({ type: 'rotary', headDim: 4 }),
    // @ts-expect-error a misspelt type name
    build({ type: 'differentail', dModel: 8, numHeads: 2 }),
    // @ts-expect-error a misspelt field
    build({ type: 'mha', dModel: 8, numHeds: 2 }),
    // @ts-expect-error a field of the wrong type
    build({ type: 'linear', inFeatures: '4', outFeatures: 2 }),
    // @ts-expect-error a required field missing
    build({ type: 'linear', inFeatures: 4 }),
    // @ts-expect-error an option of another type (gqa's numKvHeads on a layer-norm)
    build({ type: 'layer-norm', dim: 8, numKvHeads: 2 }),
    // Checked at run time only: JSON of unknown type, a type name known only as a string.
    build(json),
    build({ type: dynamicType, dModel: 8 }),
  ];
  return built;
}

// Nested slots (a model's positional encoding, its block's mixer, feed-forward and norm, the
// layer overrides, a MoE's router and experts) are checked like top-level configs; the widths
// the model fills (dModel, dim, maxLength, ...) may be left out.
const lm = {
  type: 'decoder-lm',
  vocabSize: 16,
  dModel: 8,
  numLayers: 2,
  maxLength: 16,
  positional: { type: 'rotary', headDim: 4 },
  block: {
    mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
    feedForward: { type: 'swiglu', hiddenDim: 16 },
    norm: { type: 'rms-norm' },
    placement: 'pre',
  },
} as const;

export function typedNestedBuild(): Module[] {
  return [
    build(lm),
    build({ ...lm, finalNorm: { type: 'layer-norm', eps: 1e-5 } }),
    build({ ...lm, layerOverrides: { 1: { mixer: { type: 'mha', numHeads: 2 } } } }),
    build({
      ...lm,
      block: {
        mixer: { type: 'moh', numHeads: 4, numSharedHeads: 1, topK: 2 },
        feedForward: {
          type: 'moe',
          numExperts: 4,
          expert: { type: 'swiglu', hiddenDim: 8 },
          router: { type: 'topk-router' },
        },
      },
    }),
    // @ts-expect-error a misspelt mixer type in the block
    build({ ...lm, block: { ...lm.block, mixer: { type: 'gqaa', numHeads: 2 } } }),
    // @ts-expect-error a misspelt mixer field in the block
    build({ ...lm, block: { ...lm.block, mixer: { type: 'gqa', numHeds: 2, numKvHeads: 1 } } }),
    // @ts-expect-error a field of the wrong type in the block's feed-forward
    build({ ...lm, block: { ...lm.block, feedForward: { type: 'swiglu', hiddenDim: '16' } } }),
    // @ts-expect-error a misspelt norm type in the block
    build({ ...lm, block: { ...lm.block, norm: { type: 'rms-nrom' } } }),
    // @ts-expect-error a misspelt field of the block itself
    build({ ...lm, block: { ...lm.block, placment: 'post' } }),
    // @ts-expect-error a misspelt positional type
    build({ ...lm, positional: { type: 'rotray', headDim: 4 } }),
    // @ts-expect-error a misspelt positional field
    build({ ...lm, positional: { type: 'rotary', headDimm: 4 } }),
    // @ts-expect-error a misspelt final norm field
    build({ ...lm, finalNorm: { type: 'layer-norm', epsilon: 1e-5 } }),
    // @ts-expect-error a misspelt mixer type in a layer override
    build({ ...lm, layerOverrides: { 1: { mixer: { type: 'mhaa', numHeads: 2 } } } }),
    // @ts-expect-error a MoE expert of a type the MoE does not take
    build({ type: 'moe', dim: 8, numExperts: 2, expert: { type: 'moe', hiddenDim: 4 } }),
    // @ts-expect-error a misspelt router field two slots deep
    build({
      ...lm,
      block: {
        ...lm.block,
        feedForward: {
          type: 'moe',
          numExperts: 2,
          expert: { type: 'mlp', hiddenDim: 8 },
          router: { type: 'topk-router', noize: 1 },
        },
      },
    }),
    // A model's slot of a user's type is checked at run time only, through the explicit module type.
    build<Module>({ ...lm, block: { ...lm.block, mixer: { type: 'user-mixer', width: 2 } } }),
  ];
}

// A block registered by a user without a map entry: the explicit module type is the escape hatch.
interface ScaleConfig {
  type: 'user-scale';
  width: number;
}
class Scale extends Module<ScaleConfig> {}
export const scale: Scale = build<Scale>({ type: 'user-scale', width: 3 } as ScaleConfig);

// Or the user adds it to the map, and it is checked like the built-in ones.
declare module '@attnkit/core' {
  interface AttnkitConfigs {
    'user-gain': { width: number; init?: number };
  }
}
export const gainConfig: ConfigOf<'user-gain'> = { type: 'user-gain', width: 2 };
export const gain = build({ type: 'user-gain', width: 2, init: 1 });
// @ts-expect-error a misspelt field of the user's own type
export const badGain = build({ type: 'user-gain', widht: 2 });
