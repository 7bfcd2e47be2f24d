import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type {
  Estimate,
  FusedDecoderDense,
  FusedDecoderLayer,
  FusedDecoderNorm,
  FusedDecoderPositional,
  FusedDecoderSpec,
  FusedDecodingContext,
  ModuleOptions,
} from '@attnkit/core';
import {
  Embedding,
  Module,
  ShapeError,
  checkDtype,
  checkRank,
  fusedDecodingOf,
  register,
  parseConfig,
  sumEstimates,
} from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { StackState } from './decoder-state';
import {
  embeddingInitField,
  linearInitField,
  nestedSchema,
  sizeSchema,
  tokenStackFields,
} from './fields';
import * as landmarks from './landmarks';
import { type Positional, buildPositional, estimatePositional, positionRange } from './positions';
import type { Layer, RunOptions } from './stack';
import {
  buildBlocks,
  buildFinalNorm,
  checkKvSharing,
  embedPositions,
  estimateBlocks,
  estimateFinalNorm,
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

export const decoderLmSchema = z.strictObject({
  type: z.literal('decoder-lm'),
  ...tokenStackFields,
  tieEmbeddings: z.boolean().default(true),
  finalNorm: nestedSchema.default({ type: 'rms-norm' }),
  /**
   * Cross-layer KV sharing (Brandon et al. 2024; Hymba sec. 2.3): each group of `groupSize`
   * consecutive layers attends the keys/values of its first; the cache holds one per group.
   */
  kvSharing: z.strictObject({ groupSize: sizeSchema }).optional(),
  /** Landmark tokens (Mohtashami & Jaggi 2023): a learned landmark after every blockSize tokens. */
  landmark: landmarks.landmarkSchema.optional(),
  ...linearInitField,
  ...embeddingInitField,
});

export type DecoderLmConfig = z.input<typeof decoderLmSchema>;
type Parsed = z.output<typeof decoderLmSchema>;

export interface LmForwardOptions extends RunOptions {
  /** Decoding state from `initState`; the call consumes the tokens and advances it. */
  state?: StackState;
  mask?: tf.Tensor;
  segmentIds?: tf.Tensor2D;
  /** Block-Attention: `segmentIds` mark blocks, the last attends to all (see `prefillBlocks`). */
  blockAttention?: boolean;
}

/**
 * Decoder-only language model (Radford et al. 2018, GPT): token embedding, positional encoding,
 * a stack of causal transformer blocks (layer by layer overridable, for hybrids), final norm and
 * an output head tied to the embedding (Press & Wolf 2017) unless `tieEmbeddings` is false.
 */
export class DecoderLM extends Module<Parsed> {
  readonly embedding: TokenEmbedding;
  readonly positional: Positional;
  readonly blocks: TransformerBlock[];
  readonly finalNorm: Layer;
  readonly head?: Layer;
  readonly landmark?: Embedding;

  constructor(config: DecoderLmConfig, options: ModuleOptions = {}) {
    const c = parseConfig('decoder-lm', decoderLmSchema, config);
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
        buildPositional(c.positional, c.dModel, maxPositions(c), o, '$.positional'),
      );
      this.blocks = buildBlocks(
        'decoder-lm',
        '$',
        c.block,
        c.layerOverrides,
        c.numLayers,
        c.dModel,
        o,
        'layerOverrides',
        { causal: true, positional: this.positional },
      );
      this.blocks.forEach((b, i) => this.addModule(`layers_${i}`, b));
      const at = (i: number) =>
        c.layerOverrides?.[String(i)] ? `$.layerOverrides.${i}` : '$.block';
      checkKvSharing('decoder-lm', this.blocks, this.kvGroupSize, at);
      landmarks.checkLandmarks(c.landmark, this.blocks, at);
      this.finalNorm = this.addModule('finalNorm', buildFinalNorm(c.finalNorm, c.dModel, o));
      if (!c.tieEmbeddings)
        this.head = this.addModule('head', buildVocabHead(c.dModel, c.vocabSize, o));
      if (c.landmark)
        this.landmark = this.addModule('landmark', landmarks.buildLandmarkEmbedding(c.dModel, o));
      if (c.linearInit) initLinears([this], c.linearInit, this.rng);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Layers per KV-sharing group (1: every layer its own keys/values). */
  get kvGroupSize(): number {
    return this.config.kvSharing?.groupSize ?? 1;
  }

  /** A fresh decoding state (KV caches, recurrent states) for `batch` sequences. */
  initState(batch: number): StackState {
    return new StackState(this.blocks.map((b) => b.initState(batch)));
  }

  /** Hidden states after the final norm, `[batch, time, dModel]`. */
  hidden(ids: tf.Tensor2D, options: LmForwardOptions = {}): tf.Tensor3D {
    checkRank('decoder-lm', 'ids', ids, 2);
    checkDtype('decoder-lm', 'ids', ids, ['int32']);
    const offset = options.state?.length ?? 0;
    // With landmarks the stack sees a landmark after every blockSize tokens (landmarks.ts).
    const landmark = landmarks.checkLandmarkCall(this.config.landmark, options);
    const time = landmark ? landmarks.streamLength(offset, ids.shape[1], landmark) : ids.shape[1];
    if (offset + time > maxPositions(this.config)) {
      throw new ShapeError(
        'decoder-lm',
        'ids',
        `at most maxLength=${this.config.maxLength} ${landmark ? 'tokens (with their landmarks)' : 'positions'}`,
        `${offset + time} (offset ${offset} + ${time} tokens)`,
      );
    }
    const out = tf.tidy(() => {
      const positions = positionRange(offset, time);
      const context = {
        ...stackContext(offset, this.positional, options, this.training),
        causal: true,
        mask: options.mask,
        segmentIds: options.segmentIds,
        blockAttention: options.blockAttention,
      };
      const h = runStack(
        embedPositions(this.embed(ids, offset), this.positional, positions),
        this.blocks,
        context,
        options.state,
        'layers_',
        this.kvGroupSize,
      );
      const out = this.finalNorm.forward(h) as tf.Tensor3D;
      return landmark ? landmarks.dropLandmarks(out, offset, ids.shape[1], landmark) : out;
    });
    options.state?.advance(time);
    return out;
  }

  /** Token embeddings, with the landmarks inserted when the model has them. */
  private embed(ids: tf.Tensor2D, offset: number): tf.Tensor3D {
    const x = this.embedding.forward(ids);
    const c = this.config.landmark;
    return c ? landmarks.insertLandmarks(x, this.landmark!, offset, c) : x;
  }

  /** Next-token logits `[batch, time, vocabSize]`. */
  forward(ids: tf.Tensor2D, options: LmForwardOptions = {}): tf.Tensor3D {
    const h = this.hidden(ids, options);
    const logits = vocabLogits(h, this.embedding, this.head, this.config.vocabSize);
    h.dispose();
    return logits;
  }

  /**
   * The whole model for a backend's fused decoder (contract 7), each module describing its own
   * part (weights read in place), or the first part's reason why it cannot be fused.
   */
  fusedDecoding(): FusedDecoderSpec | string {
    const { dModel, vocabSize, maxLength } = this.config;
    if (this.kvGroupSize > 1) return 'kvSharing (cross-layer keys/values) is not fused';
    if (this.config.landmark) return 'landmark tokens are not fused';
    const p = this.positional;
    const base: FusedDecodingContext = { path: '', dModel, maxLength, logitScale: 1 };
    const positional =
      p.kind === 'none'
        ? {}
        : fusedDecodingOf<FusedDecoderPositional>(
            p,
            { ...base, path: 'positional' },
            `positional '${p.blockName}' (kind '${p.kind}')`,
          );
    if (typeof positional === 'string') return positional;
    const { rotaryHeadDim, ...pos } = positional;
    const context = { ...base, logitScale: p.logitScale ?? 1, rotaryHeadDim };
    const embedding = fusedDecodingOf<Pick<FusedDecoderSpec, 'embedding'>>(
      this.embedding,
      { ...context, path: 'embedding' },
      "the token embedding is not core's Embedding",
    );
    if (typeof embedding === 'string') return embedding;
    const layers: FusedDecoderLayer[] = [];
    for (const [i, block] of this.blocks.entries()) {
      const layer = block.fusedDecoding({ ...context, path: `layers[${i}]` });
      if (typeof layer === 'string') return layer;
      layers.push(layer);
    }
    const finalNorm = fusedDecodingOf<FusedDecoderNorm>(
      this.finalNorm,
      { ...context, path: 'finalNorm' },
      `finalNorm '${this.finalNorm.blockName}' is not rms-norm or layer-norm`,
    );
    if (typeof finalNorm === 'string') return finalNorm;
    let head: Float32Array | undefined;
    if (this.head) {
      const dense = fusedDecodingOf<FusedDecoderDense>(
        this.head,
        { ...context, path: 'head' },
        'head is not a linear layer',
      );
      if (typeof dense === 'string') return dense;
      if (dense.bias) return 'the output head has a bias';
      head = dense.weight;
    }
    return { dModel, vocabSize, maxLength, ...embedding, ...pos, layers, finalNorm, head };
  }
}

/** Embedding (and untied head), positions, the blocks and the final norm, before building. */
function estimateDecoderLm(c: Parsed): Estimate {
  return sumEstimates(
    estimateTokens(c.vocabSize, c.dModel, c.tieEmbeddings),
    estimatePositional(c.positional, c.dModel, maxPositions(c), '$.positional'),
    estimateBlocks('decoder-lm', '$', c.block, c.layerOverrides, c.numLayers, c.dModel),
    estimateFinalNorm(c.finalNorm, c.dModel),
    landmarks.estimateLandmarks(c.landmark, c.dModel),
  );
}

/** Positions the encoding covers: maxLength, plus the landmarks when the model has them. */
function maxPositions(c: Pick<Parsed, 'maxLength' | 'landmark'>): number {
  return landmarks.streamMaxLength(c.maxLength, c.landmark);
}

register('decoder-lm', (c, o) => new DecoderLM(c, o), decoderLmSchema, {
  category: 'model',
  estimate: estimateDecoderLm,
  info: {
    paper: 'Radford et al. 2018, GPT; Press & Wolf 2017 (tied head)',
    summary:
      'Decoder-only language model: embedding, positions, causal blocks, final norm, tied head.',
    example: {
      type: 'decoder-lm',
      vocabSize: 16,
      dModel: 8,
      numLayers: 1,
      maxLength: 8,
      positional: { type: 'rotary', headDim: 4 },
      block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
    },
  },
});
