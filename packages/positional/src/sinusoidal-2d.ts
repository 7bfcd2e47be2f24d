import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions, PositionalEncoding } from '@attnkit/core';
import {
  ConfigError,
  Module,
  ShapeError,
  checkInt,
  checkShape,
  register,
  parseConfig,
  estimateOf,
} from '@attnkit/core';
import { toPositions } from './util';

/** `[n, dim]`: for each position, sin of the first half of the frequencies then cos (MAE's 1-D form). */
function axisEmbedding(coordinate: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = dim / 2;
  const omega = Array.from({ length: half }, (_, i) => Math.pow(10000, -i / half));
  const angles = tf.mul(tf.expandDims(coordinate, 1), tf.tensor2d(omega, [1, half]));
  return tf.concat([tf.sin(angles), tf.cos(angles)], 1) as tf.Tensor2D;
}

/**
 * Fixed 2-D sine-cosine embedding for image patches (ViT/MAE, He et al. 2022): patch `p` sits at
 * row `floor(p / gridWidth)`, column `p mod gridWidth`; the first `dim/2` channels encode the row,
 * the last `dim/2` the column, each with the 1-D sinusoid of Vaswani et al. 2017 (base 10000).
 */
export function sinusoidal2dEmbedding(
  positions: tf.Tensor1D | readonly number[],
  gridWidth: number,
  dim: number,
): tf.Tensor2D {
  checkInt('sinusoidal-2d', 'gridWidth', gridWidth, 1);
  checkDim(dim);
  return tf.tidy(() => {
    const pos = toPositions('sinusoidal-2d', 'positions', positions);
    const rows = tf.floor(tf.div(pos, gridWidth)) as tf.Tensor1D;
    const cols = tf.sub(pos, tf.mul(rows, gridWidth)) as tf.Tensor1D;
    return tf.concat(
      [axisEmbedding(rows, dim / 2), axisEmbedding(cols, dim / 2)],
      1,
    ) as tf.Tensor2D;
  });
}

function checkDim(dim: number): void {
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) {
    throw new ConfigError('sinusoidal-2d', 'dim', 'a positive multiple of 4', String(dim));
  }
}

export const sinusoidal2dSchema = z.strictObject({
  type: z.literal('sinusoidal-2d').default('sinusoidal-2d'),
  dim: z.number().int().positive(),
  gridHeight: z.number().int().positive().optional(),
  gridWidth: z.number().int().positive().optional(),
});
export type Sinusoidal2dConfig = z.input<typeof sinusoidal2dSchema>;

/**
 * Adds the 2-D embedding to patch embeddings `[batch, patches, dim]`; positions are flat patch
 * indices in row-major order. Without `gridWidth` the grid is `patches / gridHeight` wide, or
 * square when neither side is given.
 */
export class Sinusoidal2dPositional
  extends Module<z.output<typeof sinusoidal2dSchema>>
  implements PositionalEncoding
{
  readonly kind = 'embed' as const;

  constructor(config: Sinusoidal2dConfig, options: ModuleOptions = {}) {
    const c = parseConfig('sinusoidal-2d', sinusoidal2dSchema, config);
    checkDim(c.dim);
    super(c, options);
  }

  /** The grid width used for `patches` tokens. */
  gridWidthFor(patches: number): number {
    const { gridHeight, gridWidth } = this.config;
    if (gridWidth !== undefined) return gridWidth;
    const width = gridHeight !== undefined ? patches / gridHeight : Math.sqrt(patches);
    if (!Number.isInteger(width)) {
      const want =
        gridHeight !== undefined ? `a multiple of gridHeight=${gridHeight}` : 'a square number';
      throw new ShapeError(
        'sinusoidal-2d',
        'x',
        `a patch count that is ${want}`,
        `${patches} patches`,
      );
    }
    return width;
  }

  embed(x: tf.Tensor3D, positions: tf.Tensor1D): tf.Tensor3D {
    checkShape('sinusoidal-2d', 'x', x, [null, null, this.config.dim]);
    const width = this.gridWidthFor(x.shape[1]);
    return tf.tidy(() => {
      const pos = toPositions('sinusoidal-2d', 'positions', positions, x.shape[1]);
      const { gridHeight, gridWidth } = this.config;
      if (gridHeight !== undefined && gridWidth !== undefined) {
        const max = tf.max(pos).dataSync()[0]!;
        if (max >= gridHeight * gridWidth) {
          throw new ShapeError(
            'sinusoidal-2d',
            'positions',
            `values < gridHeight*gridWidth=${gridHeight * gridWidth}`,
            `max ${max}`,
          );
        }
      }
      return tf.add(x, sinusoidal2dEmbedding(pos, width, this.config.dim)) as tf.Tensor3D;
    });
  }
}

register('sinusoidal-2d', (c, o) => new Sinusoidal2dPositional(c, o), sinusoidal2dSchema, {
  category: 'positional',
  estimate: (c) => estimateOf(0, (c.dim / 4) * 8),
  info: {
    paper: 'He et al. 2022, Masked Autoencoders Are Scalable Vision Learners',
    summary: 'Fixed 2-D sine-cosine embedding of image patch rows and columns.',
    example: { type: 'sinusoidal-2d', dim: 4 },
  },
});
