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
