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

/** A config of one of the types `T` in a slot of a larger one: the widths the model fills optional. */
export type SlotOf<T extends ConfigType> = {
  [K in T]: Omit<ConfigOf<K>, FilledWidth> &
    Partial<Pick<ConfigOf<K>, Extract<keyof ConfigOf<K>, FilledWidth>>>;
}[T];

/**
 * A config in a slot of a larger one (a block's mixer, a model's positional encoding): any known
 * config, the widths the model fills optional. Categories are checked when built.
 */
export type SlotConfig = SlotOf<ConfigType>;

/** The key that marks a slot in a schema's input type (its types), resolved by `Slotted`. */
declare const slotMark: unique symbol;

/**
 * A slot's input type as its schema declares it (`slotSchema`): any object with a string `type`,
 * so a block's constructor takes what it parses at run time; the map sees `SlotOf<T>`. The mark
 * stands in for the map: a schema's inferred type cannot name the map that names the schema.
 */
export type SlotInput<T extends string> = { type: string; [key: string]: unknown } & SlotMarked<T>;

/** The mark itself: an interface, so declaration files name it. */
export interface SlotMarked<T extends string> {
  readonly [slotMark]?: T;
}

/** `V` with every `SlotInput` in it, at any depth, replaced by the `SlotOf` its mark names. */
export type Slotted<V> = V extends object
  ? typeof slotMark extends keyof V
    ? SlotOf<NonNullable<V[typeof slotMark]> & ConfigType>
    : { [K in keyof V]: Slotted<V[K]> }
  : V;

/**
 * A schema's input type as a config of `T` (what a package puts in the map), its nested slots
 * typed as the configs they take.
 */
export type SchemaConfig<S extends z.ZodType, T extends string> = Omit<
  Slotted<z.input<S>>,
  'type'
> & {
  type: T;
};

/**
 * What `build` checks only at run time: `unknown` (parsed JSON), a config whose `type` is only
 * known as `string`, at the top or in a nested slot (a variable typed by a block's own config
 * type, whose slots take any type name), an object type without a `type`. A config whose types
 * are all literals resolves to `never` (the first overload checked a known type's literal; an
 * unknown name is a typo), so `build({ type: 'differentail' })` fails to compile.
 */
export type UncheckedConfig<C> = unknown extends C
  ? unknown
  : C extends { type: infer T }
    ? string extends T
      ? unknown
      : true extends HasStringType<C>
        ? unknown
        : never
    : unknown;

/** Whether `C` holds, at any depth below its top, a `type` field known only as `string`. */
type HasStringType<C> = C extends object
  ? {
      [K in keyof C]: K extends 'type' ? false : IsStringTyped<C[K]> | HasStringType<C[K]>;
    }[keyof C]
  : false;

type IsStringTyped<V> = V extends { type: infer T } ? (string extends T ? true : false) : false;

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
