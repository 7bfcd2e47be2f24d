import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  QKNorm,
  initTensor,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { differentialCombine } from '../ops/differential';
import { lambdaInit } from '../ops/head-norm';
import { scaledDotProductAttention } from '../ops/sdpa';
import { repeatKvHeads } from '../ops/validate';
import { HeadNorm } from './head-norm';
import { mergeHeads, mixerInput, positionalBias, rotate, splitHeads } from './heads';

const positive = z.number().int().positive();

export const differentialSchema = z.strictObject({
  type: z.literal('differential'),
  dModel: positive,
  /** Differential heads H, each a pair of softmax maps (half a baseline's head count). */
  numHeads: positive,
  /** Key/value heads (GQA), a divisor of numHeads. */
  numKvHeads: positive.optional(),
  /** Width d of each query/key half; values are 2d wide. Default dModel / (2·numHeads). */
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  causal: z.boolean().optional(),
  qkNorm: z.enum(['rms', 'layer', 'l2']).optional(),
  window: positive.optional(),
  chunkSize: positive.optional(),
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
export class DifferentialAttention extends Module<DifferentialConfig> implements TokenMixer {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly qNorm: QKNorm | null;
  readonly kNorm: QKNorm | null;
  readonly lambdaQ1: tf.Variable;
  readonly lambdaK1: tf.Variable;
  readonly lambdaQ2: tf.Variable;
  readonly lambdaK2: tf.Variable;
  readonly norm: HeadNorm;
  readonly headDim: number;
  readonly numKvHeads: number;
  /** λ_init of this layer. */
  readonly lambdaInit: number;

  constructor(config: DifferentialConfig, options: ModuleOptions = {}) {
    super(config, options);
    const block = config.type;
    const { dModel, numHeads } = config;
    this.numKvHeads = config.numKvHeads ?? numHeads;
    if (numHeads % this.numKvHeads !== 0) {
      throw new ConfigError(
        block,
        'numKvHeads',
        `a divisor of numHeads=${numHeads}`,
        String(this.numKvHeads),
      );
    }
    if (config.headDim === undefined && dModel % (2 * numHeads) !== 0) {
      throw new ConfigError(
        block,
        'numHeads',
        `a divisor of dModel/2=${dModel / 2} (or set headDim)`,
        String(numHeads),
      );
    }
    const d = (this.headDim = config.headDim ?? dModel / (2 * numHeads));
    this.lambdaInit = config.lambdaInit ?? lambdaInit(config.layerIndex ?? 0);
    const bias = config.bias ?? false;
    const linear = (name: string, inFeatures: number, outFeatures: number) =>
      this.addModule(name, new Linear({ inFeatures, outFeatures, bias }, options));
    this.q = linear('q', dModel, 2 * numHeads * d);
    this.k = linear('k', dModel, 2 * this.numKvHeads * d);
    this.v = linear('v', dModel, 2 * this.numKvHeads * d);
    this.o = linear('o', 2 * numHeads * d, dModel);
    const qk = config.qkNorm;
    this.qNorm = qk ? this.addModule('qNorm', new QKNorm({ headDim: d, norm: qk }, options)) : null;
    this.kNorm = qk ? this.addModule('kNorm', new QKNorm({ headDim: d, norm: qk }, options)) : null;
    const lambda = (name: string) =>
      this.addParameter(name, initTensor({ name: 'normal', std: 0.1 }, [d], this.rng));
    this.lambdaQ1 = lambda('lambdaQ1');
    this.lambdaK1 = lambda('lambdaK1');
    this.lambdaQ2 = lambda('lambdaQ2');
    this.lambdaK2 = lambda('lambdaK2');
    this.norm = this.addModule(
      'norm',
      new HeadNorm({ kind: config.headNorm ?? 'rms', heads: numHeads, dim: 2 * d }, options),
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
    const input = mixerInput(block, x, this.config.dModel, context, KVCache, this.training);
    const cache = input.state;
    if (cache && context.segmentIds) {
      throw new ConfigError(
        block,
        'context.segmentIds',
        'no segment ids while decoding with a cache',
        'segment ids',
      );
    }
    const causal = (this.config.causal ?? true) && (context.causal ?? true);
    const { numHeads } = this.config;
    const d = this.headDim;
    return tf.tidy(() => {
      const queryPositions = input.queryPositions;
      let q = splitHeads(this.q.forward(x), 2 * numHeads, d);
      let k = splitHeads(this.k.forward(x), 2 * this.numKvHeads, d);
      let v = splitHeads(this.v.forward(x), this.numKvHeads, 2 * d);
      if (this.qNorm) q = this.qNorm.forward(q) as tf.Tensor4D;
      if (this.kNorm) k = this.kNorm.forward(k) as tf.Tensor4D;
      q = rotate(context.positional, q, queryPositions);
      k = rotate(context.positional, k, queryPositions);
      let keyPositions = queryPositions;
      if (cache)
        ({ keys: k, values: v, positions: keyPositions } = cache.append(k, v, queryPositions));
      const lambda = this.lambda();
      const withWeights =
        context.attentionHook !== undefined && this.config.chunkSize === undefined;
      // Key/value head m serves query heads 2h, 2h+1 of the pairs h with h / group = m.
      const { output, weights } = scaledDotProductAttention(
        q,
        k,
        repeatKvHeads(v, 2 * this.numKvHeads),
        {
          causal,
          window: this.config.window,
          scale: (context.positional?.logitScale ?? 1) / Math.sqrt(d),
          bias: positionalBias(context.positional, queryPositions, keyPositions, 2 * numHeads, q),
          mask: context.mask,
          querySegments: context.segmentIds,
          queryPositions,
          keyPositions,
          chunkSize: this.config.chunkSize,
          returnWeights: withWeights,
        },
      );
      if (weights) context.attentionHook!({ block, weights: differentialCombine(weights, lambda) });
      if (cache) cache.evict();
      const heads = tf.mul(
        this.norm.forward(differentialCombine(output, lambda)),
        1 - this.lambdaInit,
      );
      return this.o.forward(mergeHeads(heads as tf.Tensor4D)) as tf.Tensor3D;
    });
  }
}

register(
  'differential',
  (c: DifferentialConfig, o: ModuleOptions) => new DifferentialAttention(c, o),
  differentialSchema,
  { category: 'mixer' },
);
