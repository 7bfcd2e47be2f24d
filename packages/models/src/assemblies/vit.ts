import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  ConfigError,
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
  /**
   * The positions cover the class token too (HF ViT's position_embeddings `[1, N + 1, d]`):
   * a 1-D encoding over numPatches + 1 positions, added after the class token is prepended.
   * Needs `pooling: 'cls'`. Default off.
   */
  classTokenPosition: z.boolean().optional(),
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
    checkClassTokenPosition(c);
    super(c, options);
    // A bad nested config throws half way: free what was built so far.
    try {
      const o = { rng: this.rng };
      this.patches = this.addModule(
        'patches',
        build<PatchEmbedding>(patchConfig(c), { ...o, path: '$', category: 'layer' }),
      );
      const [length, grid] = positionsOf(c);
      this.positional = this.addModule(
        'positional',
        buildPositional(c.positional, c.dModel, length, o, '$.positional', grid),
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
      const prepend = (x: tf.Tensor3D) =>
        this.classToken ? tf.concat([tf.tile(this.classToken, [b, 1, 1]) as tf.Tensor3D, x], 1) : x;
      // Positions belong to the patches, the class token prepended afterwards, unless they
      // cover it too (classTokenPosition).
      let h: tf.Tensor3D;
      if (this.config.classTokenPosition) {
        h = embedPositions(prepend(patches), this.positional, positionRange(0, n + 1));
      } else {
        h = prepend(embedPositions(patches, this.positional, positionRange(0, n)));
      }
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

function checkClassTokenPosition(c: Parsed): void {
  if (c.classTokenPosition && c.pooling !== 'cls') {
    throw new ConfigError(
      'vit',
      '$.classTokenPosition',
      "false unless pooling is 'cls' (no class token to place)",
      'true',
    );
  }
}

/** The positional encoding's length and its patch grid (none when it covers the class token). */
function positionsOf(c: Parsed): [number, Record<string, number>] {
  const g = c.imageSize / c.patchSize;
  if (c.classTokenPosition) return [g * g + 1, {}];
  return [g * g, { gridHeight: g, gridWidth: g }];
}

function patchConfig(c: Parsed): object {
  const { imageSize, patchSize, channels, dModel } = c;
  return { type: 'patch-embedding', imageSize, patchSize, channels, dModel };
}

/** Patches, positions over the grid, class token, blocks, final norm, readout: before building. */
function estimateVit(c: Parsed): Estimate {
  const d = c.dModel;
  const patches = estimateChild(patchConfig(c), '$', 'layer'); // checks patchSize | imageSize
  checkClassTokenPosition(c);
  const [length, grid] = positionsOf(c);
  return sumEstimates(
    patches,
    estimatePositional(c.positional, d, length, '$.positional', grid),
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
