// SeerAttention (Gao et al. 2024, "SeerAttention: Learning Intrinsic Sparse Attention in Your
// LLMs", sec. 3.1-3.2, eq. 1-3): an AttnGate scores key blocks from block-pooled queries and keys,
// S = softmax((avgpool(Q) W_q)(cat[maxpool, minpool, avgpool](K) W_k)ᵀ / √d_g) (eq. 2), and each
// query attends to its top-k key blocks. The gate alone is trained by self-distillation: KL(G ‖ S)
// with G the dense attention map max-pooled over B×B tiles and row-normalised (eq. 3).
// Causal decoding: a query's pooled q is the mean of its block's queries up to itself (the
// paper's block mean at the block's last query); it keeps its own block (causal inside) and the
// topK - 1 earlier full blocks its gate ranks highest. W_q, W_k are shared by the heads, and act
// on the model's (rotated) q and k. The gate weights are not trained by the model's loss.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  type ModuleOptions,
  type PositionalEncoding,
  type TokenMixer,
} from '@attnkit/core';
import { topEarlierBlocks } from '../ops/moba';
import { repeatKvHeads } from '../ops/validate';
import { checkMixerInput } from '../softmax/heads';
import { headLayout, projectedParameters } from '../softmax/projected';
import { BlockSelectingAttention, OpenBlockState } from './block-selecting';

const BLOCK = 'seer-attention';
const NEGATIVE = -1e9;
const positive = z.number().int().positive();

