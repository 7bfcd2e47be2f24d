import type { z } from 'zod';
import { AttnkitError, withArgument, zodToConfigError } from '@attnkit/core';

/**
 * Parses a config handed straight to a constructor with the schema `build` uses, so
 * `new Encoder({...})` fails with the same ConfigError (naming the JSON path) as `build({...})`.
 */
export function parseWith<S extends z.ZodType>(
  block: string,
  schema: S,
  config: unknown,
): z.output<S> {
  const result = schema.safeParse(config, { reportInput: true });
  if (!result.success) throw zodToConfigError(block, '$', result.error);
  return result.data;
}

/**
 * Re-raises a typed error thrown while building a nested config with its JSON path under
 * `prefix` (`$.mixer.numHeads` inside layer 1 becomes `$.layerOverrides.1.mixer.numHeads`).
 */
export function underPath(error: unknown, prefix: string): unknown {
  if (!(error instanceof AttnkitError) || !error.argument.startsWith('$')) return error;
  if (prefix === '$' || error.argument.startsWith(prefix)) return error;
  return withArgument(error, prefix + error.argument.slice(1));
}
