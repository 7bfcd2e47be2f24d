// Compile-time types of registered configs. The registry validates configs at run time (zod);
// this map lets TypeScript check a config literal before it runs. Each package adds its own
// types by declaration merging, next to the code that registers them:
//
//   declare module '@attnkit/core' {
//     interface AttnkitConfigs { 'my-mixer': MyMixerConfig }
//   }
//
// so `build({ type: 'differentail' })` and a misspelt field fail to compile. A type registered
// without an entry here still builds through the escape hatches of `build` (registry.ts).
import type { z } from 'zod';

/** Config types (what `build` takes, defaults optional) by registered type name. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface AttnkitConfigs {}

/** A registered type name known to TypeScript. */
export type ConfigType = keyof AttnkitConfigs & string;

/** The config of type `T`, its `type` field required. */
export type ConfigOf<T extends ConfigType> = AttnkitConfigs[T] & { type: T };

/** Any known config: a union discriminated by `type`, so a literal is checked field by field. */
export type AnyConfig = { [T in ConfigType]: ConfigOf<T> }[ConfigType];

/** Fields a model fills into the configs of its slots when they leave them out. */
export type FilledWidth = 'dModel' | 'dim' | 'maxLength' | 'numExperts' | 'topK';

/**
 * A config in a slot of a larger one (a block's mixer, a model's positional encoding): any known
 * config, the widths the model fills optional. Categories are checked when built.
 */
export type SlotConfig = {
  [T in ConfigType]: Omit<ConfigOf<T>, FilledWidth> &
    Partial<Pick<ConfigOf<T>, Extract<keyof ConfigOf<T>, FilledWidth>>>;
}[ConfigType];

/** A schema's input type as a config of `T` (what a package puts in the map). */
export type SchemaConfig<S extends z.ZodType, T extends string> = Omit<z.input<S>, 'type'> & {
  type: T;
};

/**
 * What `build` checks only at run time: `unknown` (parsed JSON), a config whose `type` is only
 * known as `string`, an object type without a `type`. A config whose `type` is a literal resolves
 * to `never` (a known type's literal was checked by the first overload, an unknown name is a
 * typo), so `build({ type: 'differentail' })` fails to compile.
 */
export type UncheckedConfig<C> = unknown extends C
  ? unknown
  : C extends { type: infer T }
    ? string extends T
      ? unknown
      : never
    : unknown;

/**
 * The registered type names each package declares in `AttnkitConfigs`, as a runtime list a spec
 * compares with `registeredTypes()`: `configTypeList<AttentionConfigs>()(['mha', ...])` fails to
 * compile when the list misses a key of the map or names one it lacks.
 */
export function configTypeList<Map>() {
  return <const L extends readonly (keyof Map & string)[]>(
    list: L &
      ([Exclude<keyof Map, L[number]>] extends [never]
        ? unknown
        : { missing: Exclude<keyof Map, L[number]> }),
  ): readonly (keyof Map & string)[] => list;
}
