import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  SOFTMAX_CAPABILITIES,
  ShapeError,
  estimateOf,
  parseConfig,
  register,
  type Estimate,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import {
  causalNeighborhood,
  neighborhood,
  neighborhoodAttention,
  neighborhoodAttentionDense,
  type Neighborhood,
} from '../ops/neighborhood';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';
import { checkMixerInput, inputPositions, splitHeads } from '../softmax/heads';

/*
 * Neighborhood Attention (Hassani et al. 2023, "Neighborhood Attention Transformer", eq. 2;
 * dilation: Hassani & Shi 2022, "Dilated Neighborhood Attention Transformer", sec. 3.1):
 *   NA(x_i) = softmax(Q_i K_ρ(i)ᵀ / √d + B_(i,ρ(i))) V_ρ(i),
 * ρ(i) the k nearest (dilated) neighbours of token i, the window clamped at the borders so
 * every token sees exactly k keys; B the learned relative position bias table.
 */

const positive = z.number().int().positive();

export const neighborhoodAttentionSchema = z.strictObject({
  type: z.literal('neighborhood-attention'),
  dModel: positive,
  numHeads: positive,
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** Window size k (odd): k keys per token in 1-D, k×k over a grid. */
  kernelSize: positive,
  /** Dilation δ (DiNAT): neighbours δ apart; default 1. */
  dilation: positive.optional(),
  /** [height, width] of the tokens in raster order (a ViT's patches): 2-D neighbourhoods. */
  grid: z.tuple([positive, positive]).optional(),
  /** NA's relative position bias table (default true). */
  relativeBias: z.boolean().optional(),
  /** 1-D only: each token sees itself and the k − 1 (dilated) tokens before it. */
  causal: z.boolean().optional(),
  /** 'gather' (default): only the k neighbours; 'dense': the same selection as a mask on full attention (the reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type NeighborhoodAttentionConfig = z.infer<typeof neighborhoodAttentionSchema>;

/** Entries of the bias table per head: (2k − 1) in 1-D, (2k − 1)² over a grid. */
function tableSize(c: NeighborhoodAttentionConfig): number {
  return (2 * c.kernelSize - 1) * (c.grid ? 2 * c.kernelSize - 1 : 1);
}

export class NeighborhoodAttention
  extends ProjectedAttention<NeighborhoodAttentionConfig>
  implements TokenMixer
{
  /** [heads, tableSize], or null without relativeBias. */
  readonly rpb: tf.Variable | null;

  constructor(config: NeighborhoodAttentionConfig, options: ModuleOptions = {}) {
    const c = parseConfig('neighborhood-attention', neighborhoodAttentionSchema, config);
    if (!c.causal && c.kernelSize % 2 === 0) {
      throw new ConfigError(
        c.type,
        '$.kernelSize',
        'an odd size (a centred window)',
        String(c.kernelSize),
      );
    }
    if (c.causal && c.grid) {
      throw new ConfigError(c.type, '$.grid', 'no grid when causal (a 1-D sequence)', 'a grid');
    }
    // The geometry is checked before any weight, when the grid is known.
    if (c.grid) geometry(c, c.grid[0] * c.grid[1]);
    super(c, options);
    const { numHeads } = this.config;
    const rpb = this.config.relativeBias ?? true;
    this.rpb = rpb ? this.addParameter('rpb', tf.zeros([numHeads, tableSize(this.config)])) : null;
  }

  /**
   * Bidirectional, or causal-only when configured: then it decodes with a KV cache of the last
   * (k − 1)·δ + 1 tokens. No masks, positional encodings, weights hook or head control.
   */
  override get capabilities(): MixerCapabilities {
    const causal = this.config.causal ?? false;
    return {
      ...SOFTMAX_CAPABILITIES,
      decoding: causal,
      causal: causal ? 'only' : 'never',
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: causal ? 'constant' : 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  /** A cache of the last (k − 1)·δ + 1 keys and values: all a causal window reads. */
  initState(_batch: number): KVCache {
    const { kernelSize: k, dilation = 1 } = this.config;
    return new KVCache({ window: (k - 1) * dilation + 1 });
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const c = this.config;
    const cache = checkMixerInput(c.type, x, c.dModel, context, KVCache, this.capabilities);
    const time = x.shape[1];
    const positions = c.causal ? inputPositions(c.type, context, time, cache?.length ?? 0) : [];
    const nb = c.causal ? undefined : geometry(c, time);
    return tf.tidy(() => {
      const { queryHeads, keyHeads, valueHeads, valueDim } = this.layout;
      const q = splitHeads(this.q.forward(x), queryHeads, this.headDim);
      let k = splitHeads(this.k.forward(x), keyHeads, this.headDim);
      let v = splitHeads(this.v.forward(x), valueHeads, valueDim);
      let keyPositions = positions;
      if (cache) ({ keys: k, values: v, positions: keyPositions } = cache.append(k, v, positions));
      const hood =
        nb ?? causalNeighborhood(positions, keyPositions, c.kernelSize, c.dilation, c.type);
      const options = { bias: (this.rpb ?? undefined) as tf.Tensor2D | undefined };
      const attend = c.form === 'dense' ? neighborhoodAttentionDense : neighborhoodAttention;
      const out = this.mergeAndProject(attend(q, k, v, hood, options));
      cache?.evict();
      return out;
    });
  }
}

/** The neighbourhood of a `time`-token input: over the config's grid, else a sequence. */
function geometry(c: NeighborhoodAttentionConfig, time: number): Neighborhood {
  const grid = c.grid ?? [1, time];
  if (grid[0] * grid[1] !== time) {
    throw new ShapeError(
      c.type,
      'x',
      `${grid[0] * grid[1]} tokens (grid ${grid[0]}×${grid[1]})`,
      `${time} tokens`,
    );
  }
  const k = c.kernelSize;
  const d = c.dilation ?? 1;
  return neighborhood(
    {
      grid,
      kernel: c.grid ? [k, k] : [1, k],
      dilation: c.grid ? [d, d] : [1, d],
      causal: c.causal,
    },
    c.type,
  );
}

/** Projections plus the bias table, before building. */
function estimateNeighborhood(c: NeighborhoodAttentionConfig): Estimate {
  const rpb = (c.relativeBias ?? true) ? c.numHeads * tableSize(c) : 0;
  return estimateOf(projectedParameters(c) + rpb);
}

register(
  'neighborhood-attention',
  (c: NeighborhoodAttentionConfig, o: ModuleOptions) => new NeighborhoodAttention(c, o),
  neighborhoodAttentionSchema,
  {
    category: 'mixer',
    estimate: estimateNeighborhood,
    info: {
      paper:
        'Hassani et al. 2023, Neighborhood Attention Transformer; Hassani & Shi 2022, Dilated Neighborhood Attention Transformer',
      equation: 'NAT eq. 2; DiNAT sec. 3.1',
      summary:
        'Each token attends to its k nearest (dilated) neighbours, 1-D or over a grid, with a relative position bias.',
      example: {
        type: 'neighborhood-attention',
        dModel: 8,
        numHeads: 2,
        kernelSize: 3,
        dilation: 2,
      },
    },
  },
);
