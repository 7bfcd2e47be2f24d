// The block-sparse attention kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; its name, inputs, attrs and outputs are @attnkit/kernels' contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  BLOCK_SPARSE_ATTENTION,
  BLOCK_SPARSE_ATTENTION_GRAD,
  type BlockSparseAttentionAttrs,
  type BlockSparseAttentionInputs,
  type BlockSparseAttentionOutputs,
} from '@attnkit/kernels';
import type { BlockGeometry } from './block-sparse-mask';
import type { BlockSparseResult } from './block-sparse';

const INT32_MAX = 2 ** 31 - 1;

/**
 * Runs blockSparseAttention as the active backend's kernel when it has it and its gradient
 * kernel; returns undefined otherwise (the caller then runs the composite). Inputs are
 * validated by the caller; the kernel's log-sum-exp carries a gradient, so returning it costs
 * nothing extra.
 */
export function blockSparseKernel(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  selected: tf.Tensor4D,
  geometry: BlockGeometry,
  attrs: { causal: boolean; scale: number; returnLogSumExp: boolean },
): BlockSparseResult | undefined {
  const backend = tf.getBackend();
  if (
    tf.getKernel(BLOCK_SPARSE_ATTENTION, backend) === undefined ||
    tf.getKernel(BLOCK_SPARSE_ATTENTION_GRAD, backend) === undefined ||
    geometry.queryOffset + geometry.queryLength > INT32_MAX
  ) {
    return undefined;
  }
  const kernelAttrs: BlockSparseAttentionAttrs = {
    blockSize: geometry.blockSize,
    causal: attrs.causal,
    scale: attrs.scale,
    queryOffset: geometry.queryOffset,
  };
  const inputs: BlockSparseAttentionInputs<tf.Tensor> = { q, k, v, selected };
  return tf.tidy(() => {
    const [output, logSumExp] = tf
      .engine()
      .runKernel(
        BLOCK_SPARSE_ATTENTION,
        inputs,
        kernelAttrs,
      ) as BlockSparseAttentionOutputs<tf.Tensor>;
    if (!attrs.returnLogSumExp) return { output: output as tf.Tensor4D };
    return { output: output as tf.Tensor4D, logSumExp: logSumExp as tf.Tensor3D };
  });
}
