import { AttnkitError, withArgument } from '@attnkit/core';

/**
 * Re-raises a typed error thrown while building a nested config with its JSON path under
 * `prefix` (`$.mixer.numHeads` inside layer 1 becomes `$.layerOverrides.1.mixer.numHeads`).
 */
export function underPath(error: unknown, prefix: string): unknown {
  if (!(error instanceof AttnkitError) || !error.argument.startsWith('$')) return error;
  if (prefix === '$' || error.argument.startsWith(prefix)) return error;
  return withArgument(error, prefix + error.argument.slice(1));
}
