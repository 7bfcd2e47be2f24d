import { configKeys } from '@attnkit/core';

/**
 * Adds each of `values` that `config` lacks and its registered type accepts, so block configs
 * inside a model may leave out widths the model knows (`dim`, `dModel`, ...).
 */
export function fillWidths(
  config: object,
  values: Record<string, number>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  const type = (config as { type?: unknown }).type;
  const keys = typeof type === 'string' ? configKeys(type) : undefined;
  for (const [key, value] of Object.entries(values)) {
    if (!(key in out) && keys?.includes(key)) out[key] = value;
  }
  return out;
}
