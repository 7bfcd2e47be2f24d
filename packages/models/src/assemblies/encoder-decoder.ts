import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { AuxLossCollector, Estimate, ModuleOptions } from '@attnkit/core';
import {
  Module,
  ShapeError,
  checkDtype,
  checkRank,
  register,
  parseConfig,
  sumEstimates,
  timesEstimate,
} from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { StackState } from './decoder-state';
import { embeddingInitField, linearInitField, nestedSchema, sizeSchema } from './fields';
import { keyMask, paddingWeights } from './padding';
import { type Positional, buildPositional, estimatePositional, positionRange } from './positions';
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
import {
  type TokenEmbedding,
  buildTokenEmbedding,
  buildVocabHead,
  estimateTokens,
  vocabLogits,
} from './tokens';

export const encoderDecoderSchema = z.strictObject({
  type: z.literal('encoder-decoder'),
  /** One vocabulary (and embedding) for source, target and the output head, as in T5. */
  vocabSize: sizeSchema,
  dModel: sizeSchema,
  encoderLayers: sizeSchema,
  decoderLayers: sizeSchema,
  /** Longest source and longest target sequence. */
  maxLength: sizeSchema,
  positional: nestedSchema,
  /** Block template of both stacks; decoder blocks add the cross-attention sublayer. */
  block: blockTemplateSchema,
  /** The decoder's cross-attention mixer; default `cross-attention` with the block's heads. */
  crossAttention: nestedSchema.optional(),
  encoderOverrides: layerOverridesSchema.optional(),
  decoderOverrides: layerOverridesSchema.optional(),
  tieEmbeddings: z.boolean().default(true),
  /** Norm after each stack; default the blocks' norm, none for post-norm blocks. */
  finalNorm: nestedSchema.optional(),
  ...linearInitField,
  ...embeddingInitField,
});

export type EncoderDecoderConfig = z.input<typeof encoderDecoderSchema>;
type Parsed = z.output<typeof encoderDecoderSchema>;

export interface EncodeOptions extends RunOptions {
  /** `[batch, srcTime]` source padding mask (1 = token, 0 = padding). */
  mask?: tf.Tensor2D;
}

export interface DecodeOptions extends RunOptions {
  /** The source padding mask given to `encode`, so cross-attention skips padding. */
  memoryMask?: tf.Tensor2D;
  /** Decoding state from `initState`; the call consumes the tokens and advances it. */
  state?: StackState;
}

/**
 * Encoder-decoder transformer (Vaswani et al. 2017, sec. 3.1; Raffel et al. 2020, T5): a
 * bidirectional encoder over the source, a causal decoder whose blocks cross-attend to the
 * encoder output (the TransformerBlock cross slot, `cross-attention` mixer by default), a shared
 * embedding and an output head tied to it unless `tieEmbeddings` is false.
 */
export class EncoderDecoder extends Module<Parsed> {
  readonly embedding: TokenEmbedding;
  readonly encoderPositional: Positional;
  readonly decoderPositional: Positional;
  readonly encoderBlocks: TransformerBlock[];
  readonly decoderBlocks: TransformerBlock[];
  readonly encoderNorm?: Layer;
  readonly decoderNorm?: Layer;
  readonly head?: Layer;

