import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ShapeError,
  State,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  reserve,
} from '@attnkit/core';
import { scaledDotProductAttention } from '../ops/sdpa';
import { checkMixerInput, inputPositions } from '../softmax/heads';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';

/** 'linformer': softmax attention over keys and values projected along the sequence (Wang et al. 2020). */
export const linformerSchema = z.strictObject({
  type: z.literal('linformer'),
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  numKvHeads: z.number().int().positive().optional(),
  headDim: z.number().int().positive().optional(),
  bias: z.boolean().optional(),
  /** Encoder only: E and F mix every position, so no causal form exists. */
  causal: z.literal(false).optional(),
  /** n: the longest input; E and F are [k, n] and a shorter input uses their first T columns. */
  maxLength: z.number().int().positive(),
  /** k: projected length of keys and values (the paper's k ≪ n). */
  projectedLength: z.number().int().positive(),
  /** 'headwise' (default): one E and one F for all heads; 'key-value': also E = F (sec. 4). */
  sharing: z.enum(['headwise', 'key-value']).optional(),
});
export type LinformerConfig = z.input<typeof linformerSchema>;

/**
 * Linformer, "Self-Attention with Linear Complexity" (Wang et al. 2020): head_i =
 * softmax(Q W_i^Q (E K W_i^K)ᵀ / √d) F V W_i^V (eq. 7), E and F [k, n] learned projections along
 * the sequence, so the logits are [T, k] instead of [T, T]. E and F are shared by the heads (the
 * paper's headwise sharing; `sharing: 'key-value'` also sets F = E). Every projected key mixes
 * every position, so it is an encoder mixer: causal use and decoding are refused, and so is an
 * input longer than maxLength.
 */
export class Linformer extends ProjectedAttention<LinformerConfig> {
  /** E [projectedLength, maxLength]. */
  readonly keyProjection: tf.Variable;
  /** F [projectedLength, maxLength]; E itself with `sharing: 'key-value'`. */
  readonly valueProjection: tf.Variable;

  constructor(config: LinformerConfig, options: ModuleOptions = {}) {
    super(parseConfig('linformer', linformerSchema, config), options);
    const { projectedLength: k, maxLength: n } = this.config;
    // Uniform in ±1/√k, like a linear layer whose fan-in is the projected length.
    const draw = () => {
      const bound = 1 / Math.sqrt(k);
      // Refuse before allocating a table over the build's budget (issue 16).
      reserve('linformer', `projectedLength ${k} x maxLength ${n}`, k * n, { commit: false });
      const values = Float32Array.from(
        { length: k * n },
        () => (2 * this.rng.uniform() - 1) * bound,
      );
      return tf.tensor2d(values, [k, n]);
    };
    this.keyProjection = this.addParameter('keyProjection', draw());
    this.valueProjection =
      this.config.sharing === 'key-value'
        ? this.keyProjection
        : this.addParameter('valueProjection', draw());
  }

  /** Encoder only: no causal use, no decoding; the heads can be scaled or disabled. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'never',
      decoding: false,
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'none',
      keyValuePrefix: false,
    };
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'linformer';
    checkMixerInput(block, x, this.config.dModel, context, State, this.capabilities);
    const [, t] = x.shape;
    const { maxLength } = this.config;
    if (t > maxLength) {
      throw new ShapeError(
        block,
        'x',
        `at most maxLength=${maxLength} tokens`,
        `${t} tokens (shape [${x.shape.join(',')}])`,
      );
    }
    const positions = inputPositions(block, context, t, 0);
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, positions, undefined);
      const along = (p: tf.Variable, heads: tf.Tensor4D) => projectTime(p, heads, t);
      const { output } = scaledDotProductAttention(
        q,
        along(this.keyProjection, keys),
        along(this.valueProjection, values),
        { scale: 1 / Math.sqrt(this.headDim), causal: false },
      );
      return this.mergeAndProject(output, context.heads);
    });
  }
}

/** P[:, :t] applied along time: heads [b, h, t, d] -> [b, h, k, d]. */
function projectTime(p: tf.Tensor2D | tf.Variable, heads: tf.Tensor4D, t: number): tf.Tensor4D {
  const [b, h, , d] = heads.shape;
  const k = p.shape[0]!;
  const used = tf.slice(p, [0, 0], [k, t]) as tf.Tensor2D;
  const flat = tf.reshape(tf.transpose(heads, [2, 0, 1, 3]), [t, b * h * d]);
  const mixed = tf.reshape(tf.matMul(used, flat), [k, b, h, d]);
  return tf.transpose(mixed, [1, 2, 0, 3]) as tf.Tensor4D;
}

register('linformer', (c, o) => new Linformer(c, o), linformerSchema, {
  category: 'mixer',
  // Projections and E, F [k, n] (one table when 'key-value' shares them).
  estimate: (c) =>
    estimateOf(
      projectedParameters(c) +
        (c.sharing === 'key-value' ? 1 : 2) * c.projectedLength * c.maxLength,
    ),
  info: {
    paper: 'Wang et al. 2020, Linformer: Self-Attention with Linear Complexity',
    equation:
      'eq. 7: head_i = softmax(QW_i^Q (E K W_i^K)ᵀ/√d) F V W_i^V; sec. 4 (headwise and key-value sharing)',
    summary:
      'softmax attention over keys and values projected to k positions along the sequence: O(T·k); encoder only',
    example: { type: 'linformer', dModel: 16, numHeads: 2, maxLength: 8, projectedLength: 3 },
  },
});
