import * as tf from '@tensorflow/tfjs-core';
import type { Estimate, Module, ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { ConfigError, build, estimateChild } from '@attnkit/core';
import { fillWidths } from '../blocks/fill';

export type Positional = Module & PositionalEncoding;

/**
 * Builds a positional encoding config, filling `dim`, `maxLength` (and `extra`, e.g. a patch
 * grid) where its schema takes them. A `dim` other than the model's is refused here, not at the
 * first forward.
 */
export function buildPositional(
  config: object,
  dModel: number,
  maxLength: number,
  options: ModuleOptions,
  path: string,
  extra: Record<string, number> = {},
): Positional {
  const filled = positionalConfig(config, dModel, maxLength, path, extra);
  return build<Positional>(filled, { ...options, path, category: 'positional' });
}

/** What `buildPositional` with the same arguments will allocate, without building. */
export function estimatePositional(
  config: object,
  dModel: number,
  maxLength: number,
  path: string,
  extra: Record<string, number> = {},
): Estimate {
  const filled = positionalConfig(config, dModel, maxLength, path, extra);
  return estimateChild(filled, path, 'positional');
}

function positionalConfig(
  config: object,
  dModel: number,
  maxLength: number,
  path: string,
  extra: Record<string, number>,
): Record<string, unknown> {
  const dim = (config as { dim?: unknown }).dim;
  if (dim !== undefined && dim !== dModel) {
    throw new ConfigError(
      'positional',
      `${path}.dim`,
      `dModel=${dModel} (or leave it out)`,
      String(dim),
    );
  }
  return fillWidths(config, { dim: dModel, maxLength, ...extra });
}

/** `[offset, offset + length)` as an int32 vector. */
export function positionRange(offset: number, length: number): tf.Tensor1D {
  return tf.range(offset, offset + length, 1, 'int32') as tf.Tensor1D;
}
