import * as tf from '@tensorflow/tfjs-core';
import type { AttentionOptions, AttentionResult } from './options';
import { validateAttention } from './validate';
import { attentionNaive } from './sdpa-naive';
import { attentionChunked } from './sdpa-chunked';
import { fusedAttention } from './sdpa-kernel';
import { withPrefix } from './sdpa-prefix';

/**
 * Scaled dot-product attention, q [batch, heads, tq, d], k and v [batch, kvHeads, tk, d]
 * (grouped-query when kvHeads divides heads). One signature, two forms: the naive one,
 * and the chunked online-softmax one when `chunkSize` is set. Returns [batch, heads, tq, dv].
 * A backend that registers the fused kernel (sdpa-kernel.ts) runs it instead whenever the
 * options need nothing it lacks; it never builds the [tq, tk] weights either. With
 * `returnLogSumExp` every form also returns each row's log-sum-exp (see AttentionResult), which
 * `mergeAttention` (merge.ts) uses to combine attention over disjoint key sets; a `prefix` of
 * keys/values that every query sees is attended that way (sdpa-prefix.ts). A `rowMask` keeps
 * only the (head, query) rows wanted: the fused kernel skips the others.
 */
export function scaledDotProductAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: AttentionOptions = {},
): AttentionResult {
  if (options.rowMask) {
    const geometry = validateAttention(q, k, v, options);
    const fused = fusedAttention(q, k, v, options, geometry);
    if (fused) return fused;
    // Composite: every row computed, the unwanted ones zeroed.
    const { rowMask, ...rest } = options;
    const result = scaledDotProductAttention(q, k, v, rest);
    const output = tf.tidy(() => tf.mul(result.output, tf.expandDims(rowMask, 3)) as tf.Tensor4D);
    result.output.dispose();
    return { ...result, output };
  }
  if (options.prefix) {
    return withPrefix(q, k, v, options, (keys, values, o) =>
      scaledDotProductAttention(q, keys, values, o),
    );
  }
  const geometry = validateAttention(q, k, v, options);
  const fused = fusedAttention(q, k, v, options, geometry);
  if (fused) return fused;
  return options.chunkSize === undefined
    ? attentionNaive(q, k, v, options, geometry)
    : attentionChunked(q, k, v, options, geometry);
}
