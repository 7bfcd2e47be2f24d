import type { z } from 'zod';
import { register, type Factory, type RegisterOptionsOf, type TypedConfig } from '@attnkit/core';

/** A schema that fills defaults: what it reads (input) differs from what it gives (output). */
type DefaultingSchema = z.ZodType<TypedConfig>;

/** register() with a defaulting schema: the factory gets the parsed (output) config. */
export function registerWithDefaults<S extends DefaultingSchema>(
  type: string,
  factory: Factory<z.output<S>>,
  schema: S,
  options: RegisterOptionsOf<z.output<S>>,
): void {
  register(type, factory, schema as unknown as z.ZodType<z.output<S>>, options);
}
