import * as tf from '@tensorflow/tfjs-core';
import { MASK_NEGATIVE, logSumExpWithSink } from '@attnkit/core';
import type { AttentionOptions, AttentionResult } from './options';
import { repeatKvHeads, type AttentionGeometry } from './validate';
import { dropWeights, maskLogits, normalizeScores, scoresOf } from './scores';
import { sinkPerRow } from './sink';

/**
 * softmax(q kᵀ · scale + bias, masked) v (Vaswani et al. 2017, eq. 1), building the full
 * [tq, tk] weight matrix. The reference form: exact, differentiable by tfjs, O(tq·tk) memory.
 */
export function attentionNaive(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: AttentionOptions,
  geometry: AttentionGeometry,
): AttentionResult {
  return tf.tidy((): AttentionResult & tf.TensorContainerObject => {
    const { logits, keep } = scoresOf(q, k, options, geometry);
    const weights = dropWeights(
      normalizeScores(logits, keep, options),
      options.dropout ?? 0,
      options.seed,
    );
    const output = tf.matMul(weights, repeatKvHeads(v, geometry.heads)) as tf.Tensor4D;
    const logSumExp = options.returnLogSumExp
      ? rowLogSumExp(maskLogits(logits, keep), options.sinkLogit)
      : undefined;
    return {
      output,
      ...(options.returnWeights ? { weights } : {}),
      ...(logSumExp ? { logSumExp } : {}),
    };
  });
}

/** log(Σ_j exp(masked_ij) + exp(sink)) per row, -Infinity where no key (and no sink) is visible. */
function rowLogSumExp(masked: tf.Tensor, sinkLogit?: number | tf.Tensor): tf.Tensor3D {
  const lse =
    sinkLogit === undefined
      ? tf.logSumExp(masked, -1)
      : logSumExpWithSink(masked, sinkPerRow(sinkLogit, masked.shape[1]!));
  return emptyRowsToMinusInfinity(lse as tf.Tensor3D);
}

/**
 * Masked logits are the finite MASK_NEGATIVE (so a fully masked row stays a uniform row, not
 * NaN); a row whose log-sum-exp is that low saw no key and gets -Infinity, which merging
 * partial results (merge.ts) reads as "contributes nothing". (Comparisons use greaterEqual,
 * isFinite and isInf: tfjs registers a (zero) gradient for those, not for greater or equal.)
 */
export function emptyRowsToMinusInfinity<T extends tf.Tensor>(lse: T): T {
  return tf.where(tf.greaterEqual(lse, MASK_NEGATIVE / 2), lse, tf.fill(lse.shape, -Infinity)) as T;
}
