// Kernel names are a published contract: a backend built against one version registers these
// strings, so a rename, a duplicate or a reserved name reused by accident must fail here.
import {
  ADAMW,
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
  DENSE,
  DENSE_GRAD,
  BLOCK_SPARSE_ATTENTION,
  BLOCK_SPARSE_ATTENTION_GRAD,
  CHUNKED_LINEAR_ATTENTION,
  CHUNKED_LINEAR_ATTENTION_GRAD,
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  GATED_ACTIVATION,
  GATED_ACTIVATION_GRAD,
  GATED_RECURRENCE,
  GATED_RECURRENCE_GRAD,
  KERNEL_NAMES,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  LINEAR_SCAN,
  LINEAR_SCAN_GRAD,
  RESERVED_KERNEL_NAMES,
  RMS_NORM,
  RMS_NORM_GRAD,
  ROTARY,
  ROTARY_GRAD,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  SELECTIVE_SCAN,
  SELECTIVE_SCAN_GRAD,
  SUM_OF_SQUARES,
  SPLIT_HEADS,
  MERGE_HEADS,
} from '@attnkit/kernels';

describe('kernel names', () => {
  it('keep the names backends already register', () => {
    expect(FUSED_ATTENTION).toBe('AttnkitFusedAttention');
    expect(FUSED_ATTENTION_GRAD).toBe('AttnkitFusedAttentionGrad');
    expect(ADAMW).toBe('AttnkitAdamW');
    expect(CHUNKED_LINEAR_ATTENTION).toBe('AttnkitChunkedLinearAttention');
    expect(CHUNKED_LINEAR_ATTENTION_GRAD).toBe('AttnkitChunkedLinearAttentionGrad');
    expect(LINEAR_SCAN).toBe('AttnkitLinearScan');
    expect(LINEAR_SCAN_GRAD).toBe('AttnkitLinearScanGrad');
    expect(SELECTIVE_SCAN).toBe('AttnkitSelectiveScan');
    expect(SELECTIVE_SCAN_GRAD).toBe('AttnkitSelectiveScanGrad');
    expect(BLOCK_SPARSE_ATTENTION).toBe('AttnkitBlockSparseAttention');
    expect(BLOCK_SPARSE_ATTENTION_GRAD).toBe('AttnkitBlockSparseAttentionGrad');
    expect(RMS_NORM).toBe('AttnkitRMSNorm');
    expect(RMS_NORM_GRAD).toBe('AttnkitRMSNormGrad');
    expect(LAYER_NORM).toBe('AttnkitLayerNorm');
    expect(LAYER_NORM_GRAD).toBe('AttnkitLayerNormGrad');
    expect(SOFTMAX_CROSS_ENTROPY).toBe('AttnkitSoftmaxCrossEntropy');
    expect(SOFTMAX_CROSS_ENTROPY_GRAD).toBe('AttnkitSoftmaxCrossEntropyGrad');
    expect(ROTARY).toBe('AttnkitRotary');
    expect(ROTARY_GRAD).toBe('AttnkitRotaryGrad');
    expect(GATED_ACTIVATION).toBe('AttnkitGatedActivation');
    expect(GATED_ACTIVATION_GRAD).toBe('AttnkitGatedActivationGrad');
    expect(GATED_RECURRENCE).toBe('AttnkitGatedRecurrence');
    expect(GATED_RECURRENCE_GRAD).toBe('AttnkitGatedRecurrenceGrad');
    expect(DENSE).toBe('AttnkitDense');
    expect(DENSE_GRAD).toBe('AttnkitDenseGrad');
    expect(ADD_RMS_NORM).toBe('AttnkitAddRMSNorm');
    expect(ADD_RMS_NORM_GRAD).toBe('AttnkitAddRMSNormGrad');
    expect(ADD_LAYER_NORM).toBe('AttnkitAddLayerNorm');
    expect(ADD_LAYER_NORM_GRAD).toBe('AttnkitAddLayerNormGrad');
    expect(SUM_OF_SQUARES).toBe('AttnkitSumOfSquares');
    expect(SPLIT_HEADS).toBe('AttnkitSplitHeads');
    expect(MERGE_HEADS).toBe('AttnkitMergeHeads');
    expect(KERNEL_NAMES).toEqual([
      FUSED_ATTENTION,
      FUSED_ATTENTION_GRAD,
      ADAMW,
      CHUNKED_LINEAR_ATTENTION,
      CHUNKED_LINEAR_ATTENTION_GRAD,
      LINEAR_SCAN,
      LINEAR_SCAN_GRAD,
      SELECTIVE_SCAN,
      SELECTIVE_SCAN_GRAD,
      BLOCK_SPARSE_ATTENTION,
      BLOCK_SPARSE_ATTENTION_GRAD,
      RMS_NORM,
      RMS_NORM_GRAD,
      LAYER_NORM,
      LAYER_NORM_GRAD,
      SOFTMAX_CROSS_ENTROPY,
      SOFTMAX_CROSS_ENTROPY_GRAD,
      ROTARY,
      ROTARY_GRAD,
      GATED_ACTIVATION,
      GATED_ACTIVATION_GRAD,
      GATED_RECURRENCE,
      GATED_RECURRENCE_GRAD,
      DENSE,
      DENSE_GRAD,
      ADD_RMS_NORM,
      ADD_RMS_NORM_GRAD,
      ADD_LAYER_NORM,
      ADD_LAYER_NORM_GRAD,
      SUM_OF_SQUARES,
      SPLIT_HEADS,
      MERGE_HEADS,
    ]);
  });

  it('reserve no name while every kernel to come is built', () => {
    expect(RESERVED_KERNEL_NAMES).toEqual([]);
  });

  it('are distinct, prefixed, and never both implemented and reserved', () => {
    const all: string[] = [...KERNEL_NAMES, ...RESERVED_KERNEL_NAMES];
    expect(new Set(all).size).toBe(all.length);
    for (const name of all) expect(name).toMatch(/^Attnkit[A-Z][A-Za-z0-9]*$/);
  });
});