  constructor(config: EncoderDecoderConfig, options: ModuleOptions = {}) {
    const c = parseConfig('encoder-decoder', encoderDecoderSchema, config);
    super(c, options);
    // A bad nested config throws half way: free what was built so far.
    try {
      const o = { rng: this.rng };
      const d = c.dModel;
      this.embedding = this.addModule(
        'embed',
        buildTokenEmbedding(c.vocabSize, d, o, c.embeddingInit),
      );
      const positional = (name: string) =>
        this.addModule(name, buildPositional(c.positional, d, c.maxLength, o, '$.positional'));
      this.encoderPositional = positional('encoderPositional');
      this.decoderPositional = positional('decoderPositional');
      this.encoderBlocks = buildBlocks(
        'encoder-decoder',
        '$',
        c.block,
        c.encoderOverrides,
        c.encoderLayers,
        d,
        o,
        'encoderOverrides',
        { causal: false, positional: this.encoderPositional },
      );
      this.encoderBlocks.forEach((b, i) => this.addModule(`encoder_${i}`, b));
      this.decoderBlocks = buildBlocks(
        'encoder-decoder',
        '$',
        decoderTemplate(c),
        c.decoderOverrides,
        c.decoderLayers,
        d,
        o,
        'decoderOverrides',
        { causal: true, positional: this.decoderPositional },
      );
      this.decoderBlocks.forEach((b, i) => this.addModule(`decoder_${i}`, b));
      const norm = finalNormConfig(c.finalNorm, c.block);
      if (norm) {
        this.encoderNorm = this.addModule('encoderNorm', buildFinalNorm(norm, d, o));
        this.decoderNorm = this.addModule('decoderNorm', buildFinalNorm(norm, d, o));
      }
      if (!c.tieEmbeddings) this.head = this.addModule('head', buildVocabHead(d, c.vocabSize, o));
      if (c.linearInit) initLinears([this], c.linearInit, this.rng);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** A fresh decoder state (self-attention caches) for `batch` sequences. */
  initState(batch: number): StackState {
    return new StackState(this.decoderBlocks.map((b) => b.initState(batch)));
  }

  /** Encoder output `[batch, srcTime, dModel]`: the memory the decoder attends to. */
  encode(src: tf.Tensor2D, options: EncodeOptions = {}): tf.Tensor3D {
    this.checkIds('src', src, 0);
    const [batch, time] = src.shape;
    return tf.tidy(() => {
      const weights = options.mask
        ? paddingWeights('encoder-decoder', 'options.mask', options.mask, batch, time)
        : undefined;
      const positions = positionRange(0, time);
      const h = runStack(
        embedPositions(this.embedding.forward(src), this.encoderPositional, positions),
        this.encoderBlocks,
        {
          ...stackContext(0, this.encoderPositional, options, this.training),
          causal: false,
          mask: weights ? keyMask(weights) : undefined,
        },
        undefined,
        'encoder_',
      );
      return this.encoderNorm ? (this.encoderNorm.forward(h) as tf.Tensor3D) : h;
    });
  }

  /** Next-token logits `[batch, tgtTime, vocabSize]` of the target given the encoder memory. */
  decode(tgt: tf.Tensor2D, memory: tf.Tensor3D, options: DecodeOptions = {}): tf.Tensor3D {
    const offset = options.state?.length ?? 0;
    this.checkIds('tgt', tgt, offset);
    checkRank('encoder-decoder', 'memory', memory, 3);
    const [batch, time] = tgt.shape;
    if (memory.shape[0] !== batch || memory.shape[2] !== this.config.dModel) {
      throw new ShapeError(
        'encoder-decoder',
        'memory',
        `shape [${batch},srcTime,${this.config.dModel}]`,
        `[${memory.shape.join(',')}]`,
      );
    }
    const out = tf.tidy(() => {
      const weights = options.memoryMask
        ? paddingWeights(
            'encoder-decoder',
            'options.memoryMask',
            options.memoryMask,
            batch,
            memory.shape[1],
          )
        : undefined;
      const positions = positionRange(offset, time);
      let h = runStack(
        embedPositions(this.embedding.forward(tgt), this.decoderPositional, positions),
        this.decoderBlocks,
        {
          ...stackContext(offset, this.decoderPositional, options, this.training),
          causal: true,
          memory,
          memoryMask: weights ? keyMask(weights) : undefined,
        },
        options.state,
        'decoder_',
      );
      if (this.decoderNorm) h = this.decoderNorm.forward(h) as tf.Tensor3D;
      return vocabLogits(h, this.embedding, this.head, this.config.vocabSize);
    });
    options.state?.advance(time);
    return out;
  }

  /** Teacher-forced logits `[batch, tgtTime, vocabSize]`: encode `src`, decode `tgt`. */
  forward(
    src: tf.Tensor2D,
    tgt: tf.Tensor2D,
    options: { srcMask?: tf.Tensor2D; training?: boolean; aux?: AuxLossCollector } = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const { srcMask, ...rest } = options;
      const memory = this.encode(src, { ...rest, mask: srcMask });
      return this.decode(tgt, memory, { ...rest, memoryMask: srcMask });
    });
  }

  private checkIds(argument: string, ids: tf.Tensor, offset: number): void {
    checkRank('encoder-decoder', argument, ids, 2);
    checkDtype('encoder-decoder', argument, ids, ['int32']);
    const end = offset + ids.shape[1]!;
    if (end > this.config.maxLength) {
      throw new ShapeError(
        'encoder-decoder',
        argument,
        `at most maxLength=${this.config.maxLength} positions`,
        `${end}${offset ? ` (offset ${offset} + ${ids.shape[1]} tokens)` : ' tokens'}`,
      );
    }
  }
}

/** The decoder blocks' template: the block's, with the cross-attention mixer (default: the block's heads). */
function decoderTemplate(c: Parsed): Record<string, unknown> {
  const heads = (c.block.mixer as { numHeads?: unknown }).numHeads;
  const cross = c.crossAttention ?? {
    type: 'cross-attention',
    numHeads: typeof heads === 'number' ? heads : 4,
  };
  return { ...c.block, crossAttention: cross };
}

/** Embedding, two position encodings, both stacks, their norms, the untied head: before building. */
function estimateEncoderDecoder(c: Parsed): Estimate {
  const d = c.dModel;
  const encoder = ['encoder-decoder', '$', c.block, c.encoderOverrides, c.encoderLayers] as const;
  const decoder = ['encoder-decoder', '$', decoderTemplate(c), c.decoderOverrides] as const;
  return sumEstimates(
    estimateTokens(c.vocabSize, d, c.tieEmbeddings),
    timesEstimate(2, estimatePositional(c.positional, d, c.maxLength, '$.positional')),
    estimateBlocks(...encoder, d, 'encoderOverrides'),
    estimateBlocks(...decoder, c.decoderLayers, d, 'decoderOverrides'),
    timesEstimate(2, estimateFinalNorm(finalNormConfig(c.finalNorm, c.block), d)),
  );
}

register('encoder-decoder', (c, o) => new EncoderDecoder(c, o), encoderDecoderSchema, {
  category: 'model',
  estimate: estimateEncoderDecoder,
  info: {
    paper: 'Vaswani et al. 2017, sec. 3.1; Raffel et al. 2020, T5',
    summary: 'Bidirectional encoder and a causal decoder cross-attending to it, shared embedding.',
    example: {
      type: 'encoder-decoder',
      vocabSize: 16,
      dModel: 8,
      encoderLayers: 1,
      decoderLayers: 1,
      maxLength: 8,
      positional: { type: 'learned' },
      block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
    },
  },
});
