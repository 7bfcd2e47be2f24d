import type * as tf from '@tensorflow/tfjs-core';
import type { KeyValuePrefix } from '@attnkit/core';

export type { KeyValuePrefix };

/** Options shared by every form of scaled dot-product attention. */
export interface AttentionOptions {
  /** Boolean (true = attend) or additive mask, broadcastable to [batch, heads, tq, tk]. */
  mask?: tf.Tensor;
  /** Key j is visible to query i only when keyPosition(j) <= queryPosition(i). */
  causal?: boolean;
  /** Sliding window: also queryPosition(i) - keyPosition(j) < window. Implies causal. */
  window?: number;
  /** With causal masking: keys at positions < sinkTokens stay visible past the window (StreamingLLM). */
  sinkTokens?: number;
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
  /** cap · tanh(logits / cap) before masking (Gemma 2). */
  logitSoftcap?: number;
  /** Extra logit in the softmax denominator: a number or a per-head tensor [heads]. */
  sinkLogit?: number | tf.Tensor;
  /** Additive logit bias broadcastable to [batch, heads, tq, tk] (ALiBi, T5, ...). */
  bias?: tf.Tensor;
  /** Segment ids [batch, tq] and [batch, tk]: attend only within a segment (Block-Attention). */
  querySegments?: tf.Tensor2D;
  keySegments?: tf.Tensor2D;
  /** Absolute positions of queries [tq] and keys [tk] (default: keys 0..tk-1, queries end-aligned). */
  queryPositions?: number[];
  keyPositions?: number[];
  /** Dropout on the attention weights (naive form only) with its seed. */
  dropout?: number;
  seed?: number;
  /** Use the chunked online-softmax form with this many keys (and queries) per chunk. */
  chunkSize?: number;
  /** Also return the weights [batch, heads, tq, tk] (naive form only). */
  returnWeights?: boolean;
  /** Normaliser over keys from core's `normalizers` (default 'softmax'); others: naive form only. */
  normalizer?: string;
  /**
   * Keys/values every query sees before the regular keys, unmasked and unpositioned (memory
   * tokens, persistent memory): [batch or 1, kvHeads, p, d]. Not with dropout.
   */
  prefix?: KeyValuePrefix;
  /** Also return `logSumExp` [batch, heads, tq] (every form), e.g. to merge partial results. */
  returnLogSumExp?: boolean;
  /**
   * [batch, heads, tq] float32 of 0 and 1: the (head, query) rows wanted. Rows at 0 output 0 and
   * pass no gradient (Mixture-of-Head attention's unselected heads). A fused kernel skips them
   * in the forward and the backward; the composite forms compute them and multiply by the mask.
   * Weights and log-sum-exp, when returned, are those of every row.
   */
  rowMask?: tf.Tensor3D;
}

export interface AttentionResult {
  /** [batch, heads, tq, dv] */
  output: tf.Tensor4D;
  weights?: tf.Tensor4D;
  /**
   * With `returnLogSumExp`: [batch, heads, tq], the natural log of each row's softmax
   * denominator, log(Σ_j exp(l_ij) + exp(sink)), over the visible keys j of the final logits l
   * (after scale, softcap, bias and masks), including the sink logit when one is set. A row
   * with no visible key (and no sink) has -Infinity: its output is unchanged (the forms fall
   * back to uniform weights), but `mergeAttention` gives it weight 0. Differentiable.
   */
  logSumExp?: tf.Tensor3D;
}
