import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  type Estimate,
  checkInt,
  estimateOf,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
  parseConfig,
} from '@attnkit/core';
import { MultiTokenState } from '../cache/multi-token-state';
import { groupedHeadMatrix, mixHeads } from '../ops/head-mix';
import { lambdaInit } from '../ops/head-norm';
import { keyQueryConv } from '../ops/key-query-conv';
import { attentionScores, maskedSoftmax, zeroMasked } from '../ops/scores';
import { repeatKvHeads } from '../ops/validate';
import { attentionFields } from './config';
import { HeadNorm, headNormParameters } from './head-norm';
import { mixerInput, reportWeights } from './heads';
import { ProjectedAttention, headLayout, projectedParameters } from './projected';

const positive = z.number().int().positive();
const where = z.enum(['pre', 'post', 'none']);
const { dModel, numHeads, headDim, bias, causal } = attentionFields;

export const multiTokenSchema = z.strictObject({
  type: z.literal('multi-token'),
  dModel,
  numHeads,
  numKvHeads: positive.optional(),
  headDim,
  bias,
  causal,
  /** c_q: the current and c_q - 1 previous queries (default 6). */
  queryKernel: positive.optional(),
  /** c_k: odd, (c_k - 1)/2 keys either side (default 11). */
  keyKernel: positive.refine((n) => n % 2 === 1, 'an odd number').optional(),
  /** Key-query convolution before the softmax (default), after it, or none. */
  keyQueryConv: where.optional(),
  /** c_h: heads mixed together, a divisor of numHeads (default 2). */
  headKernel: positive.optional(),
  /** Head-mixing convolution after the softmax (default), before it, or none. */
  headMix: where.optional(),
  /** Normalise each head's output (default 'rms'); 'none' turns it off. */
  headNorm: z.enum(['rms', 'group', 'none']).optional(),
  /** Multiply normalised heads by 1 - λ_init(layerIndex) (default true). */
  depthScaling: z.boolean().optional(),
  layerIndex: z.number().int().min(0).optional(),
});

export type MultiTokenConfig = z.infer<typeof multiTokenSchema>;

/**
 * Multi-Token Attention (Golovneva et al. 2025). Implemented: the key-query convolution over
 * the attention map (sec. 3.1, eq. 3 pre-softmax with masked scores zeroed first,
 * softmax(Mask_-∞(Conv(Mask_0(Â)))); or eq. 4 post-softmax, Mask_0(Conv(softmax(...)))),
 * the head-mixing convolution within groups of c_h heads (sec. 3.2, before or after the
 * softmax), and per-head normalisation with depth scaling (sec. 3.3). Kernels start as the
 * identity, so the block starts as multi-head attention. Not implemented: the paper's option
 * of both a pre- and a post-softmax key-query kernel at once, and a fused/chunked kernel
 * (the full [tq, tk] map is built). Decodes with a KV cache plus the last c_q - 1 queries.
 */
