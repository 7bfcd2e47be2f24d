import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { headPattern } from '../ops/head-pattern';
import { attentionFields } from '../softmax/config';
import { checkMixerInput } from '../softmax/heads';
import { projectedParameters } from '../softmax/projected';
import { HeadPatternAttention, patternForm, span } from './head-pattern-base';

const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

/** How each group of `sparsityFactor` tokens yields its sparse token (LSG's sparsity types). */
export const lsgSparsityTypes = ['stride', 'pooling'] as const;
export type LsgSparsityType = (typeof lsgSparsityTypes)[number];

export const lsgAttentionSchema = z
  .strictObject({
    type: z.literal('lsg-attention'),
    dModel,
    numHeads,
    headDim,
    bias,
    qkNorm,
    /** Block b: a query of block m sees blocks m-1, m, m+1 (the last block may be short). */
    blockSize: z.number().int().positive(),
    /** Factor f: each group of f tokens yields one sparse token; divides blockSize. */
    sparsityFactor: z.number().int().positive(),
    /** Sparse tokens a block sees on each side of its local window (default blockSize). */
    sparseTokens: z.number().int().nonnegative().optional(),
    /** 'stride' (head h keeps token h mod f of each group) or 'pooling' (group means). */
    sparsityType: z.enum(lsgSparsityTypes).optional(),
    /** Learned global tokens every query attends to (default 1). */
    numGlobalTokens: z.number().int().nonnegative().optional(),
    form: patternForm,
  })
  .refine((c) => c.blockSize % c.sparsityFactor === 0, {
    path: ['sparsityFactor'],
    message: 'a divisor of blockSize, so sparse groups align with blocks',
  });

export type LsgAttentionConfig = z.infer<typeof lsgAttentionSchema>;

/** The resolved pattern parameters of `lsgKeys`. */
export interface LsgLayout {
  time: number;
  blockSize: number;
  sparsityFactor: number;
  sparseTokens: number;
  sparsityType: LsgSparsityType;
  numGlobalTokens: number;
}

/**
 * Slots head `head`'s query i sees in the extended key list [global (G); tokens (T); pooled
 * groups (⌈T/f⌉, pooling only)]: every global token, the tokens of blocks m-1..m+1 (m = ⌊i/b⌋),
 * and the `sparseTokens` groups just left and just right of that window, each as its pooled
 * slot or (stride) as its token h mod f.
 */
export function* lsgKeys(head: number, i: number, layout: LsgLayout): Generator<number> {
  const { time: t, blockSize: b, sparsityFactor: f, sparseTokens: s } = layout;
  const g = layout.numGlobalTokens;
  const m = Math.floor(i / b);
  yield* span(0, g - 1);
  for (const j of span((m - 1) * b, Math.min(t, (m + 2) * b) - 1)) yield g + j;
  const groups = Math.ceil(t / f);
  const left = Math.max(0, ((m - 1) * b) / f);
  const right = ((m + 2) * b) / f;
  const sparse = [...span(left - s, left - 1), ...span(right, Math.min(groups, right + s) - 1)];
  for (const p of sparse) {
    if (layout.sparsityType === 'pooling') yield g + t + p;
    else if (p * f + (head % f) < t) yield g + p * f + (head % f);
  }
}

/**
 * LSG attention (Condevaux & Harispe 2023, "LSG Attention: Extrapolation of pretrained
 * Transformers to long sequences", sec. 3): one softmax over three key sets per query block,
 *   o_i = softmax(q_i [K_G; K_L(m); K_S(m)]ᵀ/√d) [V_G; V_L(m); V_S(m)],
 * K_L(m) the keys of blocks m-1, m, m+1 (local), K_S(m) sparse tokens of the context beyond the
 * local window: groups of f tokens reduced by the sparsity rule ('pooling': mean of the group's
 * keys and values; 'stride': one token per group, head h taking offset h mod f, so the heads
 * together cover the groups), and K_G learned global tokens projected by k and v. An encoder
 * (bidirectional). The global tokens' own rows (they attend to all) only matter when carried to
 * the next layer, which a [b, T, d] -> [b, T, d] mixer does not do, so they are not computed.
 * Each query sees G + 3b + 2·sparseTokens keys, whatever T.
 */
export class LsgAttention extends HeadPatternAttention<LsgAttentionConfig> implements TokenMixer {
  /** [numGlobalTokens, dModel], or null when there are none. */
  readonly global: tf.Variable | null;

