import { z } from 'zod';
import type { ModuleOptions } from '@attnkit/core';
import { ConfigError, build } from '@attnkit/core';
import { TransformerBlock } from '../blocks/transformer-block';

/** A block config inside a model: everything but `type` and `dModel`, which the model sets. */
export const blockTemplateSchema = z.looseObject({
  mixer: z.looseObject({ type: z.string() }),
  feedForward: z.looseObject({ type: z.string() }),
});

export const layerOverridesSchema = z.record(z.string().regex(/^\d+$/), z.looseObject({}));

export type BlockTemplate = Record<string, unknown>;

/**
 * Builds `numLayers` transformer blocks from one template; `overrides[i]` replaces fields of
 * layer i (a whole `mixer` for a hybrid, say). Errors name the JSON path of the bad layer.
 */
export function buildBlocks(
  owner: string,
  path: string,
  template: BlockTemplate,
  overrides: Record<string, object> | undefined,
  numLayers: number,
  dModel: number,
  options: ModuleOptions,
): TransformerBlock[] {
  for (const key of Object.keys(overrides ?? {})) {
    if (Number(key) >= numLayers) {
      throw new ConfigError(
        owner,
        `${path}.layerOverrides.${key}`,
        `a layer index < ${numLayers}`,
        key,
      );
    }
  }
  const blocks: TransformerBlock[] = [];
  for (let i = 0; i < numLayers; i++) {
    const override = overrides?.[String(i)];
    const config = { ...template, ...override, type: 'transformer-block', dModel };
    const where = override ? `${path}.layerOverrides.${i}` : `${path}.block`;
    blocks.push(build<TransformerBlock>(config, { ...options, path: where }));
  }
  return blocks;
}
