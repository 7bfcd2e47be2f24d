import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { AttentionHook, AuxLossCollector, ModuleOptions } from '@attnkit/core';
import { Module, ShapeError, build, checkDtype, checkRank, register } from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { fillWidths } from '../blocks/fill';
import { StackState } from './decoder-state';
import { type Positional, buildPositional, positionRange } from './positions';
import { parseWith } from './parse';
import {
  blockTemplateSchema,
  buildBlocks,
  embedPositions,
  layerOverridesSchema,
  initLinears,
  linearInitSchema,
  runStack,
} from './stack';

const sub = z.looseObject({ type: z.string() });

export const decoderLmSchema = z.strictObject({
  type: z.literal('decoder-lm'),
  vocabSize: z.number().int().positive(),
  dModel: z.number().int().positive(),
  numLayers: z.number().int().positive(),
  maxLength: z.number().int().positive(),
  positional: sub,
  block: blockTemplateSchema,
  layerOverrides: layerOverridesSchema.optional(),
  tieEmbeddings: z.boolean().default(true),
  finalNorm: sub.default({ type: 'rms-norm' }),
  /**
   * Redraw every Linear weight of the model with this initializer (core's init spec), e.g.
   * `{ name: 'kaiming-uniform', gain: 0.57735 }`, PyTorch's nn.Linear default; absent, each
   * block keeps its own.
   */
  linearInit: linearInitSchema,
});

export type DecoderLmConfig = z.input<typeof decoderLmSchema>;
type Parsed = z.output<typeof decoderLmSchema>;

export interface LmForwardOptions {
  /** Decoding state from `initState`; the call consumes the tokens and advances it. */
  state?: StackState;
  training?: boolean;
  aux?: AuxLossCollector;
  attentionHook?: AttentionHook;
  mask?: tf.Tensor;
  segmentIds?: tf.Tensor2D;
}

type Embedding = Module & {
  forward(ids: tf.Tensor): tf.Tensor3D;
  attend(x: tf.Tensor): tf.Tensor;
};
type Layer = Module & { forward(x: tf.Tensor): tf.Tensor };

/**
 * Decoder-only language model (Radford et al. 2018, GPT): token embedding, positional encoding,
 * a stack of causal transformer blocks (layer by layer overridable, for hybrids), final norm and
 * an output head tied to the embedding (Press & Wolf 2017) unless `tieEmbeddings` is false.
 */
export class DecoderLM extends Module<Parsed> {
  readonly embedding: Embedding;
  readonly positional: Positional;
  readonly blocks: TransformerBlock[];
  readonly finalNorm: Layer;
  readonly head?: Layer;

  constructor(config: DecoderLmConfig, options: ModuleOptions = {}) {
    const c = parseWith('decoder-lm', decoderLmSchema, config);
    super(c, options);
    // A bad nested config throws half way: free what was built so far.
    try {
      const o = { rng: this.rng };
      const embedding = { type: 'embedding', numEmbeddings: c.vocabSize, dim: c.dModel };
      this.embedding = this.addModule(
        'embed',
        build<Embedding>(embedding, { ...o, path: '$.embed' }),
      );
      this.positional = this.addModule(
        'positional',
        buildPositional(c.positional, c.dModel, c.maxLength, o, '$.positional'),
      );
      this.blocks = buildBlocks(
        'decoder-lm',
        '$',
        c.block,
        c.layerOverrides,
        c.numLayers,
        c.dModel,
        o,
      );
      this.blocks.forEach((b, i) => this.addModule(`layers_${i}`, b));
      this.finalNorm = this.addModule(
        'finalNorm',
        build<Layer>(fillWidths(c.finalNorm, { dim: c.dModel }), { ...o, path: '$.finalNorm' }),
      );
      if (!c.tieEmbeddings) {
        const head = {
          type: 'linear',
          inFeatures: c.dModel,
          outFeatures: c.vocabSize,
          bias: false,
        };
        this.head = this.addModule('head', build<Layer>(head, o));
      }
      if (c.linearInit) initLinears([this], c.linearInit, this.rng);
    } catch (e) {
      this.dispose();
      throw e;
    }
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
    const time = ids.shape[1];
    if (offset + time > this.config.maxLength) {
      throw new ShapeError(
        'decoder-lm',
        'ids',
        `at most maxLength=${this.config.maxLength} positions`,
        `${offset + time} (offset ${offset} + ${time} tokens)`,
      );
    }
    const out = tf.tidy(() => {
      const positions = positionRange(offset, time);
      const context = {
        causal: true,
        positions,
        positional: this.positional,
        training: options.training ?? this.training,
        aux: options.aux,
        attentionHook: options.attentionHook,
        mask: options.mask,
        segmentIds: options.segmentIds,
      };
      const h = runStack(
        embedPositions(this.embedding.forward(ids), this.positional, positions),
        this.blocks,
        context,
        options.state,
      );
      return this.finalNorm.forward(h) as tf.Tensor3D;
    });
    if (options.state) options.state.length += time;
    return out;
  }

  /** Next-token logits `[batch, time, vocabSize]`. */
  forward(ids: tf.Tensor2D, options: LmForwardOptions = {}): tf.Tensor3D {
    const h = this.hidden(ids, options);
    return tf.tidy(() => {
      const [b, t, d] = h.shape;
      const flat = tf.reshape(h, [b * t, d]);
      const logits = this.head ? this.head.forward(flat) : this.embedding.attend(flat);
      h.dispose();
      return tf.reshape(logits, [b, t, this.config.vocabSize]) as tf.Tensor3D;
    });
  }
}

register('decoder-lm', (c, o) => new DecoderLM(c, o), decoderLmSchema, { category: 'model' });
