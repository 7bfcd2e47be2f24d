import * as tf from '@tensorflow/tfjs-core';
import { applyMask, combineMasks, normalizers, softcap, softmaxWithSink } from '@attnkit/core';
import type { AttentionOptions } from './options';
import { repeatKvHeads, structuralMask, validateScores, type ScoreGeometry } from './validate';
import { sinkPerRow } from './sink';

export interface AttentionScores {
  /** q kᵀ · scale, softcapped, plus the bias and any additive mask: [batch, heads, tq, tk]. */
  logits: tf.Tensor4D;
  /** Where a query may attend (causal, window, segments, boolean mask), or undefined: all. */
  keep?: tf.Tensor;
}

/**
 * The unnormalised attention map and its mask, kept apart so a mixer can transform the
 * map (convolve it, mix heads, subtract a selection) before masking and normalising.
 * Keys and values with fewer heads are shared by groups of query heads (GQA).
 */
export function scoresOf(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: AttentionOptions,
  geometry: ScoreGeometry,
): AttentionScores {
  return tf.tidy(() => {
    const keys = repeatKvHeads(k, geometry.heads);
    let logits: tf.Tensor = tf.mul(tf.matMul(q, keys, false, true), geometry.scale);
    if (options.logitSoftcap !== undefined) logits = softcap(logits, options.logitSoftcap);
    if (options.bias) logits = tf.add(logits, options.bias);
    if (options.mask && options.mask.dtype !== 'bool') logits = tf.add(logits, options.mask);
    const structural = structuralMask(
      options,
      geometry.queryPositions,
      geometry.keyPositions,
      options.querySegments,
      options.keySegments,
    );
    const booleanMask = options.mask?.dtype === 'bool' ? options.mask : undefined;
    const keep = combineMasks(structural, booleanMask);
    return keep ? { logits: logits as tf.Tensor4D, keep } : { logits: logits as tf.Tensor4D };
  });
}

/**
 * `scoresOf` for callers outside the op: validates q, k and the options first. Values are
 * not needed; options such as `dropout` or `chunkSize` that concern them are ignored.
 */
export function attentionScores(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: AttentionOptions = {},
  block?: string,
): AttentionScores & { geometry: ScoreGeometry } {
  const geometry = validateScores(q, k, options, block);
  return { ...scoresOf(q, k, options, geometry), geometry };
}

/** Sets masked logits to the finite MASK_NEGATIVE (a fully masked row stays finite). */
export function maskLogits(logits: tf.Tensor, keep: tf.Tensor | undefined): tf.Tensor {
  return keep ? applyMask(logits, keep) : logits;
}

/** Sets masked entries of a map to 0 (MTA's Mask_0). */
export function zeroMasked(map: tf.Tensor, keep: tf.Tensor | undefined): tf.Tensor {
  if (!keep) return map;
  return tf.tidy(() => tf.where(tf.broadcastTo(keep, map.shape), map, tf.zerosLike(map)));
}

/**
 * softmax over keys of the masked logits; with a sink logit (a number or one per head) it is
 * core's softmaxWithSink, so rows may sum to less than one.
 */
export function maskedSoftmax(
  logits: tf.Tensor,
  keep?: tf.Tensor,
  sinkLogit?: number | tf.Tensor,
): tf.Tensor4D {
  return tf.tidy(() => {
    const masked = maskLogits(logits, keep);
    if (sinkLogit === undefined) return tf.softmax(masked) as tf.Tensor4D;
    return softmaxWithSink(masked, sinkPerRow(sinkLogit, logits.shape[1]!)) as tf.Tensor4D;
  });
}

/**
 * The weights of the masked logits under `options.normalizer` (softmax, with its sink, by
 * default). Any other normaliser (sparsemax, entmax-1.5, a user's own) sees the logits with
 * masked keys at MASK_NEGATIVE, and masked keys get exactly 0 weight whatever it returns.
 */
export function normalizeScores(
  logits: tf.Tensor,
  keep: tf.Tensor | undefined,
  options: Pick<AttentionOptions, 'normalizer' | 'sinkLogit'>,
): tf.Tensor4D {
  const name = options.normalizer ?? 'softmax';
  if (name === 'softmax') return maskedSoftmax(logits, keep, options.sinkLogit);
  const normalize = normalizers.get(name, 'normalizer');
  return tf.tidy(() => zeroMasked(normalize(maskLogits(logits, keep), -1), keep) as tf.Tensor4D);
}

/** Inverted dropout on attention weights with a seed (identity when rate is 0). */
export function dropWeights(weights: tf.Tensor4D, rate: number, seed?: number): tf.Tensor4D {
  if (rate <= 0) return weights;
  return tf.tidy(() => {
    const keep = tf.cast(
      tf.greaterEqual(tf.randomUniform(weights.shape, 0, 1, 'float32', seed), rate),
      'float32',
    );
    return tf.mul(weights, tf.div(keep, 1 - rate)) as tf.Tensor4D;
  });
}
