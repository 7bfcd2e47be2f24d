import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  ConfigError,
  Module,
  ShapeError,
  build,
  checkDtype,
  checkRank,
  checkShape,
  estimateChild,
  register,
  parseConfig,
  sumEstimates,
} from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { fillWidths } from '../blocks/fill';
import {
  embeddingInitField,
  linearInitField,
  nestedSchema,
  sizeSchema,
  tokenStackFields,
} from './fields';
import { MaskedLmHead, estimateMlmHead, mlmHeadSchema } from './mlm-head';
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
  /**
   * Token-type (segment) embeddings added to the token embeddings (BERT's `type_vocab_size`,
   * Devlin et al. 2019, fig. 2); the forward's `tokenTypes` picks them, type 0 by default.
   */
  typeVocabSize: sizeSchema.optional(),
  /** A norm over the summed embeddings before the first block (BERT's embeddings.LayerNorm). */
  embeddingNorm: nestedSchema.optional(),
  /** BERT's masked-LM head on every position (`maskedLmLogits`), tied to the token embedding. */
  mlmHead: mlmHeadSchema.optional(),
  ...linearInitField,
  ...embeddingInitField,
});

export type EncoderConfig = z.input<typeof encoderSchema>;
type Parsed = z.output<typeof encoderSchema>;

export interface EncoderOptions extends RunOptions {
  /** `[batch, time]` padding mask: 1 / true = token, 0 / false = padding. */
  mask?: tf.Tensor2D;
  /** `[batch, time]` int32 token types (segments), for a model with `typeVocabSize`; default 0. */
  tokenTypes?: tf.Tensor2D;
}

/**
 * Bidirectional transformer encoder (Devlin et al. 2019, BERT): token embedding, positional
 * encoding, a stack of non-causal blocks (overridable layer by layer), an optional final norm,
 * pooling (CLS, mean, last token or NV-Embed latent attention) and an optional classifier.
 */
export class Encoder extends Module<Parsed> {
  readonly embedding: TokenEmbedding;
  readonly tokenTypes?: TokenEmbedding;
  readonly embeddingNorm?: Layer;
  readonly positional: Positional;
  readonly blocks: TransformerBlock[];
  readonly finalNorm?: Layer;
  readonly readout: Readout;
  readonly mlmHead?: MaskedLmHead;

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
      if (c.typeVocabSize !== undefined) {
        this.tokenTypes = this.addModule(
          'tokenTypes',
          build<TokenEmbedding>(typesConfig(c.typeVocabSize, c.dModel), {
            ...o,
            path: '$.typeVocabSize',
            category: 'layer',
          }),
        );
      }
      if (c.embeddingNorm) {
        this.embeddingNorm = this.addModule(
          'embedNorm',
          build<Layer>(fillWidths(c.embeddingNorm, { dim: c.dModel }), {
            ...o,
            path: '$.embeddingNorm',
            category: 'norm',
          }),
        );
      }
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
      if (c.mlmHead) {
        const head = { ...c.mlmHead, dModel: c.dModel, vocabSize: c.vocabSize };
        this.mlmHead = this.addModule('mlm', new MaskedLmHead(head, o));
      }
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
      const h = runStack(this.inputs(ids, positions, options), this.blocks, context);
      return this.finalNorm ? (this.finalNorm.forward(h) as tf.Tensor3D) : h;
    });
  }

  /** The input of the first block: tokens, positions, token types, the embedding norm. */
  private inputs(ids: tf.Tensor2D, positions: tf.Tensor1D, options: EncoderOptions): tf.Tensor3D {
    const { tokenTypes } = options;
    if (tokenTypes && !this.tokenTypes) {
      throw new ConfigError(
        'encoder',
        'options.tokenTypes',
        'none (the model has no typeVocabSize)',
        'token types',
      );
    }
    if (tokenTypes) {
      checkDtype('encoder', 'options.tokenTypes', tokenTypes, ['int32']);
      checkShape('encoder', 'options.tokenTypes', tokenTypes, ids.shape);
    }
    return tf.tidy(() => {
      let h = embedPositions(this.embedding.forward(ids), this.positional, positions);
      if (this.tokenTypes) {
        const types = tokenTypes ?? tf.zeros(ids.shape, 'int32');
        h = tf.add(h, this.tokenTypes.forward(types));
      }
      return this.embeddingNorm ? (this.embeddingNorm.forward(h) as tf.Tensor3D) : h;
    });
  }

  /** Masked-LM logits `[batch, time, vocabSize]` at every position (needs `mlmHead`). */
  maskedLmLogits(ids: tf.Tensor2D, options: EncoderOptions = {}): tf.Tensor3D {
    if (!this.mlmHead) {
      throw new ConfigError('encoder', '$.mlmHead', 'an mlmHead for masked-LM logits', 'none');
    }
    return tf.tidy(() => this.mlmHead!.forward(this.hidden(ids, options), this.embedding));
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

function typesConfig(typeVocabSize: number, dModel: number) {
  return { type: 'embedding', numEmbeddings: typeVocabSize, dim: dModel };
}

const NONE: Estimate = { parameters: 0, bytes: 0 };

/** Embeddings, positions, blocks, final norm, readout and MLM head, before building. */
function estimateEncoder(c: Parsed): Estimate {
  const d = c.dModel;
  const types = c.typeVocabSize;
  return sumEstimates(
    estimateTokens(c.vocabSize, c.dModel, true),
    types === undefined ? NONE : estimateChild(typesConfig(types, d), '$.typeVocabSize', 'layer'),
    c.embeddingNorm
      ? estimateChild(fillWidths(c.embeddingNorm, { dim: d }), '$.embeddingNorm', 'norm')
      : NONE,
    c.mlmHead ? estimateMlmHead({ ...c.mlmHead, dModel: d, vocabSize: c.vocabSize }) : NONE,
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
