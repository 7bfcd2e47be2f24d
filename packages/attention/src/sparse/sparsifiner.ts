import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  SOFTMAX_CAPABILITIES,
  ShapeError,
  State,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { scaledDotProductAttention } from '../ops/sdpa';
import { chunkedTopK, detached, gatheredAttention, selectionMask } from '../ops/topk-select';
import { uniform } from '../recurrent/common';
import { checkMixerInput, mergeHeads, reportWeights, splitHeads } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';
import { reportSelection } from './probe';

/*
 * Sparsifiner (Wei et al. 2023, "Sparsifiner: Learning Sparse Instance-Dependent Attention for
 * Efficient Vision Transformers"): a light connectivity predictor approximates each
 * head's attention map at low rank, and each query attends only to its top-k predicted keys:
 *   q' = q W_q + b_q, k' = k W_k + b_k            (channels headDim -> c)
 *   C = softmax(q' (k'ᵀ W_down) / √c)              (tokens N -> n_down: C is [N, n_down])
 *   Â = C W_upᵀ                                    (the approximate map [N, N], rank n_down)
 *   M_i = topK_j Â_ij,  o_i = softmax(q_i K[M_i]ᵀ/√d) V[M_i].
 * The mask is data (no gradient), so the predictor learns only from its own loss,
 * `sparsifinerLoss`: the approximate map distilled towards the (detached) dense attention map,
 * ‖Â − softmax(QKᵀ/√d)‖², plus an optional L1 sparsity term on W_up. Its parameters are
 * therefore non-trainable buffers for the task loss; train them with `sparsifinerLoss` over
 * `predictorParameters()`. W_down/W_up mix tokens, so the input length is fixed (`numTokens`,
 * a ViT's patch count). We could not read the paper's equations through our tools: the form above
 * follows the paper's description (low-rank approximation, sparse up-projection basis, top-k
 * connectivity) and the authors' public code; scale 1/√c and no class-token row are our choices.
 */

const positive = z.number().int().positive();

