import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  Module,
  ShapeError,
  checkDtype,
  checkRank,
  register,
  parseConfig,
  sumEstimates,
} from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { embeddingInitField, linearInitField, nestedSchema, tokenStackFields } from './fields';
import { keyMask, paddingWeights } from './padding';
import { poolingSchema } from './pooling';
import { type Positional, buildPositional, estimatePositional, positionRange } from './positions';
import { Readout, buildReadout, estimateReadout, readoutFields } from './readout';
import type { Layer, RunOptions } from './stack';
import {
  buildBlocks,
  buildFinalNorm,
  embedPositions,
  estimateBlocks,
  estimateFinalNorm,
  finalNormConfig,
  initLinears,
  runStack,
  stackContext,
} from './stack';
import { type TokenEmbedding, buildTokenEmbedding, estimateTokens } from './tokens';

export const encoderSchema = z.strictObject({
  type: z.literal('encoder'),
  ...tokenStackFields,
  /** Norm after the last block; default the blocks' norm, none for post-norm blocks. */
  finalNorm: nestedSchema.optional(),
  /** `cls` reads position 0: start each sequence with your CLS token id, as BERT does. */
  pooling: poolingSchema.default('cls'),
  ...readoutFields,
  ...linearInitField,
  ...embeddingInitField,
});

export type EncoderConfig = z.input<typeof encoderSchema>;
type Parsed = z.output<typeof encoderSchema>;

export interface EncoderOptions extends RunOptions {
  /** `[batch, time]` padding mask: 1 / true = token, 0 / false = padding. */
  mask?: tf.Tensor2D;
}

/**
 * Bidirectional transformer encoder (Devlin et al. 2019, BERT): token embedding, positional
 * encoding, a stack of non-causal blocks (overridable layer by layer), an optional final norm,
 * pooling (CLS, mean, last token or NV-Embed latent attention) and an optional classifier.
 */
export class Encoder extends Module<Parsed> {
  readonly embedding: TokenEmbedding;
  readonly positional: Positional;
  readonly blocks: TransformerBlock[];
  readonly finalNorm?: Layer;
  readonly readout: Readout;

  constructor(config: EncoderConfig, options: ModuleOptions = {}) {
    const c = parseConfig('encoder', encoderSchema, config);
    super(c, options);
    // A bad nested config throws half way: free what was built so far.
    try {
      const o = { rng: this.rng };
      this.embedding = this.addModule(
        'embed',
        buildTokenEmbedding(c.vocabSize, c.dModel, o, c.embeddingInit),
      );
      this.positional = this.addModule(
        'positional',
        buildPositional(c.positional, c.dModel, c.maxLength, o, '$.positional'),
      );
      this.blocks = buildBlocks(
        'encoder',
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

  /** Contextual token states `[batch, time, dModel]` (after the final norm). */
  hidden(ids: tf.Tensor2D, options: EncoderOptions = {}): tf.Tensor3D {
    checkRank('encoder', 'ids', ids, 2);
    checkDtype('encoder', 'ids', ids, ['int32']);
    const time = ids.shape[1];
    if (time > this.config.maxLength) {
      throw new ShapeError(
        'encoder',
        'ids',
        `at most maxLength=${this.config.maxLength} positions`,
        `${time} tokens`,
      );
    }
    return tf.tidy(() => {
      const weights = this.weights(ids, options);
      const positions = positionRange(0, time);
      const context = {
        ...stackContext(0, this.positional, options, this.training),
        causal: false,
        mask: weights ? keyMask(weights) : undefined,
      };
      const h = runStack(
        embedPositions(this.embedding.forward(ids), this.positional, positions),
        this.blocks,
        context,
      );
      return this.finalNorm ? (this.finalNorm.forward(h) as tf.Tensor3D) : h;
    });
  }

  /** One vector per sequence, `[batch, dModel]`, pooled as configured. */
  embed(ids: tf.Tensor2D, options: EncoderOptions = {}): tf.Tensor2D {
    return tf.tidy(() =>
      this.readout.pool(this.hidden(ids, options), this.weights(ids, options), options.training),
    );
  }

  /** Class logits `[batch, numClasses]`; without `numClasses`, the pooled `[batch, dModel]`. */
  forward(ids: tf.Tensor2D, options: EncoderOptions = {}): tf.Tensor2D {
    return tf.tidy(() =>
      this.readout.forward(this.hidden(ids, options), this.weights(ids, options), options.training),
    );
  }

  private weights(ids: tf.Tensor2D, options: EncoderOptions): tf.Tensor2D | undefined {
    if (!options.mask) return undefined;
    const [batch, time] = ids.shape;
    return paddingWeights('encoder', 'options.mask', options.mask, batch, time);
  }
}

/** Embedding, positions, the blocks, the final norm and the readout, before building. */
function estimateEncoder(c: Parsed): Estimate {
  return sumEstimates(
    estimateTokens(c.vocabSize, c.dModel, true),
    estimatePositional(c.positional, c.dModel, c.maxLength, '$.positional'),
    estimateBlocks('encoder', '$', c.block, c.layerOverrides, c.numLayers, c.dModel),
    estimateFinalNorm(finalNormConfig(c.finalNorm, c.block), c.dModel),
    estimateReadout(c),
  );
}

register('encoder', (c, o) => new Encoder(c, o), encoderSchema, {
  category: 'model',
  estimate: estimateEncoder,
  info: {
    paper: 'Devlin et al. 2019, BERT',
    summary:
      'Bidirectional encoder with pooling (cls, mean, last, latent) and an optional classifier.',
    example: {
      type: 'encoder',
      vocabSize: 16,
      dModel: 8,
      numLayers: 1,
      maxLength: 8,
      positional: { type: 'learned' },
      block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
    },
  },
});
