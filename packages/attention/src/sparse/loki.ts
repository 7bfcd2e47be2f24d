import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { ConfigError, estimateOf, parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { chunkedTopK, gatheredAttention } from '../ops/topk-select';
import { headLayout, projectedParameters } from '../softmax/projected';
import { reportWeights } from '../softmax/heads';
import { ScoreSelectionAttention, selectionFields, type SelectionCall } from './selection-base';
import { symmetricEigen } from './symmetric-eigen';

const positive = z.number().int().positive();

export const lokiSchema = z.strictObject({
  type: z.literal('loki'),
  ...selectionFields,
  /** Keys each query attends to (fewer when it sees fewer keys). */
  topK: positive,
  /** Width of the low-rank key space the selection scores in (<= headDim). */
  rank: positive,
});

export type LokiConfig = z.infer<typeof lokiSchema>;

/**
 * Loki (Singhania et al. 2024, "Loki: Low-rank Keys for Efficient Sparse Attention"): keys live near a low-dimensional subspace, so approximate scores
 * (q P)(k P)ᵀ in the top-`rank` principal directions P [headDim, rank] of the keys pick each
 * query's topK keys; exact softmax attention then runs over those alone (gathered). P is a
 * non-trainable buffer [numKvHeads, headDim, rank] per KV head, saved with the model:
 * `calibrate(x)` fits it by PCA of the keys; until then it is the first `rank` axes. (The
 * paper's equation numbers were not accessible to us, so none are cited.)
 */
export class LokiAttention extends ScoreSelectionAttention<LokiConfig> {
  protected readonly weightsKind = 'selected';
  readonly projection: tf.Variable;

  constructor(config: LokiConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('loki', lokiSchema, config);
    const { numKvHeads, headDim } = headLayout(parsed);
    if (parsed.rank > headDim) {
      throw new ConfigError('loki', '$.rank', `at most headDim=${headDim}`, String(parsed.rank));
    }
    super(parsed, options);
    const eye = tf.tidy(() => tf.slice(tf.eye(headDim), [0, 0], [-1, parsed.rank]));
    const init = tf.tidy(() => tf.tile(tf.expandDims(eye, 0), [numKvHeads, 1, 1]));
    eye.dispose();
    this.projection = this.addParameter('projection', init, false);
  }

  protected attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    call: SelectionCall,
  ): tf.Tensor4D {
    const [b, h] = q.shape;
    const kvHeads = keys.shape[1];
    const group = h / kvHeads;
    // Each query head scores in its KV head's basis.
    const perHead = tf.gather(
      this.projection,
      tf.tensor1d(
        Array.from({ length: h }, (_, i) => Math.floor(i / group)),
        'int32',
      ),
    );
    const lowQ = tf.matMul(
      q,
      tf.broadcastTo(tf.expandDims(perHead, 0), [b, h, this.headDim, this.config.rank]),
    );
    const lowK = tf.matMul(
      keys,
      tf.broadcastTo(tf.expandDims(this.projection, 0), [
        b,
        kvHeads,
        this.headDim,
        this.config.rank,
      ]),
    );
    const k = Math.min(this.config.topK, keys.shape[2]);
    const indices = chunkedTopK(lowQ as tf.Tensor4D, lowK as tf.Tensor4D, {
      k,
      causal: call.causal,
      chunkSize: this.config.chunkSize,
    });
    const { output, weights } = gatheredAttention(q, keys, values, indices, { scale: call.scale });
    if (call.context.attentionHook) reportWeights(this.config.type, call.context, weights, indices);
    return output;
  }

  /**
   * Fits P by PCA of the keys of x [b, t, dModel] (positions 0..t-1, no positional encoding):
   * per KV head, the top-`rank` eigenvectors of the keys' covariance. Centring loses nothing: a
   * query's ranking of the keys ignores q·mean(k), the same for every key.
   */
  calibrate(x: tf.Tensor3D): void {
    const block = 'loki.calibrate';
    const moments = tf.tidy(() => {
      const { keys } = this.calibrationHeads(block, x);
      const [b, kvh, t, d] = keys.shape;
      const flat = tf.reshape(tf.transpose(keys, [1, 0, 2, 3]), [kvh, b * t, d]);
      const centred = tf.sub(flat, tf.mean(flat, 1, true));
      return tf.matMul(centred, centred, true, false); // [kvh, d, d]
    });
    const [kvh, d] = moments.shape;
    const data = moments.dataSync();
    moments.dispose();
    const r = this.config.rank;
    const basis = new Float32Array(kvh * d * r);
    for (let head = 0; head < kvh; head++) {
      const { vectors } = symmetricEigen(
        Array.from(data.subarray(head * d * d, (head + 1) * d * d)),
        d!,
      );
      for (let i = 0; i < d!; i++)
        for (let j = 0; j < r; j++) basis[(head * d! + i) * r + j] = vectors[j]![i]!;
    }
    const next = tf.tensor3d(basis, [kvh, d!, r]);
    this.projection.assign(next);
    next.dispose();
  }
}

register('loki', (c: LokiConfig, o: ModuleOptions) => new LokiAttention(c, o), lokiSchema, {
  category: 'mixer',
  estimate: (c: LokiConfig) => {
    const { numKvHeads, headDim } = headLayout(c);
    return estimateOf(projectedParameters(c) + numKvHeads * headDim * c.rank);
  },
  info: {
    paper: 'Singhania et al. 2024, Loki: Low-rank Keys for Efficient Sparse Attention',
    equation:
      'I_i = topK_j (q_i P)·(k_j P), o_i = softmax(q_i K[I_i]ᵀ/√d) V[I_i], P the top-r principal axes of the keys',
    summary:
      "Scores keys in a calibrated low-rank PCA basis to pick each query's topK keys, then exact attention over those.",
    example: { type: 'loki', dModel: 8, numHeads: 2, topK: 3, rank: 2, chunkSize: 2 },
  },
});