  constructor(config: LsgAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('lsg-attention', lsgAttentionSchema, config), options);
    const g = this.config.numGlobalTokens ?? 1;
    const seed = this.rng.nextUint32();
    this.global =
      g > 0
        ? this.addParameter(
            'global',
            tf.randomNormal([g, this.config.dModel], 0, 1, 'float32', seed),
          )
        : null;
  }

  /** Encoder: never causal, no decoding, no positions, masks, segments or weights map. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'never',
      decoding: false,
      stateGrowth: 'none',
      positional: [],
    };
  }

  private layoutFor(time: number): LsgLayout {
    const c = this.config;
    return {
      time,
      blockSize: c.blockSize,
      sparsityFactor: c.sparsityFactor,
      sparseTokens: c.sparseTokens ?? c.blockSize,
      sparsityType: c.sparsityType ?? 'pooling',
      numGlobalTokens: c.numGlobalTokens ?? 1,
    };
  }

  /** The base's hook; forward builds the pattern over [global; tokens; pooled] with lsgKeys. */
  protected keysOf(head: number, i: number): Iterable<number> {
    return lsgKeys(head, i, this.layoutFor(i + 1));
  }

  override forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'lsg-attention';
    checkMixerInput(block, x, this.config.dModel, context, KVCache, this.capabilities);
    const [b, t] = x.shape;
    const layout = this.layoutFor(t);
    return tf.tidy(() => {
      const q = this.projectQueries(x, [], undefined);
      const { keys, values } = this.projectKeysValues(x, [], undefined);
      const extKeys: tf.Tensor4D[] = [];
      const extValues: tf.Tensor4D[] = [];
      if (this.global) {
        const g = this.projectKeysValues(
          tf.expandDims(this.global, 0) as tf.Tensor3D,
          [],
          undefined,
        );
        extKeys.push(tf.tile(g.keys, [b, 1, 1, 1]));
        extValues.push(tf.tile(g.values, [b, 1, 1, 1]));
      }
      extKeys.push(keys);
      extValues.push(values);
      if (layout.sparsityType === 'pooling' && layout.sparseTokens > 0) {
        extKeys.push(groupMeans(keys, layout.sparsityFactor));
        extValues.push(groupMeans(values, layout.sparsityFactor));
      }
      const allKeys = tf.concat(extKeys, 2) as tf.Tensor4D;
      const allValues = tf.concat(extValues, 2) as tf.Tensor4D;
      const pattern = headPattern(block, this.config.numHeads, t, allKeys.shape[2], (h, i) =>
        lsgKeys(h, i, layout),
      );
      return this.mergeAndProject(this.attend(q, allKeys, allValues, pattern), context.heads);
    });
  }
}

/** x [b, h, T, d] -> [b, h, ⌈T/f⌉, d]: the mean of each group of f tokens (the last may be short). */
export function groupMeans(x: tf.Tensor4D, f: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, t, d] = x.shape;
    const groups = Math.ceil(t / f);
    const padded =
      groups * f === t
        ? x
        : tf.pad(x, [
            [0, 0],
            [0, 0],
            [0, groups * f - t],
            [0, 0],
          ]);
    const sums = tf.sum(tf.reshape(padded, [b, h, groups, f, d]), 3);
    const counts = Array.from({ length: groups }, (_, p) => Math.min(f, t - p * f));
    return tf.div(sums, tf.tensor4d(counts, [1, 1, groups, 1])) as tf.Tensor4D;
  });
}

register(
  'lsg-attention',
  (c: LsgAttentionConfig, o: ModuleOptions) => new LsgAttention(c, o),
  lsgAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: LsgAttentionConfig) =>
      estimateOf(projectedParameters(c) + (c.numGlobalTokens ?? 1) * c.dModel),
    info: {
      paper:
        'Condevaux & Harispe 2023, LSG Attention: Extrapolation of pretrained Transformers to long sequences',
      equation:
        'sec. 3: one softmax over global tokens, local blocks m-1..m+1 and sparse (strided or pooled) tokens',
      summary:
        'Encoder attention where each block sees its neighbour blocks, a few sparse tokens of the wider context (pooled or strided groups) and learned global tokens: G + 3b + 2s keys per query.',
      example: {
        type: 'lsg-attention',
        dModel: 8,
        numHeads: 2,
        blockSize: 2,
        sparsityFactor: 2,
        sparseTokens: 1,
      },
    },
  },
);