export const seerAttentionSchema = z.strictObject({
  type: z.literal('seer-attention'),
  dModel: positive,
  numHeads: positive,
  numKvHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** Tokens per query and key block (B). */
  blockSize: positive,
  /** Blocks each query attends to, its own included (k). */
  topK: positive,
  /** Width of the gate's projections d_g (default headDim). */
  gateDim: positive.optional(),
  /** 'gather' (default) gathers the selected blocks; 'dense' masks full attention (reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type SeerAttentionConfig = z.infer<typeof seerAttentionSchema>;

/** The gate's weights: W_q [headDim, d_g] and W_k [3·headDim, d_g]. */
export interface SeerGateWeights {
  gateQ: tf.Tensor2D;
  gateK: tf.Tensor2D;
}

function gateParameters(c: SeerAttentionConfig): number {
  const d = headLayout(c).headDim;
  return 4 * d * (c.gateDim ?? d);
}

/** The KV cache plus the queries of the open block (the pooled q of the next ones). */
export class SeerAttentionState extends OpenBlockState {}

/** x [..., n] times w [n, m] -> [..., m]. */
function project(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const n = x.shape[x.rank - 1]!;
  return tf.reshape(tf.matMul(tf.reshape(x, [-1, n]), w), [...x.shape.slice(0, -1), w.shape[1]]);
}

/** The key pooling of eq. 2: cat[max, min, mean] over each full block of k -> [b, kvh, n, 3d]. */
function pooledKeys(k: tf.Tensor4D, blockSize: number, full: number): tf.Tensor4D {
  const [b, h, , d] = k.shape;
  const blocks = tf.reshape(tf.slice(k, [0, 0, 0, 0], [-1, -1, full * blockSize, -1]), [
    b,
    h,
    full,
    blockSize,
    d,
  ]);
  return tf.concat([tf.max(blocks, 3), tf.min(blocks, 3), tf.mean(blocks, 3)], 3) as tf.Tensor4D;
}

/** Means of each block's rows up to each row: x [b, h, L, d] starting on a block boundary. */
function inBlockPrefixMeans(x: tf.Tensor4D, blockSize: number): tf.Tensor4D {
  const [b, h, L, d] = x.shape;
  const nb = Math.ceil(L / blockSize);
  const padded = tf.pad(x, [
    [0, 0],
    [0, 0],
    [0, nb * blockSize - L],
    [0, 0],
  ]);
  // Forward only (the selection is data): cumsum's inner-axis gradient is never taken.
  const sums = tf.cumsum(tf.reshape(padded, [b, h, nb, blockSize, d]), 3);
  const counts = tf.reshape(tf.range(1, blockSize + 1), [1, 1, 1, blockSize, 1]);
  const means = tf.reshape(tf.div(sums, counts), [b, h, nb * blockSize, d]);
  return tf.slice(means, [0, 0, 0, 0], [-1, -1, L, -1]) as tf.Tensor4D;
}

/** A [n, n] additive bias: 0 where column <= row + offset, NEGATIVE elsewhere. */
function causalBias(rows: number, cols: number, offset = 0): tf.Tensor2D {
  const values = Array.from({ length: rows * cols }, (_, i) =>
    i % cols <= Math.floor(i / cols) + offset ? 0 : NEGATIVE,
  );
  return tf.tensor2d(values, [rows, cols]);
}

/** A copy of t off the tape: the gate loss's gradient reaches only the gate. */
function detach<T extends tf.Tensor>(t: T): T {
  return tf.tensor(t.dataSync(), t.shape, t.dtype) as T;
}

/** SeerAttention over projected heads (GQA when numKvHeads < numHeads); causal only. */
export class SeerAttention
  extends BlockSelectingAttention<SeerAttentionConfig, SeerAttentionState>
  implements TokenMixer
{
  protected readonly block = BLOCK;
  protected readonly stateClass = SeerAttentionState;

  /** The AttnGate's W_q and W_k (eq. 2); trained by `seerGateGrads`, not by the model's loss. */
  readonly gateQ: tf.Variable;
  readonly gateK: tf.Variable;
  readonly gateDim: number;

  constructor(config: SeerAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig(BLOCK, seerAttentionSchema, config), options);
    const d = this.headDim;
    this.gateDim = this.config.gateDim ?? d;
    const init = (shape: number[]) => initTensor('xavier-uniform', shape, this.rng);
    this.gateQ = this.addParameter('gateQ', init([d, this.gateDim]), false);
    this.gateK = this.addParameter('gateK', init([3 * d, this.gateDim]), false);
  }

  /**
   * The gate's choice per query (eq. 2, causal): int32 [b, h, tq, topK - 1] earlier key blocks,
   * -1 where fewer are eligible. Queries end-aligned with the keys; updates the open block's
   * queries in the state.
   */
  protected select(q: tf.Tensor4D, keys: tf.Tensor4D, state?: SeerAttentionState): tf.Tensor4D {
    const { blockSize: B, topK } = this.config;
    const [b, h, tq] = q.shape;
    const offset = keys.shape[2] - tq;
    const lead = offset % B;
    return tf.tidy(() => {
      const open = state?.openQueries;
      const all = lead > 0 && open ? tf.concat([open, q], 2) : q;
      const start = all.shape[2] - tq;
      if (state) {
        const rest = (offset + tq) % B;
        state.setOpenQueries(
          rest > 0
            ? (tf.slice(all, [0, 0, all.shape[2] - rest, 0], [-1, -1, rest, -1]) as tf.Tensor4D)
            : null,
        );
      }
      const full = Math.floor(keys.shape[2] / B);
      if (topK === 1 || full === 0) return tf.fill([b, h, tq, 1], -1, 'int32') as tf.Tensor4D;
      const pooled = tf.slice(
        inBlockPrefixMeans(all as tf.Tensor4D, B),
        [0, 0, start, 0],
        [-1, -1, tq, -1],
      );
      const scores = this.gateLogits(
        pooled,
        pooledKeys(keys, B, full),
        this.gateQ as tf.Tensor2D,
        this.gateK as tf.Tensor2D,
      );
      return topEarlierBlocks(scores, B, topK - 1, offset);
    });
  }

  /** Eq. 2's logits: pooled q [b, h, n, d] and pooled keys [b, kvh, m, 3d] -> [b, h, n, m]. */
  private gateLogits(
    pooledQ: tf.Tensor,
    pooledK: tf.Tensor4D,
    gateQ: tf.Tensor2D,
    gateK: tf.Tensor2D,
  ): tf.Tensor4D {
    const gk = repeatKvHeads(project(pooledK, gateK) as tf.Tensor4D, pooledQ.shape[1]!);
    const logits = tf.matMul(project(pooledQ, gateQ) as tf.Tensor4D, gk, false, true);
    return tf.mul(logits, 1 / Math.sqrt(this.gateDim)) as tf.Tensor4D;
  }

  /**
   * The distillation loss of eq. 3 on x [b, t, dModel] (t a multiple of blockSize): the mean
   * over batch, heads and query blocks of KL(G ‖ S), G the causal attention map max-pooled over
   * B×B tiles and row-normalised, S the gate's block softmax (causal, own block included). q and
   * k enter as data, so only the gate weights (default this.gateQ/gateK) get a gradient.
   */
  gateLoss(
    x: tf.Tensor3D,
    weights: Partial<SeerGateWeights> = {},
    positional?: PositionalEncoding,
  ): tf.Scalar {
    const { dModel, blockSize: B } = this.config;
    checkMixerInput(BLOCK, x, dModel, {}, SeerAttentionState, this.capabilities);
    const [b, t] = x.shape;
    if (t % B !== 0) {
      throw new ConfigError(
        `${BLOCK}.gateLoss`,
        'x',
        `a length divisible by blockSize=${B}`,
        `length ${t}`,
      );
    }
    const gateQ = weights.gateQ ?? (this.gateQ as tf.Tensor2D);
    const gateK = weights.gateK ?? (this.gateK as tf.Tensor2D);
    return tf.tidy(() => {
      const positions = Array.from({ length: t }, (_, i) => i);
      const projected = this.projectSelf(x, positions, positional);
      const q = detach(projected.q);
      const keys = detach(projected.keys);
      const h = q.shape[1];
      const n = t / B;
      // G: the dense causal map, max-pooled per tile, rows normalised (eq. 3).
      const logits = tf.add(
        tf.mul(tf.matMul(q, repeatKvHeads(keys, h), false, true), 1 / Math.sqrt(this.headDim)),
        causalBias(t, t),
      );
      const map = tf.reshape(tf.softmax(logits), [b, h, n, B, n, B]);
      const tiles = tf.max(tf.max(map, 5), 3);
      const target = tf.div(tiles, tf.sum(tiles, -1, true));
      const pooledQ = tf.mean(tf.reshape(q, [b, h, n, B, this.headDim]), 3);
      const gate = tf.add(
        this.gateLogits(pooledQ, pooledKeys(keys, B, n), gateQ, gateK),
        causalBias(n, n),
      );
      const logS = tf.logSoftmax(gate);
      const entropy = tf.where(
        tf.greater(target, 0),
        tf.mul(target, tf.log(target)),
        tf.zerosLike(target),
      );
      return tf.div(tf.sum(tf.sub(entropy, tf.mul(target, logS))), b * h * n) as tf.Scalar;
    });
  }
}

/** The SeerAttention gate's distillation loss (eq. 3) of `mixer` on x; see `gateLoss`. */
export function seerGateLoss(mixer: SeerAttention, x: tf.Tensor3D): tf.Scalar {
  return mixer.gateLoss(x);
}

/** The gate loss and its gradient w.r.t. the gate weights only (one distillation step's input). */
export function seerGateGrads(
  mixer: SeerAttention,
  x: tf.Tensor3D,
): { loss: tf.Scalar; grads: SeerGateWeights } {
  const { value, grads } = tf.valueAndGrads((gateQ: tf.Tensor, gateK: tf.Tensor) =>
    mixer.gateLoss(x, { gateQ: gateQ as tf.Tensor2D, gateK: gateK as tf.Tensor2D }),
  )([mixer.gateQ, mixer.gateK]);
  return {
    loss: value as tf.Scalar,
    grads: { gateQ: grads[0] as tf.Tensor2D, gateK: grads[1] as tf.Tensor2D },
  };
}

register(
  BLOCK,
  (c: SeerAttentionConfig, o: ModuleOptions) => new SeerAttention(c, o),
  seerAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: SeerAttentionConfig) => estimateOf(projectedParameters(c) + gateParameters(c)),
    info: {
      paper: 'Gao et al. 2024, SeerAttention: Learning Intrinsic Sparse Attention in Your LLMs',
      equation: 'sec. 3.1-3.2, eq. 1-3',
      summary:
        'Causal block-sparse attention: a learned gate over pooled queries and keys picks each query its own block and the topK - 1 best earlier key blocks; the gate is trained by distillation from the block-max-pooled dense map (seerGateGrads).',
      example: { type: 'seer-attention', dModel: 8, numHeads: 2, blockSize: 2, topK: 2 },
    },
  },
);
