import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ShapeError,
  State,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  reserve,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { causalConv1d } from '../ops/short-conv';
import { checkMixerInput, mergeHeads, splitHeads } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';

/** 'agent-attention': Agent Attention (Han et al. 2024, ECCV), on 1-D sequences. */
export const agentAttentionSchema = z
  .strictObject({
    type: z.literal('agent-attention'),
    dModel: z.number().int().positive(),
    numHeads: z.number().int().positive(),
    headDim: z.number().int().positive().optional(),
    bias: z.boolean().optional(),
    /** Encoder only: the agents pool the queries of the whole sequence. */
    causal: z.literal(false).optional(),
    /** n: agent tokens, each the average of the queries over 1/n of the sequence. */
    numAgents: z.number().int().positive(),
    /** The longest input: the agent biases are tables over maxLength positions. */
    maxLength: z.number().int().positive(),
    /** Width of the low-resolution bias tables interpolated to maxLength (default 7, the paper's 7). */
    biasBlocks: z.number().int().positive().optional(),
    /** Odd width of the depthwise convolution on V (default 3, the paper's 3×3 in 1-D). */
    kernelSize: z.number().int().positive().optional(),
  })
  .refine((c) => (c.kernelSize ?? 3) % 2 === 1, {
    path: ['kernelSize'],
    message: 'an odd kernel width (centred convolution)',
  });
export type AgentAttentionConfig = z.input<typeof agentAttentionSchema>;

/**
 * Agent Attention, "On the Integration of Softmax and Linear Attention" (Han et al. 2024, ECCV):
 * n agent tokens A, the adaptive average pooling of the queries over the
 * sequence, first gather from the keys and values by softmax attention (agent aggregation) and
 * then broadcast to the queries (agent broadcast), plus a depthwise convolution of V:
 *
 *   O = softmax(Q Aᵀ/√d + B2) · softmax(A Kᵀ/√d + B1) · V + DWC(V)
 *
 * O(T·n) per head. Agent biases, 1-D: the paper learns, per head, a low-resolution table
 * (agents × 7 × 7) bilinearly interpolated to its fixed window, plus per-row and per-column
 * tables. In one dimension that is a table agents × biasBlocks, linearly interpolated
 * (align_corners false) to maxLength, plus one per-position table agents × maxLength; B1 and B2
 * each have their own pair. Positions are absolute: an input of T ≤ maxLength tokens uses the
 * first T columns (longer inputs are refused). Pooling the queries of every position makes it an
 * encoder mixer: causal use and decoding are refused. (The formula as the paper writes its agent
 * attention module, checked against the authors' released agent_pvt.py, whose bias tables this
 * follows; the paper's equation numbers were not accessible to us, so none are cited.)
 */
export class AgentAttention extends ProjectedAttention<AgentAttentionConfig> implements TokenMixer {
  /** B1's low-resolution table [heads, agents, biasBlocks] (the paper's an_bias). */
  readonly agentBias: tf.Variable;
  /** B1's per-position table [heads, agents, maxLength] (ah/aw in 2-D). */
  readonly agentPositionBias: tf.Variable;
  /** B2's low-resolution table [heads, agents, biasBlocks] (na_bias), transposed when used. */
  readonly queryBias: tf.Variable;
  /** B2's per-position table [heads, maxLength, agents] (ha/wa in 2-D). */
  readonly queryPositionBias: tf.Variable;
  /** Depthwise convolution of V: [channels, kernelSize] and [channels]. */
  readonly convWeight: tf.Variable;
  readonly convBias: tf.Variable;
  private readonly interpolation: tf.Tensor2D;