export class MultiTokenAttention
  extends ProjectedAttention<MultiTokenConfig>
  implements TokenMixer
{
  /** θ [heads, c_q, c_k], or null without a key-query convolution. */
  readonly kernel: tf.Variable | null;
  /** [heads / c_h, c_h, c_h], or null without head mixing. */
  readonly headKernel: tf.Variable | null;
  readonly norm: HeadNorm | null;
  /** The output multiplier 1 - λ_init (1 without depth scaling). */
  readonly depthScale: number;

  constructor(config: MultiTokenConfig, options: ModuleOptions = {}) {
    const layout = headLayout(config);
    const { numHeads } = config;
    const headKernel = config.headKernel ?? 2;
    const headMix = config.headMix ?? 'post';
    if (headMix !== 'none' && numHeads % headKernel !== 0) {
      throw new ConfigError(
        config.type,
        'headKernel',
        `a divisor of numHeads=${numHeads}`,
        String(headKernel),
      );
    }
    // Checked before any parameter exists, so a bad layerIndex leaks nothing.
    const layerIndex = checkInt(config.type, 'layerIndex', config.layerIndex ?? 0, 0);
    config = parseConfig('multi-token', multiTokenSchema, config);
    const depthScale = (config.depthScaling ?? true) ? 1 - lambdaInit(layerIndex) : 1;
    super(config, options, layout);
    this.depthScale = depthScale;
    const cq = config.queryKernel ?? 6;
    const ck = config.keyKernel ?? 11;
    this.kernel =
      (config.keyQueryConv ?? 'pre') === 'none'
        ? null
        : this.addParameter('kernel', identityKernel(numHeads, cq, ck));
    this.headKernel =
      headMix === 'none'
        ? null
        : this.addParameter(
            'headKernel',
            tf.tidy(() =>
              tf.tile(tf.expandDims(tf.eye(headKernel), 0), [numHeads / headKernel, 1, 1]),
            ),
          );
    const kind = config.headNorm ?? 'rms';
    this.norm =
      kind === 'none'
        ? null
        : this.addModule(
            'norm',
            new HeadNorm({ kind, heads: numHeads, dim: this.headDim }, options),
          );
  }

  /** Queries a new row's convolution reads besides its own. */
  get queryContext(): number {
    return this.kernel ? this.kernel.shape[1]! - 1 : 0;
  }

  initState(_batch: number): IncrementalState {
    return new MultiTokenState(this.queryContext);
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      MultiTokenState,
      this.training,
      this.capabilities,
    );
    const state = input.state;
    if (state && (context.segmentIds || context.mask)) {
      throw new ConfigError(
        block,
        context.mask ? 'context.mask' : 'context.segmentIds',
        'no mask or segment ids while decoding with a cache',
        context.mask ? 'a mask' : 'segment ids',
      );
    }
    const causal = this.isCausal(context);
    const { numHeads } = this.config;
    const kqConv = this.kernel ? (this.config.keyQueryConv ?? 'pre') : 'none';
    const headMix = this.headKernel ? (this.config.headMix ?? 'post') : 'none';
    return tf.tidy(() => {
      let queryPositions = input.queryPositions;
      const projected = this.projectSelf(x, queryPositions, context.positional, state?.cache);
      let q = projected.q;
      const { keys: k, values: v, keyPositions } = projected;
      if (state) {
        // Earlier queries come back as extra rows, so the convolution sees its whole window.
        if (state.queries) {
          q = tf.concat([state.queries, q], 2) as tf.Tensor4D;
          queryPositions = [...state.queryPositions, ...queryPositions];
        }
        state.keepQueries(q, queryPositions);
      }
      const { logits, keep } = attentionScores(
        q,
        k,
        {
          ...this.logitOptions(q, context.positional, context, queryPositions, keyPositions),
          causal,
        },
        block,
      );
      const mixer = headMix === 'none' ? null : groupedHeadMatrix(this.headKernel as tf.Tensor3D);
      let map: tf.Tensor4D = logits;
      if (kqConv === 'pre')
        map = keyQueryConv(zeroMasked(map, keep) as tf.Tensor4D, this.kernel as tf.Tensor3D);
      if (headMix === 'pre') map = mixHeads(map, mixer!, block);
      let weights = maskedSoftmax(map, keep);
      if (kqConv === 'post') {
        weights = zeroMasked(
          keyQueryConv(weights, this.kernel as tf.Tensor3D),
          keep,
        ) as tf.Tensor4D;
      }
      if (headMix === 'post') weights = mixHeads(weights, mixer!, block);
      const rows = weights.shape[2];
      if (rows > input.time) {
        weights = tf.slice(weights, [0, 0, rows - input.time, 0], [-1, -1, input.time, -1]);
      }
      if (context.attentionHook) reportWeights(block, context, weights);
      let heads = tf.matMul(weights, repeatKvHeads(v, numHeads)) as tf.Tensor4D;
      if (this.norm) heads = tf.mul(this.norm.forward(heads), this.depthScale) as tf.Tensor4D;
      return this.mergeAndProject(heads, context.heads);
    });
  }
}

/** θ with a single 1 at the current query and the centre key: convolution = identity. */
function identityKernel(heads: number, cq: number, ck: number): tf.Tensor {
  const values = new Float32Array(heads * cq * ck);
  for (let h = 0; h < heads; h++) values[h * cq * ck + (cq - 1) * ck + (ck - 1) / 2] = 1;
  return tf.tensor3d(values, [heads, cq, ck]);
}

/** Projections, θ [heads, c_q, c_k], the head kernels [heads / c_h, c_h, c_h], the head norm. */
function estimateMultiToken(c: MultiTokenConfig): Estimate {
  const { numHeads } = c;
  const conv =
    (c.keyQueryConv ?? 'pre') === 'none' ? 0 : (c.queryKernel ?? 6) * (c.keyKernel ?? 11);
  const mix = (c.headMix ?? 'post') === 'none' ? 0 : (c.headKernel ?? 2);
  const kind = c.headNorm ?? 'rms';
  const norm = kind === 'none' ? 0 : headNormParameters(kind, numHeads, headLayout(c).headDim);
  return estimateOf(projectedParameters(c) + numHeads * (conv + mix) + norm);
}

register(
  'multi-token',
  (c: MultiTokenConfig, o: ModuleOptions) => new MultiTokenAttention(c, o),
  multiTokenSchema,
  {
    category: 'mixer',
    estimate: estimateMultiToken,
    info: {
      paper: 'Golovneva et al. 2025, Multi-Token Attention',
      equation: 'sec. 3.1-3.3, eqs. 3-4',
      summary: 'Key-query and head-mixing convolutions over the attention map.',
      example: { type: 'multi-token', dModel: 8, numHeads: 2 },
    },
  },
);
