import { validateConfig } from '@attnkit/core';

/**
 * Adds each of `values` that `config` lacks and its registered schema accepts, so block configs
 * inside a model may leave out widths the model knows (`dim`, `dModel`, ...). A key the schema
 * rejects as unknown is left out; any other problem surfaces when the config is built.
 */
export function fillWidths(
  config: object,
  values: Record<string, number>,
): Record<string, unknown> {
  let out: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(values)) {
    if (key in out) continue;
    const attempt = { ...out, [key]: value };
    try {
      validateConfig(attempt);
      out = attempt;
    } catch (e) {
      const unknown =
        e instanceof Error && e.message.includes(`'${key}'`) && /unknown option/.test(e.message);
      if (!unknown) out = attempt;
    }
  }
  return out;
}