  constructor(config: AgentAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('agent-attention', agentAttentionSchema, config), options);
    const { numHeads: h, numAgents: n, maxLength: L } = this.config;
    const blocks = this.config.biasBlocks ?? 7;
    const kernel = this.config.kernelSize ?? 3;
    const channels = h * this.headDim;
    const bias = (shape: number[]) =>
      initTensor({ name: 'truncated-normal', std: 0.02 }, shape, this.rng);
    this.agentBias = this.addParameter('agentBias', bias([h, n, blocks]));
    this.agentPositionBias = this.addParameter('agentPositionBias', bias([h, n, L]));
    this.queryBias = this.addParameter('queryBias', bias([h, n, blocks]));
    this.queryPositionBias = this.addParameter('queryPositionBias', bias([h, L, n]));
    // PyTorch's Conv1d default: uniform in ±1/√fanIn, fanIn = kernel for a depthwise filter.
    const bound = 1 / Math.sqrt(kernel);
    const uniform = (shape: number[]) =>
      initTensor({ name: 'uniform', min: -bound, max: bound }, shape, this.rng);
    this.convWeight = this.addParameter('convWeight', uniform([channels, kernel]));
    this.convBias = this.addParameter('convBias', uniform([channels]));
    // A buffer, not a parameter: counted against the build's byte budget before it is made.
    reserve('agent-attention', `biasBlocks ${blocks} x maxLength ${L}`, blocks * L, {
      parameter: false,
    });
    this.interpolation = linearInterpolation(blocks, L);
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
    const block = 'agent-attention';
    checkMixerInput(block, x, this.config.dModel, context, State, this.capabilities);
    const [b, t] = x.shape;
    const { maxLength, numAgents: n, numHeads: h } = this.config;
    if (t > maxLength) {
      throw new ShapeError(
        block,
        'x',
        `at most maxLength=${maxLength} tokens`,
        `${t} tokens (shape [${x.shape.join(',')}])`,
      );
    }
    return tf.tidy(() => {
      const positions = Array.from({ length: t }, (_, i) => i);
      const { q, keys: k, values: v } = this.projectSelf(x, positions, undefined);
      const scale = 1 / Math.sqrt(this.headDim);
      const pool = tf.broadcastTo(adaptiveAveragePool(t, n), [b, h, n, t]);
      const agents = tf.matMul(pool, q); // [b, h, n, d]
      // Interpolated block tables plus per-position tables, first t positions.
      const spread = (table: tf.Variable) =>
        tf.reshape(
          tf.matMul(tf.reshape(table, [h * n, -1]), tf.slice(this.interpolation, [0, 0], [-1, t])),
          [h, n, t],
        );
      const b1 = tf.add(
        spread(this.agentBias),
        tf.slice(this.agentPositionBias, [0, 0, 0], [h, n, t]),
      );
      const b2 = tf.add(
        tf.transpose(spread(this.queryBias), [0, 2, 1]),
        tf.slice(this.queryPositionBias, [0, 0, 0], [h, t, n]),
      );
      const gather = tf.softmax(tf.add(tf.mul(tf.matMul(agents, k, false, true), scale), b1));
      const agentValues = tf.matMul(gather, v); // [b, h, n, d]
      const broadcast = tf.softmax(tf.add(tf.mul(tf.matMul(q, agents, false, true), scale), b2));
      const attended = tf.matMul(broadcast, agentValues); // [b, h, t, d]
      const conv = splitHeads(this.depthwise(mergeHeads(v)), h, this.headDim);
      return this.mergeAndProject(tf.add(attended, conv) as tf.Tensor4D, context.heads);
    });
  }

  /** Centred depthwise convolution over time, zero-padded: the causal one over x shifted by K/2. */
  private depthwise(v: tf.Tensor3D): tf.Tensor3D {
    const [b, t, c] = v.shape;
    const half = (this.config.kernelSize ?? 3) >> 1;
    const padded = tf.pad(v, [
      [0, 0],
      [0, half],
      [0, 0],
    ]) as tf.Tensor3D;
    const { output } = causalConv1d(padded, this.convWeight as tf.Tensor2D, {
      bias: this.convBias as tf.Tensor1D,
    });
    return tf.slice(output, [0, half, 0], [b, t, c]);
  }

  override dispose(): void {
    this.interpolation.dispose();
    super.dispose();
  }
}

/** [n, t]: row a averages positions [⌊a·t/n⌋, ⌈(a+1)·t/n⌉) (PyTorch's adaptive average pooling). */
function adaptiveAveragePool(t: number, n: number): tf.Tensor2D {
  const weights = new Float32Array(n * t);
  for (let a = 0; a < n; a++) {
    const start = Math.floor((a * t) / n);
    const end = Math.ceil(((a + 1) * t) / n);
    for (let i = start; i < end; i++) weights[a * t + i] = 1 / (end - start);
  }
  return tf.tensor2d(weights, [n, t]);
}

/** [from, to]: linear interpolation of `from` samples to `to` (align_corners false, as PyTorch). */
function linearInterpolation(from: number, to: number): tf.Tensor2D {
  const weights = new Float32Array(from * to);
  for (let o = 0; o < to; o++) {
    const src = Math.max(((o + 0.5) * from) / to - 0.5, 0);
    const i0 = Math.min(Math.floor(src), from - 1);
    const i1 = Math.min(i0 + 1, from - 1);
    const frac = src - i0;
    weights[i0 * to + o] += 1 - frac;
    weights[i1 * to + o] += frac;
  }
  return tf.tensor2d(weights, [from, to]);
}

/** What it allocates: q/k/v/o, four bias tables, the depthwise convolution. */
function estimateAgent(c: AgentAttentionConfig) {
  const { headDim } = headLayout(c);
  const { numHeads: h, numAgents: n, maxLength: L } = c;
  const tables = 2 * h * n * (c.biasBlocks ?? 7) + 2 * h * n * L;
  const conv = h * headDim * ((c.kernelSize ?? 3) + 1);
  const interpolation = (c.biasBlocks ?? 7) * L * 4;
  return estimateOf(projectedParameters(c) + tables + conv, interpolation);
}

register('agent-attention', (c, o) => new AgentAttention(c, o), agentAttentionSchema, {
  category: 'mixer',
  estimate: estimateAgent,
  info: {
    paper: 'Han et al. 2024, Agent Attention: On the Integration of Softmax and Linear Attention',
    equation:
      'O = σ(QAᵀ + B2) σ(AKᵀ + B1) V + DWC(V), A = pooled Q; agent biases interpolated (1-D here)',
    summary:
      'agent tokens (pooled queries) gather keys by softmax and are read back by the queries: O(T·n); encoder only',
    example: {
      type: 'agent-attention',
      dModel: 8,
      numHeads: 2,
      numAgents: 3,
      maxLength: 8,
      biasBlocks: 4,
    },
  },
});
