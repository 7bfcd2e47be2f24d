import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Rng,
  State,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { hyperAttention } from '../ops/hyper-attention';
import { repeatKvHeads } from '../ops/validate';
import { checkMixerInput, inputPositions } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';

/** 'hyper-attention': sortLSH blocks plus a sampled residual (Han et al. 2023, Algorithms 1-3). */
export const hyperAttentionSchema = z.strictObject({
  type: z.literal('hyper-attention'),
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  numKvHeads: z.number().int().positive().optional(),
  headDim: z.number().int().positive().optional(),
  bias: z.boolean().optional(),
  /** Bidirectional only: the paper's causal form (Algorithm 4, a recursion over halves) is not offered. */
  causal: z.literal(false).optional(),
  /** b: tokens per block of the sorted order (default 64); b ≥ T is exact attention. */
  blockSize: z.number().int().positive().optional(),
  /** m: keys sampled uniformly for the residual (default 64; 0: blocks only). */
  sampleSize: z.number().int().nonnegative().optional(),
  /** r: bits of the angular LSH (default 7: 128 buckets). */
  hashBits: z.number().int().min(1).max(16).optional(),
  /** Seed of the LSH directions and of the sample: same seed and length, same output. */
  seed: z.number().int().nonnegative().optional(),
});
export type HyperAttentionConfig = z.input<typeof hyperAttentionSchema>;

/**
 * HyperAttention (Han et al. 2023, "HyperAttention: Long-context Attention in Near-Linear Time",
 * ICLR 2024, Algorithm 3 with sortLSH, Algorithm 1, and ApproxD's uniform sample, Algorithm 2): an
 * approximation of bidirectional softmax attention per head in O(T log T + T·(b + m)·d): exact
 * attention within blocks of b after sorting q and k by a Hamming-ordered angular LSH, plus m
 * uniformly sampled keys weighted T/m for the rest, merged through their log-sum-exps (ops/
 * hyper-attention.ts). The LSH directions are drawn from `seed` when the module is built and the
 * sample from `seed` at each call, so an input gives the same output every call (gradient checks
 * and evaluation are deterministic). Not causal, no decoding: refused with typed errors.
 */
export class HyperAttention extends ProjectedAttention<HyperAttentionConfig> {
  /** [headDim, hashBits] Gaussian directions of the angular LSH (fixed by the seed). */
  readonly projection: tf.Tensor2D;

  constructor(config: HyperAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('hyper-attention', hyperAttentionSchema, config), options);
    const bits = this.config.hashBits ?? 7;
    const rng = new Rng(this.config.seed ?? 0);
    const values = Float32Array.from({ length: this.headDim * bits }, () => rng.normal());
    this.projection = tf.tensor2d(values, [this.headDim, bits]);
  }

  /** Encoder only; rotary turns q and k before hashing; heads can be scaled or disabled. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'never',
      decoding: false,
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'none',
      keyValuePrefix: false,
    };
  }

  /** The call's sample: m key indices in [0, t), uniform with repetition, from the seed. */
  samplesFor(t: number): number[] {
    const rng = new Rng((this.config.seed ?? 0) + 1);
    const m = this.config.sampleSize ?? 64;
    return Array.from({ length: m }, () => Math.floor(rng.uniform() * t));
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'hyper-attention';
    checkMixerInput(block, x, this.config.dModel, context, State, this.capabilities);
    const t = x.shape[1];
    const positions = inputPositions(block, context, t, 0);
    const samples = this.samplesFor(t);
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, positions, context.positional);
      const heads = q.shape[1];
      const { output, logSumExp } = hyperAttention(
        q,
        repeatKvHeads(keys, heads),
        repeatKvHeads(values, heads),
        {
          blockSize: this.config.blockSize ?? 64,
          projection: this.projection,
          samples,
          scale: (context.positional?.logitScale ?? 1) / Math.sqrt(this.headDim),
        },
      );
      logSumExp.dispose();
      return this.mergeAndProject(output, context.heads);
    });
  }

  override dispose(): void {
    this.projection.dispose();
    super.dispose();
  }
}

register('hyper-attention', (c, o) => new HyperAttention(c, o), hyperAttentionSchema, {
  category: 'mixer',
  // The projections, plus the LSH directions [headDim, hashBits] (a float32 buffer).
  estimate: (c: HyperAttentionConfig) =>
    estimateOf(projectedParameters(c), 4 * headLayout(c).headDim * (c.hashBits ?? 7)),
  info: {
    paper:
      'Han et al. 2023, HyperAttention: Long-context Attention in Near-Linear Time (ICLR 2024)',
    equation:
      'Algorithm 3 with sortLSH (Algorithm 1) and a uniform key sample (ApproxD, Algorithm 2): block-diagonal attention in LSH-sorted order plus (T/m)-weighted samples outside it, merged by log-sum-exp',
    summary:
      'approximate bidirectional softmax attention in O(T log T + T(b+m)d): LSH-sorted blocks plus a sampled residual; exact when blockSize >= T',
    example: { type: 'hyper-attention', dModel: 8, numHeads: 2, blockSize: 2, sampleSize: 3 },
  },
});
