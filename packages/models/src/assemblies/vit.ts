import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  Module,
  build,
  estimateChild,
  estimateOf,
  initTensor,
  register,
  parseConfig,
  sumEstimates,
} from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { PatchEmbedding } from '../blocks/patch-embedding';
import { linearInitField, nestedSchema, sizeSchema } from './fields';
import { poolingSchema } from './pooling';
import type { Positional } from './positions';
import { buildPositional, estimatePositional, positionRange } from './positions';
import { Readout, buildReadout, estimateReadout, readoutFields } from './readout';
import type { Layer, RunOptions } from './stack';
import {
  blockTemplateSchema,
  buildBlocks,
  buildFinalNorm,
  embedPositions,
  estimateBlocks,
  estimateFinalNorm,
  finalNormConfig,
  layerOverridesSchema,
  initLinears,
  runStack,
  stackContext,
} from './stack';

export const vitSchema = z.strictObject({
  type: z.literal('vit'),
  imageSize: sizeSchema,
  patchSize: sizeSchema,
  channels: sizeSchema.default(3),
  dModel: sizeSchema,
  numLayers: sizeSchema,
  /**
   * Positions of the patches: `sinusoidal-2d` (fixed, row and column) or `learned` (one vector
   * per patch), added before the class token is prepended; `rotate`/`bias` kinds see flat indices.
   */
  positional: nestedSchema.default({ type: 'sinusoidal-2d' }),
  block: blockTemplateSchema,
  layerOverrides: layerOverridesSchema.optional(),
  finalNorm: nestedSchema.optional(),
  /** `cls` prepends a learned class token and reads it; `mean` averages the patches. */
  pooling: poolingSchema.exclude(['last']).default('cls'),
  ...readoutFields,
  ...linearInitField,
});

export type VitConfig = z.input<typeof vitSchema>;
type Parsed = z.output<typeof vitSchema>;

export type VitOptions = RunOptions;

/**
 * Vision Transformer (Dosovitskiy et al. 2021, eqs. 1-4): patch embedding, 2-D positions, an
 * optional learned class token, a stack of non-causal blocks, a final norm, pooling and a linear
 * classification head. Images are `[batch, imageSize, imageSize, channels]` float32 (NHWC).
 */
export class ViT extends Module<Parsed> {
  readonly patches: PatchEmbedding;
  readonly positional: Positional;
  readonly classToken?: tf.Variable;
  readonly blocks: TransformerBlock[];
  readonly finalNorm?: Layer;
  readonly readout: Readout;

  constructor(config: VitConfig, options: ModuleOptions = {}) {
    const c = parseConfig('vit', vitSchema, config);
    super(c, options);
    // A bad nested config throws half way: free what was built so far.
    try {
      const o = { rng: this.rng };
      this.patches = this.addModule(
        'patches',
        build<PatchEmbedding>(patchConfig(c), { ...o, path: '$', category: 'layer' }),
      );
      const g = this.patches.gridSize;
      this.positional = this.addModule(
        'positional',
        buildPositional(c.positional, c.dModel, this.patches.numPatches, o, '$.positional', {
          gridHeight: g,
          gridWidth: g,
        }),
      );
      if (c.pooling === 'cls') {
        this.classToken = this.addParameter(
          'classToken',
          initTensor({ name: 'normal', std: 0.02 }, [1, 1, c.dModel], this.rng),
        );
      }
      this.blocks = buildBlocks(
        'vit',
        '$',
        c.block,
        c.layerOverrides,
        c.numLayers,
        c.dModel,
        o,
        'layerOverrides',
        { causal: false, positional: this.positional },
      );
      this.blocks.forEach((b, i) => this.addModule(`layers_${i}`, b));
      const norm = finalNormConfig(c.finalNorm, c.block);
      if (norm) this.finalNorm = this.addModule('finalNorm', buildFinalNorm(norm, c.dModel, o));
      this.readout = this.addModule('readout', buildReadout(c, o));
      if (c.linearInit) initLinears([this], c.linearInit, this.rng);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Token states `[batch, tokens, dModel]` (class token first when pooling is `cls`). */
  hidden(images: tf.Tensor4D, options: VitOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const patches = this.patches.forward(images);
      const [b, n] = patches.shape;
      // Positions belong to the patches; the class token (if any) is prepended afterwards.
      let h = embedPositions(patches, this.positional, positionRange(0, n));
      if (this.classToken)
        h = tf.concat([tf.tile(this.classToken, [b, 1, 1]) as tf.Tensor3D, h], 1);
      const context = {
        ...stackContext(0, this.positional, options, this.training),
        causal: false,
      };
      h = runStack(h, this.blocks, context);
      return this.finalNorm ? (this.finalNorm.forward(h) as tf.Tensor3D) : h;
    });
  }

  /** Pooled image vectors `[batch, dModel]`. */
  embed(images: tf.Tensor4D, options: VitOptions = {}): tf.Tensor2D {
    return tf.tidy(() =>
      this.readout.pool(this.hidden(images, options), undefined, options.training),
    );
  }

  /** Class logits `[batch, numClasses]`; without `numClasses`, the pooled `[batch, dModel]`. */
  forward(images: tf.Tensor4D, options: VitOptions = {}): tf.Tensor2D {
    return tf.tidy(() =>
      this.readout.forward(this.hidden(images, options), undefined, options.training),
    );
  }
}

function patchConfig(c: Parsed): object {
  const { imageSize, patchSize, channels, dModel } = c;
  return { type: 'patch-embedding', imageSize, patchSize, channels, dModel };
}

/** Patches, positions over the grid, class token, blocks, final norm, readout: before building. */
function estimateVit(c: Parsed): Estimate {
  const d = c.dModel;
  const patches = estimateChild(patchConfig(c), '$', 'layer'); // checks patchSize | imageSize
  const g = c.imageSize / c.patchSize;
  const grid = { gridHeight: g, gridWidth: g };
  return sumEstimates(
    patches,
    estimatePositional(c.positional, d, g * g, '$.positional', grid),
    estimateOf(c.pooling === 'cls' ? d : 0),
    estimateBlocks('vit', '$', c.block, c.layerOverrides, c.numLayers, d),
    estimateFinalNorm(finalNormConfig(c.finalNorm, c.block), d),
    estimateReadout(c),
  );
}

register('vit', (c, o) => new ViT(c, o), vitSchema, {
  category: 'model',
  estimate: estimateVit,
  info: {
    paper: 'Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (ViT)',
    equation: 'eqs. 1-4',
    summary:
      'Vision Transformer: patches, 2-D positions, class token, non-causal blocks, classifier.',
    example: {
      type: 'vit',
      imageSize: 4,
      patchSize: 2,
      dModel: 8,
      numLayers: 1,
      block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
    },
  },
});
