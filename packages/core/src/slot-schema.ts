// The run-time schema of a nested config slot (a block's mixer, a model's norm). At run time the
// slot's fields are checked by its own type's schema when it is built, under the slot's JSON
// path; for the compiler its input is marked (`SlotInput`), and `SchemaConfig` types it as the
// configs it takes, so a config literal with a misspelt nested type or field fails to compile.
import { z } from 'zod';
import type { ConfigType, SlotInput } from './config-types';

/** A slot after parsing: its registered type name and the options its own schema checks. */
export type ParsedSlot = { type: string; [key: string]: unknown };

/** A slot of any registered type, or of one of `T` (checked when built, as its category). */
export function slotSchema<T extends string = ConfigType>(): z.ZodType<ParsedSlot, SlotInput<T>> {
  return z.looseObject({ type: z.string() });
}

/**
 * Gives a loose run-time schema the input type of what it is built as (a block template typed
 * as the block's config less the fields its owner sets): `typedInput<I>()(schema)`. The schema
 * checks only the outline; the block's own schema checks the rest when it is built.
 */
export function typedInput<I>() {
  return <S extends z.ZodType>(schema: S): z.ZodType<z.output<S>, I> =>
    schema as unknown as z.ZodType<z.output<S>, I>;
}
