import type { z } from 'zod';
import { zodToConfigError } from '../registry';

/**
 * Checks a config passed straight to a constructor with the schema `build` uses,
 * so `new Linear({ inFeatures: -1, ... })` fails as clearly as `build(...)` does.
 */
export function parseConfig<C>(block: string, schema: z.ZodType<C>, config: unknown): C {
  const result = schema.safeParse(config, { reportInput: true });
  if (!result.success) throw zodToConfigError(block, '$', result.error);
  return result.data;
}
