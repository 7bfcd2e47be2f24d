import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions } from '@attnkit/core';
import {
  ConfigError,
  Linear,
  Module,
  checkShape,
  estimateOf,
  register,
  parseConfig,
} from '@attnkit/core';

export const patchEmbeddingSchema = z.strictObject({
  type: z.literal('patch-embedding'),
  /** Side of the square input image, in pixels. */
  imageSize: z.number().int().positive(),
  /** Side of a square patch; must divide imageSize. */
  patchSize: z.number().int().positive(),
  channels: z.number().int().positive().default(3),
  dModel: z.number().int().positive(),
});

export type PatchEmbeddingConfig = z.input<typeof patchEmbeddingSchema>;
type Parsed = z.output<typeof patchEmbeddingSchema>;

/** The patch size divides the image: checked by the estimate too, before anything is sized from it. */
function checkPatchSize(c: Parsed): void {
  if (c.imageSize % c.patchSize !== 0) {
    throw new ConfigError(
      'patch-embedding',
      '$.patchSize',
      `a divisor of imageSize=${c.imageSize}`,
      String(c.patchSize),
    );
  }
}

/**
 * ViT patch embedding (Dosovitskiy et al. 2021, eq. 1): cut `[batch, H, W, C]` images into
 * non-overlapping P×P patches in row-major order, flatten each (row, column, channel) and project
 * it to dModel: `z = x_p E + b`, the same as a P×P convolution with stride P.
 */
export class PatchEmbedding extends Module<Parsed> {
  readonly projection: Linear;
  /** Patches per image side. */
  readonly gridSize: number;

  constructor(config: PatchEmbeddingConfig, options: ModuleOptions = {}) {
    const c = parseConfig('patch-embedding', patchEmbeddingSchema, config);
    checkPatchSize(c);
    super(c, options);
    this.gridSize = c.imageSize / c.patchSize;
    const inFeatures = c.patchSize * c.patchSize * c.channels;
    this.projection = this.addModule(
      'projection',
      new Linear({ inFeatures, outFeatures: c.dModel }, { rng: this.rng }),
    );
  }

  get numPatches(): number {
    return this.gridSize * this.gridSize;
  }

  /** `[batch, imageSize, imageSize, channels]` float32 -> `[batch, numPatches, dModel]`. */
  forward(images: tf.Tensor4D): tf.Tensor3D {
    const { imageSize, patchSize: p, channels } = this.config;
    checkShape('patch-embedding', 'images', images, [null, imageSize, imageSize, channels]);
    const g = this.gridSize;
    return tf.tidy(() => {
      const b = images.shape[0];
      // [b*g, p, g, p*c] -> [b*g, g, p, p*c]: rank 4 only, which every backend transposes.
      const rows = tf.reshape(tf.cast(images, 'float32'), [b * g, p, g, p * channels]);
      const patches = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [b, g * g, p * p * channels]);
      return this.projection.forward(patches) as tf.Tensor3D;
    });
  }
}

register('patch-embedding', (c, o) => new PatchEmbedding(c, o), patchEmbeddingSchema, {
  category: 'layer',
  // The projection [P·P·C, dModel] and its bias.
  estimate: (c) => {
    checkPatchSize(c);
    return estimateOf(c.patchSize * c.patchSize * c.channels * c.dModel + c.dModel);
  },
  info: {
    paper: 'Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (ViT)',
    equation: 'eq. 1',
    summary: 'Cuts images into P×P patches and projects each to dModel.',
    example: { type: 'patch-embedding', imageSize: 4, patchSize: 2, dModel: 8 },
  },
});
