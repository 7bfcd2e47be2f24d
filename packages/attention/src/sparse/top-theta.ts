import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  MASK_NEGATIVE,
  checkInt,
  estimateOf,
  parseConfig,
  register,
  type ModuleOptions,
} from '@attnkit/core';
import { THRESHOLD_COMPENSATIONS, thresholdAttention } from '../ops/threshold-attention';
import { repeatKvHeads } from '../ops/validate';
import { projectedParameters } from '../softmax/projected';
import { ScoreSelectionAttention, selectionFields, type SelectionCall } from './selection-base';

const positive = z.number().int().positive();

export const topThetaSchema = z.strictObject({
  type: z.literal('top-theta'),
  ...selectionFields,
  /** Query positions per threshold group: rows [g·groupSize, (g+1)·groupSize) share θ. */
  groupSize: positive,
  /** Threshold groups per head; positions past the last group use its θ. */
  numGroups: positive,
  /** Treatment of the pruned mass (default 'vmean': SDC + VMC). */
  compensation: z.enum(THRESHOLD_COMPENSATIONS).optional(),
});

export type TopThetaConfig = z.infer<typeof topThetaSchema>;

/**
 * Top-θ attention (Berestizshevsky et al. 2025, "Top-Theta Attention: Sparsifying Transformers
 * by Compensated Thresholding"): instead of sorting each row, keep the
 * scaled scores s = q·kᵀ/√d that reach a calibrated threshold θ[head, row group], with softmax
 * denominator compensation (SDC) and V-mean compensation (VMC) for the pruned keys (see
 * ThresholdCompensation). θ is a non-trainable buffer [numHeads, numGroups], saved with the
 * model; `calibrate(x, targetK)` fits it so rows keep about targetK keys. Until calibrated θ
 * keeps every key (dense attention). The sparse path scores keys in chunks (thresholdAttention). (The
 * paper's equation numbers were not accessible to us, so none are cited.)
 */
export class TopThetaAttention extends ScoreSelectionAttention<TopThetaConfig> {
  protected readonly weightsKind = 'none';
  readonly thresholds: tf.Variable;

  constructor(config: TopThetaConfig, options: ModuleOptions = {}) {
    super(parseConfig('top-theta', topThetaSchema, config), options);
    const { numHeads, numGroups } = this.config;
    this.thresholds = this.addParameter(
      'thresholds',
      tf.fill([numHeads, numGroups], MASK_NEGATIVE),
      false,
    );
  }

  /** θ of each query row: [numHeads, tq], by the group of its absolute position. */
  thresholdsFor(positions: number[]): tf.Tensor2D {
    const { groupSize, numGroups } = this.config;
    const groups = positions.map((p) => Math.min(Math.floor(p / groupSize), numGroups - 1));
    return tf.tidy(
      () => tf.gather(this.thresholds, tf.tensor1d(groups, 'int32'), 1) as tf.Tensor2D,
    );
  }

  protected attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    call: SelectionCall,
  ): tf.Tensor4D {
    return thresholdAttention(q, keys, values, {
      thresholds: this.thresholdsFor(call.queryPositions),
      compensation: this.config.compensation ?? 'vmean',
      causal: call.causal,
      scale: call.scale,
      chunkSize: this.config.chunkSize,
    });
  }

  /**
   * Fits θ from calibration inputs x [b, t, dModel] (positions 0..t-1, no positional encoding,
   * causal unless the config says `causal: false`): a row's threshold is its targetK-th largest
   * scaled score; θ[head, group] is the mean over the batch and the group's rows.
   * Rows that see fewer than targetK keys keep them all and are left out; a group with no such
   * row keeps every key when it precedes the calibrated ones, else repeats the last calibrated θ.
   */
  calibrate(x: tf.Tensor3D, targetK: number): void {
    const block = 'top-theta.calibrate';
    checkInt(block, 'targetK', targetK, 1);
    if (x.rank === 3 && targetK > x.shape[1]) {
      throw new ConfigError(
        block,
        'targetK',
        `at most the ${x.shape[1]} keys of x`,
        String(targetK),
      );
    }
    const causal = this.config.causal ?? true;
    const rows = tf.tidy(() => {
      const { q, keys } = this.calibrationHeads(block, x);
      const t = x.shape[1];
      let logits: tf.Tensor = tf.mul(
        tf.matMul(q, repeatKvHeads(keys, q.shape[1]), false, true),
        1 / Math.sqrt(this.headDim),
      );
      if (causal) {
        const visible = tf.linalg.bandPart(tf.ones([t, t]), -1, 0);
        logits = tf.where(tf.cast(visible, 'bool'), logits, tf.scalar(MASK_NEGATIVE));
      }
      const kth = tf.topk(logits, targetK).values;
      return tf.squeeze(tf.slice(kth, [0, 0, 0, targetK - 1], [-1, -1, -1, 1]), [3]); // [b, h, t]
    });
    const [b, h, t] = rows.shape;
    const values = rows.dataSync();
    rows.dispose();
    const { groupSize, numGroups } = this.config;
    const theta = new Float32Array(h * numGroups);
    for (let head = 0; head < h; head++) {
      let last = MASK_NEGATIVE;
      for (let g = 0; g < numGroups; g++) {
        let sum = 0;
        let n = 0;
        const end = g === numGroups - 1 ? t : Math.min(t, (g + 1) * groupSize);
        for (let i = g * groupSize; i < end; i++) {
          if (causal && i + 1 < targetK) continue;
          for (let batch = 0; batch < b; batch++) {
            sum += values[(batch * h + head) * t + i]!;
            n++;
          }
        }
        if (n > 0) last = sum / n;
        theta[head * numGroups + g] = last;
      }
    }
    const next = tf.tensor2d(theta, [h, numGroups]);
    this.thresholds.assign(next);
    next.dispose();
  }
}

register(
  'top-theta',
  (c: TopThetaConfig, o: ModuleOptions) => new TopThetaAttention(c, o),
  topThetaSchema,
  {
    category: 'mixer',
    estimate: (c: TopThetaConfig) => estimateOf(projectedParameters(c) + c.numHeads * c.numGroups),
    info: {
      paper:
        'Berestizshevsky et al. 2025, Top-Theta Attention: Sparsifying Transformers by Compensated Thresholding',
      equation:
        'p_ij = exp(s_ij)/Σ_j exp(s_ij) for s_ij = q_i·k_j/√d ≥ θ[h, g(i)], else 0; o_i = Σ p_ij v_j + (1 - Σ p_ij)·mean(v)',
      summary:
        'Keeps the scores above calibrated per-head, per-row-group thresholds θ (no sort), with softmax-denominator and V-mean compensation.',
      example: {
        type: 'top-theta',
        dModel: 8,
        numHeads: 2,
        groupSize: 2,
        numGroups: 3,
        chunkSize: 2,
      },
    },
  },
);