export const sparsifinerSchema = z.strictObject({
  type: z.literal('sparsifiner'),
  dModel: positive,
  numHeads: positive,
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** N: tokens of every input (W_down and W_up are [N, n_down]). */
  numTokens: positive,
  /** Keys each query attends to (the attention budget, ≤ numTokens). */
  topK: positive,
  /** n_down: the predictor's token rank (default ⌈N/8⌉, the authors' reduction 8). */
  reducedTokens: positive.optional(),
  /** c: the predictor's channel width (default ⌈headDim/2⌉, the authors' reduction 2). */
  reducedDim: positive.optional(),
  /** Keys scored per step by the running top-k over Â (default 64). */
  chunkSize: positive.optional(),
  /** 'gather' (default): only the selected keys; 'dense': the same mask on full attention (the reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type SparsifinerConfig = z.infer<typeof sparsifinerSchema>;

/** n_down and c of a config. */
function predictorWidths(c: SparsifinerConfig): { nDown: number; width: number } {
  const { headDim } = headLayout(c);
  return {
    nDown: c.reducedTokens ?? Math.ceil(c.numTokens / 8),
    width: c.reducedDim ?? Math.ceil(headDim / 2),
  };
}

export class Sparsifiner extends ProjectedAttention<SparsifinerConfig> implements TokenMixer {
  /** The connectivity predictor (non-trainable for the task loss: see the header). */
  readonly predictQWeight: tf.Variable;
  readonly predictQBias: tf.Variable;
  readonly predictKWeight: tf.Variable;
  readonly predictKBias: tf.Variable;
  /** W_down, W_up [numTokens, reducedTokens]. */
  readonly tokenDown: tf.Variable;
  readonly tokenUp: tf.Variable;

  constructor(config: SparsifinerConfig, options: ModuleOptions = {}) {
    const c = parseConfig('sparsifiner', sparsifinerSchema, config);
    const { headDim } = headLayout(c);
    const { nDown, width } = predictorWidths(c);
    if (c.topK > c.numTokens) {
      throw new ConfigError(c.type, '$.topK', `at most numTokens=${c.numTokens}`, String(c.topK));
    }
    if (nDown > c.numTokens) {
      throw new ConfigError(
        c.type,
        '$.reducedTokens',
        `at most numTokens=${c.numTokens}`,
        `${nDown}`,
      );
    }
    if (width > headDim) {
      throw new ConfigError(c.type, '$.reducedDim', `at most headDim=${headDim}`, String(width));
    }
    super(c, options);
    const bound = 1 / Math.sqrt(headDim); // PyTorch's Linear default
    const rng = this.rng;
    const add = (name: string, init: tf.Tensor) => this.addParameter(name, init, false);
    this.predictQWeight = add('predictQWeight', uniform(rng, [headDim, width], bound));
    this.predictQBias = add('predictQBias', uniform(rng, [width], bound));
    this.predictKWeight = add('predictKWeight', uniform(rng, [headDim, width], bound));
    this.predictKBias = add('predictKBias', uniform(rng, [width], bound));
    // The authors' truncated normal, std 0.02, cut at two deviations.
    const small = () =>
      tf.tensor2d(
        Float32Array.from({ length: c.numTokens * nDown }, () =>
          Math.max(-0.04, Math.min(0.04, rng.normal() * 0.02)),
        ),
        [c.numTokens, nDown],
      );
    this.tokenDown = add('tokenDown', small());
    this.tokenUp = add('tokenUp', small());
  }

  /** An encoder mixer: bidirectional, fixed length, no decoding state, masks or positions. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      decoding: false,
      causal: 'never',
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'selected',
      stateGrowth: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  /** The predictor's variables, which only `sparsifinerLoss` trains. */
  predictorParameters(): tf.Variable[] {
    return [
      this.predictQWeight,
      this.predictQBias,
      this.predictKWeight,
      this.predictKBias,
      this.tokenDown,
      this.tokenUp,
    ];
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const c = this.config;
    return tf.tidy(() => {
      const { q, k, v } = this.heads(x, context);
      const coef = this.basisCoefficients(q, k);
      const [b, , n] = q.shape;
      // M: top-k of Â = C W_upᵀ, as scores of C against the rows of W_up (one shared "key head").
      const up = tf.broadcastTo(tf.reshape(this.tokenUp, [1, 1, n, -1]), [b, 1, n, coef.shape[3]]);
      const selected = chunkedTopK(coef, up as tf.Tensor4D, {
        k: c.topK,
        chunkSize: c.chunkSize,
      });
      reportSelection(c.type, context, 'connectivity', selected);
      const scale = 1 / Math.sqrt(this.headDim);
      let heads: tf.Tensor4D;
      if (c.form === 'dense') {
        heads = scaledDotProductAttention(q, k, v, {
          mask: selectionMask(selected, n),
          scale,
        }).output;
      } else {
        const { output, weights } = gatheredAttention(q, k, v, selected, { scale });
        if (context.attentionHook) reportWeights(c.type, context, weights, selected);
        heads = output;
      }
      return this.o.forward(mergeHeads(heads)) as tf.Tensor3D;
    });
  }

  /** Checks x and projects it: q, k, v [b, h, N, ·]. */
  heads(
    x: tf.Tensor3D,
    context: MixerContext = {},
  ): { q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const c = this.config;
    checkMixerInput(c.type, x, c.dModel, context, State, this.capabilities);
    if (x.shape[1] !== c.numTokens) {
      throw new ShapeError(
        c.type,
        'x',
        `[b, ${c.numTokens}, ${c.dModel}] (numTokens)`,
        `[${x.shape}]`,
      );
    }
    return tf.tidy(() => {
      const { queryHeads: h, valueDim } = this.layout;
      return {
        q: splitHeads(this.q.forward(x), h, this.headDim),
        k: splitHeads(this.k.forward(x), h, this.headDim),
        v: splitHeads(this.v.forward(x), h, valueDim),
      };
    });
  }

  /** C = softmax(q' (k'ᵀ W_down) / √c) [b, h, N, n_down]. */
  basisCoefficients(q: tf.Tensor4D, k: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, n, d] = q.shape;
      const width = this.predictQWeight.shape[1]!;
      const nDown = this.tokenDown.shape[1]!;
      const channel = (t: tf.Tensor, w: tf.Variable, bias: tf.Variable) =>
        tf.reshape(tf.add(tf.matMul(tf.reshape(t, [-1, d]), w), bias), [b * h, n, width]);
      const qc = channel(q, this.predictQWeight, this.predictQBias);
      const kc = channel(k, this.predictKWeight, this.predictKBias);
      // k'ᵀ W_down: [b·h, c, n_down], the keys pooled to n_down learned token mixtures.
      const pooled = tf.reshape(
        tf.matMul(tf.reshape(tf.transpose(kc, [0, 2, 1]), [-1, n]), this.tokenDown),
        [b * h, width, nDown],
      );
      const logits = tf.mul(tf.matMul(qc, pooled), 1 / Math.sqrt(width));
      return tf.reshape(tf.softmax(logits), [b, h, n, nDown]) as tf.Tensor4D;
    });
  }
}

