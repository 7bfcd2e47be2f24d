import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  type Estimate,
  checkInt,
  estimateOf,
  initTensor,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
  parseConfig,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { differentialCombine } from '../ops/differential';
import { lambdaInit } from '../ops/head-norm';
import { scaledDotProductAttention } from '../ops/sdpa';
import { repeatKvHeads } from '../ops/validate';
import { attentionFields } from './config';
import { HeadNorm, headNormParameters } from './head-norm';
import { mixerInput, refuseSegmentsWhileDecoding, reportWeights } from './heads';
import { ProjectedAttention, headLayout, projectedParameters } from './projected';

const positive = z.number().int().positive();
const { dModel, numHeads, headDim, bias, causal, qkNorm, chunkSize } = attentionFields;

export const differentialSchema = z.strictObject({
  type: z.literal('differential'),
  dModel,
  /** Differential heads H, each a pair of softmax maps (half a baseline's head count). */
  numHeads,
  /** Key/value heads (GQA), a divisor of numHeads. */
  numKvHeads: positive.optional(),
  /** Width d of each query/key half; values are 2d wide. Default dModel / (2·numHeads). */
  headDim,
  bias,
  causal,
  qkNorm,
  window: positive.optional(),
  chunkSize,
  /** 0-based depth of this layer, for λ_init = 0.8 - 0.6·exp(-0.3·layerIndex). */
  layerIndex: z.number().int().min(0).optional(),
  /** A fixed λ_init instead of the depth schedule. */
  lambdaInit: z.number().optional(),
  headNorm: z.enum(['rms', 'group']).optional(),
});

export type DifferentialConfig = z.infer<typeof differentialSchema>;

/**
 * Differential attention (Ye et al. 2024, DIFF Transformer, sec. 2.1-2.2):
 *   head = (softmax(Q1 K1ᵀ/√d) - λ softmax(Q2 K2ᵀ/√d)) V,
 *   λ = exp(λq1·λk1) - exp(λq2·λk2) + λ_init,   λ_init = 0.8 - 0.6·exp(-0.3·l),
 *   out = concat_h((1 - λ_init) · Norm(head_h)) W_O,
 * Norm per head: RMSNorm (the authors' code) or GroupNorm. Both maps run through the one
 * SDPA op (so the chunked form and the KV cache apply): (A1 - λA2)V = A1·V - λ·A2·V.
 * Heads are laid out as in the reference code: query/key heads 2h and 2h+1 form pair h.
 */
export class DifferentialAttention
  extends ProjectedAttention<DifferentialConfig>
  implements TokenMixer
{
  readonly lambdaQ1: tf.Variable;
  readonly lambdaK1: tf.Variable;
  readonly lambdaQ2: tf.Variable;
  readonly lambdaK2: tf.Variable;
  readonly norm: HeadNorm;
  /** λ_init of this layer. */
  readonly lambdaInit: number;

  constructor(config: DifferentialConfig, options: ModuleOptions = {}) {
    config = parseConfig('differential', differentialSchema, config);
    // Query/key heads come in pairs over values twice as wide.
    const layout = headLayout(config, 2);
    const layerIndex = checkInt(config.type, 'layerIndex', config.layerIndex ?? 0, 0);
    const init = config.lambdaInit ?? lambdaInit(layerIndex);
    super(config, options, layout);
    this.lambdaInit = init;
    const d = this.headDim;
    const lambda = (name: string) =>
      this.addParameter(name, initTensor({ name: 'normal', std: 0.1 }, [d], this.rng));
    this.lambdaQ1 = lambda('lambdaQ1');
    this.lambdaK1 = lambda('lambdaK1');
    this.lambdaQ2 = lambda('lambdaQ2');
    this.lambdaK2 = lambda('lambdaK2');
    this.norm = this.addModule(
      'norm',
      new HeadNorm({ kind: config.headNorm ?? 'rms', heads: config.numHeads, dim: 2 * d }, options),
    );
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window });
  }

  /** λ = exp(λq1·λk1) - exp(λq2·λk2) + λ_init, a scalar shared by the heads. */
  lambda(): tf.Scalar {
    return tf.tidy(() =>
      tf.add(
        tf.sub(
          tf.exp(tf.sum(tf.mul(this.lambdaQ1, this.lambdaK1))),
          tf.exp(tf.sum(tf.mul(this.lambdaQ2, this.lambdaK2))),
        ),
        this.lambdaInit,
      ),
    ) as tf.Scalar;
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      KVCache,
      this.training,
      this.capabilities,
    );
    const cache = input.state;
    refuseSegmentsWhileDecoding(block, cache, context);
    const causal = this.isCausal(context);
    return tf.tidy(() => {
      const queryPositions = input.queryPositions;
      const {
        q,
        keys: k,
        values: v,
        keyPositions,
      } = this.projectSelf(x, queryPositions, context.positional, cache);
      const lambda = this.lambda();
      // Key/value head m serves query heads 2h, 2h+1 of the pairs h with h / group = m.
      const { output, weights } = scaledDotProductAttention(
        q,
        k,
        repeatKvHeads(v, 2 * this.numKvHeads),
        {
          ...this.logitOptions(q, context.positional, context, queryPositions, keyPositions),
          causal,
          window: this.config.window,
          ...this.weightsOptions(context),
        },
      );
      if (weights) reportWeights(block, context, differentialCombine(weights, lambda));
      if (cache) cache.evict();
      const heads = tf.mul(
        this.norm.forward(differentialCombine(output, lambda)),
        1 - this.lambdaInit,
      );
      return this.mergeAndProject(heads as tf.Tensor4D, context.heads);
    });
  }
}

/** Paired projections (heads of width d over values 2d wide), λq1, λk1, λq2, λk2 [d], head norm. */
function estimateDifferential(c: DifferentialConfig): Estimate {
  const d = headLayout(c, 2).headDim;
  const norm = headNormParameters(c.headNorm ?? 'rms', c.numHeads, 2 * d);
  return estimateOf(projectedParameters(c, 2) + 4 * d + norm);
}

register(
  'differential',
  (c: DifferentialConfig, o: ModuleOptions) => new DifferentialAttention(c, o),
  differentialSchema,
  {
    category: 'mixer',
    estimate: estimateDifferential,
    info: {
      paper: 'Ye et al. 2024, Differential Transformer',
      equation: 'sec. 2.1-2.2',
      summary: 'Difference of two softmax maps with a learned λ, per-head normalised.',
      example: { type: 'differential', dModel: 8, numHeads: 2 },
    },
  },
);
