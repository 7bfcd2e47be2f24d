import type { z } from 'zod';
import {
  register,
  validateConfig,
  type Factory,
  type RegisterOptions,
  type TypedConfig,
} from '@attnkit/core';

/** A schema that fills defaults: what it reads (input) differs from what it gives (output). */
type DefaultingSchema = z.ZodType<TypedConfig>;

/**
 * The config with its schema's defaults filled in. An invalid one goes through
 * validateConfig, which throws core's ConfigError naming the path.
 */
export function parseWithDefaults<S extends DefaultingSchema>(
  schema: S,
  config: z.input<S>,
): z.output<S> {
  const result = schema.safeParse(config);
  if (result.success) return result.data;
  return validateConfig<z.output<S>>(config);
}

/** register() with a defaulting schema: the factory gets the parsed (output) config. */
export function registerWithDefaults<S extends DefaultingSchema>(
  type: string,
  factory: Factory<z.output<S>>,
  schema: S,
  options: RegisterOptions,
): void {
  register(type, factory, schema as unknown as z.ZodType<z.output<S>>, options);
}