export interface SparsifinerLossOptions {
  /** Weight of the L1 sparsity term mean|W_up| (default 0). */
  sparsity?: number;
}

/**
 * The predictor's loss on x [b, numTokens, dModel]: mean squared error between the approximate
 * map Â = C W_upᵀ and the dense attention map softmax(QKᵀ/√d) (the teacher, detached), plus
 * `sparsity` · mean|W_up|. Differentiable w.r.t. `mixer.predictorParameters()` (use
 * `tf.grads`: they are non-trainable for `variableGrads`). Builds [N, N] maps: training only.
 */
export function sparsifinerLoss(
  mixer: Sparsifiner,
  x: tf.Tensor3D,
  options: SparsifinerLossOptions = {},
): tf.Scalar {
  const sparsity = options.sparsity ?? 0;
  if (!(sparsity >= 0) || !Number.isFinite(sparsity)) {
    throw new ConfigError('sparsifinerLoss', 'sparsity', 'a finite number >= 0', String(sparsity));
  }
  return tf.tidy(() => {
    const { q, k } = mixer.heads(x);
    // The teacher is detached: no gradient reaches q, k or the projections through it.
    const teacher = detached(() =>
      tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(mixer.headDim))),
    );
    const coef = mixer.basisCoefficients(q, k);
    const approx = tf.matMul(
      coef,
      tf.broadcastTo(mixer.tokenUp, [...coef.shape.slice(0, 2), ...mixer.tokenUp.shape]),
      false,
      true,
    );
    const recon = tf.mean(tf.square(tf.sub(approx, teacher)));
    const l1 = tf.mul(tf.mean(tf.abs(mixer.tokenUp)), sparsity);
    return tf.add(recon, l1) as tf.Scalar;
  });
}

register(
  'sparsifiner',
  (c: SparsifinerConfig, o: ModuleOptions) => new Sparsifiner(c, o),
  sparsifinerSchema,
  {
    category: 'mixer',
    estimate: (c: SparsifinerConfig) => {
      const { headDim } = headLayout(c);
      const { nDown, width } = predictorWidths(c);
      return estimateOf(
        projectedParameters(c) + 2 * (headDim * width + width) + 2 * c.numTokens * nDown,
      );
    },
    info: {
      paper:
        'Wei et al. 2023, Sparsifiner: Learning Sparse Instance-Dependent Attention for Efficient Vision Transformers',
      equation:
        'Â = softmax(q′ (k′ᵀ W_down)/√c) W_upᵀ, M_i = topK_j Â_ij, o_i = softmax(q_i K[M_i]ᵀ/√d) V[M_i]',
      summary:
        'A low-rank connectivity predictor (trained by distillation from the dense map) picks each query’s top-k keys; exact attention over those only.',
      example: {
        type: 'sparsifiner',
        dModel: 8,
        numHeads: 2,
        numTokens: 6,
        topK: 3,
        reducedTokens: 2,
      },
    },
  },
);
