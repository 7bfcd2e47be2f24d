import * as tf from '@tensorflow/tfjs-core';
import type { Module, ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { build } from '@attnkit/core';
import { fillWidths } from '../blocks/fill';

export type Positional = Module & PositionalEncoding;

/** Builds a positional encoding config, filling `dim` and `maxLength` where its schema takes them. */
export function buildPositional(
  config: object,
  dModel: number,
  maxLength: number,
  options: ModuleOptions,
  path: string,
): Positional {
  return build<Positional>(fillWidths(config, { dim: dModel, maxLength }), { ...options, path });
}

/** `[offset, offset + length)` as an int32 vector. */
export function positionRange(offset: number, length: number): tf.Tensor1D {
  return tf.range(offset, offset + length, 1, 'int32') as tf.Tensor1D;
}
