// Smoke test for the packed @attnkit/kernels, run once through import and once through require.
const path = require('node:path');

module.exports = async function smoke(kernels) {
  const fail = (what) => {
    throw new Error(`kernels smoke: ${what}`);
  };
  const want = [
    'AttnkitFusedAttention',
    'AttnkitFusedAttentionGrad',
    'AttnkitAdamW',
    'AttnkitChunkedLinearAttention',
    'AttnkitChunkedLinearAttentionGrad',
    'AttnkitLinearScan',
    'AttnkitLinearScanGrad',
    'AttnkitSelectiveScan',
    'AttnkitSelectiveScanGrad',
    'AttnkitBlockSparseAttention',
    'AttnkitBlockSparseAttentionGrad',
    'AttnkitRMSNorm',
    'AttnkitRMSNormGrad',
    'AttnkitLayerNorm',
    'AttnkitLayerNormGrad',
    'AttnkitSoftmaxCrossEntropy',
    'AttnkitSoftmaxCrossEntropyGrad',
    'AttnkitRotary',
    'AttnkitRotaryGrad',
    'AttnkitGatedActivation',
    'AttnkitGatedActivationGrad',
    'AttnkitGatedRecurrence',
    'AttnkitGatedRecurrenceGrad',
    'AttnkitDense',
    'AttnkitDenseGrad',
    'AttnkitAddRMSNorm',
    'AttnkitAddRMSNormGrad',
    'AttnkitAddLayerNorm',
    'AttnkitAddLayerNormGrad',
    'AttnkitSumOfSquares',
    'AttnkitSplitHeads',
    'AttnkitMergeHeads',
  ];
  if (JSON.stringify(kernels.KERNEL_NAMES) !== JSON.stringify(want))
    fail(`KERNEL_NAMES is ${JSON.stringify(kernels.KERNEL_NAMES)}`);
  if (kernels.FUSED_ATTENTION !== want[0] || kernels.ADAMW !== want[2]) fail('kernel names');
  if (kernels.BLOCK_SPARSE_ATTENTION !== want[9]) fail('block-sparse kernel name');
  if (kernels.RMS_NORM !== want[11] || kernels.LAYER_NORM !== want[13]) fail('norm kernel names');
  if (kernels.SOFTMAX_CROSS_ENTROPY !== want[15]) fail('cross-entropy kernel name');
  if (kernels.ROTARY !== want[17]) fail('rotary kernel name');
  if (kernels.GATED_ACTIVATION !== want[19]) fail('gated activation kernel name');
  if (kernels.GATED_RECURRENCE !== want[21]) fail('gated recurrence kernel name');
  if (kernels.DENSE !== want[23]) fail('dense kernel name');
  if (kernels.ADD_RMS_NORM !== want[25] || kernels.ADD_LAYER_NORM !== want[27])
    fail('add-norm kernel names');
  if (kernels.SUM_OF_SQUARES !== want[29]) fail('sum-of-squares kernel name');
  if (kernels.SPLIT_HEADS !== want[30] || kernels.MERGE_HEADS !== want[31])
    fail('heads kernel names');
  // Every reserved name is implemented now.
  if (kernels.RESERVED_KERNEL_NAMES.length !== 0) fail('reserved names');
  // Zero dependencies: backends install it without pulling in the library.
  const manifest = require(
    path.join(
      path.dirname(require.resolve('@attnkit/kernels/package.json', { paths: [process.cwd()] })),
      'package.json',
    ),
  );
  const deps = { ...manifest.dependencies, ...manifest.peerDependencies };
  if (Object.keys(deps).length > 0) fail(`has dependencies ${Object.keys(deps)}`);
};
