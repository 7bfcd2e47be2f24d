// The 'native' tfjs backend: the cpu backend's storage and every one of its kernels, with the
// hot ones replaced by C++ (csrc/). A kernel the addon does not take (another dtype, an
// unusual attribute) calls the cpu kernel, so results and errors stay the cpu backend's.
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
  ADAMW,
  BLOCK_SPARSE_ATTENTION,
  BLOCK_SPARSE_ATTENTION_GRAD,
  CHUNKED_LINEAR_ATTENTION,
  CHUNKED_LINEAR_ATTENTION_GRAD,
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  GATED_ACTIVATION,
  GATED_ACTIVATION_GRAD,
  DENSE,
  DENSE_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  LINEAR_SCAN,
  LINEAR_SCAN_GRAD,
  RMS_NORM,
  RMS_NORM_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  ROTARY,
  ROTARY_GRAD,
  SELECTIVE_SCAN,
  SELECTIVE_SCAN_GRAD,
  GATED_RECURRENCE,
  GATED_RECURRENCE_GRAD,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  SUM_OF_SQUARES,
  SPLIT_HEADS,
  MERGE_HEADS,
  type FusedDecoder,
  type FusedDecoderBackend,
  type FusedDecoderOptions,
  type FusedDecoderSpec,
} from '@attnkit/kernels';
import type { NativeAddon } from './addon';
import { bufferPool } from './buffer-pool';
import { NativeFusedDecoder } from './decoder';
import { makeAdamW, makeSumOfSquares } from './kernels/adamw';
import {
  makeMergeHeads,
  makeSplitHeads,
  mergeHeadsGradConfig,
  splitHeadsGradConfig,
} from './kernels/heads';
import {
  fusedAttentionGradConfig,
  makeFusedAttention,
  makeFusedAttentionGrad,
} from './kernels/attention';
import {
  makeConcat,
  makeGatherV2,
  makePad,
  makeReverse,
  makeSlice,
  makeSplitV,
  makeTile,
  makeTranspose,
} from './kernels/copy';
import {
  BINARY,
  UNARY,
  makeBinary,
  makeReduce,
  makeSoftmax,
  makeUnary,
} from './kernels/elementwise';
import {
  chunkedLinearAttentionGradConfig,
  makeChunkedLinearAttention,
  makeChunkedLinearAttentionGrad,
} from './kernels/linear-attention';
import {
  blockSparseAttentionGradConfig,
  makeBlockSparseAttention,
  makeBlockSparseAttentionGrad,
} from './kernels/block-sparse-attention';
import { linearScanGradConfig, makeLinearScan, makeLinearScanGrad } from './kernels/linear-scan';
import {
  makeSelectiveScan,
  makeSelectiveScanGrad,
  selectiveScanGradConfig,
} from './kernels/selective-scan';
import {
  gatedRecurrenceGradConfig,
  makeGatedRecurrence,
  makeGatedRecurrenceGrad,
} from './kernels/gated-recurrence';
import { makeDepthwiseConv } from './kernels/depthwise';
import { makeTopK } from './kernels/topk';
import { makeScatterNd } from './kernels/scatter';
import { makeBatchMatMul, makeFusedMatMul } from './kernels/matmul';
import { makeRotary, makeRotaryGrad, rotaryGradConfig } from './kernels/rotary';
import {
  gatedActivationGradConfig,
  makeGatedActivation,
  makeGatedActivationGrad,
} from './kernels/gated-activation';
import {
  crossEntropyGradConfig,
  makeCrossEntropy,
  makeCrossEntropyGrad,
} from './kernels/cross-entropy';
import {
  layerNormGradConfig,
  makeLayerNorm,
  makeLayerNormGrad,
  makeRmsNorm,
  makeRmsNormGrad,
  rmsNormGradConfig,
} from './kernels/norm';
import { denseGradConfig, makeDense, makeDenseGrad } from './kernels/dense';
import {
  addLayerNormGradConfig,
  addRmsNormGradConfig,
  makeAddLayerNorm,
  makeAddLayerNormGrad,
  makeAddRmsNorm,
  makeAddRmsNormGrad,
} from './kernels/add-norm';
import type { KernelContext, NativeKernel } from './kernels/util';

export const BACKEND_NAME = 'native';
/** Above cpu (1) and wasm (2), as tfjs-node (3): importing the package makes it the default. */
export const BACKEND_PRIORITY = 3;

export class NativeBackend extends MathBackendCPU implements FusedDecoderBackend {
  constructor(private readonly addon: NativeAddon) {
    super();
    // MathBackendCPU prints an 'install tfjs-node' banner on first use in Node; native is the
    // fast Node backend, so the advice does not apply.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  // The buffer pool's bookkeeping (buffer-pool.ts): every data entry is made by write or move
  // and removed by disposeData; readSync (and read, bufferSync and dataSync through it) hands
  // the stored array out.
  override write(
    values: tf.backend_util.BackendValues,
    shape: number[],
    dtype: tf.DataType,
  ): tf.DataId {
    const dataId = super.write(values, shape, dtype);
    bufferPool.hold(values);
    return dataId;
  }

  override move(
    dataId: tf.DataId,
    values: tf.backend_util.BackendValues,
    shape: number[],
    dtype: tf.DataType,
    refCount: number,
  ): void {
    super.move(dataId, values, shape, dtype, refCount);
    bufferPool.hold(values);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (released && values !== undefined && !this.data.has(dataId)) bufferPool.release(values);
    return released;
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    if (this.data.has(dataId)) bufferPool.escape(this.data.get(dataId).values);
    return super.readSync(dataId);
  }

  override memory() {
    return { ...super.memory(), bufferPool: bufferPool.stats() };
  }

  /**
   * A decoding session that runs each token through the whole model in one native call (the
   * fused decoder of architecture contract 7); @attnkit/models' generate() uses it.
   */
  createFusedDecoder(spec: FusedDecoderSpec, options?: FusedDecoderOptions): FusedDecoder {
    return new NativeFusedDecoder(this.addon, spec, options);
  }
}

/** The fused training kernels (norms, ...), each with its gradient kernel. */
const TRAINING_KERNELS = [
  RMS_NORM,
  RMS_NORM_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  ROTARY,
  ROTARY_GRAD,
  SPLIT_HEADS,
  MERGE_HEADS,
  GATED_ACTIVATION,
  GATED_ACTIVATION_GRAD,
  DENSE,
  DENSE_GRAD,
];

/** Names of the kernels the addon implements (the rest are the cpu backend's). */
export function nativeKernelNames(): string[] {
  return [
    tf.BatchMatMul,
    tf._FusedMatMul,
    ...Object.keys(BINARY),
    ...Object.keys(UNARY),
    tf.Softmax,
    tf.Sum,
    tf.Mean,
    tf.Max,
    tf.Min,
    tf.Transpose,
    tf.Slice,
    tf.SplitV,
    tf.Tile,
    tf.Concat,
    tf.GatherV2,
    tf.DepthwiseConv2dNative,
    tf.PadV2,
    tf.Reverse,
    tf.TopK,
    tf.ScatterNd,
    FUSED_ATTENTION,
    FUSED_ATTENTION_GRAD,
    ADAMW,
    SUM_OF_SQUARES,
    CHUNKED_LINEAR_ATTENTION,
    CHUNKED_LINEAR_ATTENTION_GRAD,
    LINEAR_SCAN,
    LINEAR_SCAN_GRAD,
    SELECTIVE_SCAN,
    SELECTIVE_SCAN_GRAD,
    GATED_RECURRENCE,
    GATED_RECURRENCE_GRAD,
    BLOCK_SPARSE_ATTENTION,
    BLOCK_SPARSE_ATTENTION_GRAD,
    ...TRAINING_KERNELS,
  ];
}

function nativeKernels(
  ctx: KernelContext,
  lookup: (name: string) => NativeKernel,
): Map<string, NativeKernel> {
  const kernels = new Map<string, NativeKernel>([
    [tf.BatchMatMul, makeBatchMatMul(ctx)],
    [tf._FusedMatMul, makeFusedMatMul(ctx, lookup)],
    [tf.Softmax, makeSoftmax(ctx)],
    [tf.Transpose, makeTranspose(ctx)],
    [tf.Slice, makeSlice(ctx)],
    [tf.SplitV, makeSplitV(ctx)],
    [tf.Tile, makeTile(ctx)],
    [tf.Concat, makeConcat(ctx)],
    [tf.GatherV2, makeGatherV2(ctx)],
    [tf.DepthwiseConv2dNative, makeDepthwiseConv(ctx)],
    [tf.PadV2, makePad(ctx)],
    [tf.Reverse, makeReverse(ctx)],
    [tf.TopK, makeTopK(ctx)],
    [tf.ScatterNd, makeScatterNd(ctx)],
    [FUSED_ATTENTION, makeFusedAttention(ctx)],
    [FUSED_ATTENTION_GRAD, makeFusedAttentionGrad(ctx)],
    [ADAMW, makeAdamW(ctx)],
    [SUM_OF_SQUARES, makeSumOfSquares(ctx)],
    [CHUNKED_LINEAR_ATTENTION, makeChunkedLinearAttention(ctx)],
    [CHUNKED_LINEAR_ATTENTION_GRAD, makeChunkedLinearAttentionGrad(ctx)],
    [LINEAR_SCAN, makeLinearScan(ctx)],
    [LINEAR_SCAN_GRAD, makeLinearScanGrad(ctx)],
    [SELECTIVE_SCAN, makeSelectiveScan(ctx)],
    [SELECTIVE_SCAN_GRAD, makeSelectiveScanGrad(ctx)],
    [GATED_RECURRENCE, makeGatedRecurrence(ctx)],
    [GATED_RECURRENCE_GRAD, makeGatedRecurrenceGrad(ctx)],
    [BLOCK_SPARSE_ATTENTION, makeBlockSparseAttention(ctx)],
    [BLOCK_SPARSE_ATTENTION_GRAD, makeBlockSparseAttentionGrad(ctx)],
    [RMS_NORM, makeRmsNorm(ctx)],
    [RMS_NORM_GRAD, makeRmsNormGrad(ctx)],
    [LAYER_NORM, makeLayerNorm(ctx)],
    [LAYER_NORM_GRAD, makeLayerNormGrad(ctx)],
    [ADD_RMS_NORM, makeAddRmsNorm(ctx)],
    [ADD_RMS_NORM_GRAD, makeAddRmsNormGrad(ctx)],
    [ADD_LAYER_NORM, makeAddLayerNorm(ctx)],
    [ADD_LAYER_NORM_GRAD, makeAddLayerNormGrad(ctx)],
    [SOFTMAX_CROSS_ENTROPY, makeCrossEntropy(ctx)],
    [SOFTMAX_CROSS_ENTROPY_GRAD, makeCrossEntropyGrad(ctx)],
    [ROTARY, makeRotary(ctx)],
    [ROTARY_GRAD, makeRotaryGrad(ctx)],
    [SPLIT_HEADS, makeSplitHeads(ctx)],
    [MERGE_HEADS, makeMergeHeads(ctx)],
    [GATED_ACTIVATION, makeGatedActivation(ctx)],
    [GATED_ACTIVATION_GRAD, makeGatedActivationGrad(ctx)],
    [DENSE, makeDense(ctx, lookup)],
    [DENSE_GRAD, makeDenseGrad(ctx, lookup)],
  ]);
  for (const name of Object.keys(BINARY)) kernels.set(name, makeBinary(name, ctx));
  for (const name of Object.keys(UNARY)) kernels.set(name, makeUnary(name, ctx));
  for (const name of [tf.Sum, tf.Mean, tf.Max, tf.Min]) kernels.set(name, makeReduce(name, ctx));
  return kernels;
}

/** The addon entry each newer kernel needs, by kernel name. */
const ENTRIES: Record<string, keyof NativeAddon> = {
  [SUM_OF_SQUARES]: 'sumOfSquares',
  [DENSE_GRAD]: 'denseBackward',
  [CHUNKED_LINEAR_ATTENTION]: 'linearAttentionForward',
  [CHUNKED_LINEAR_ATTENTION_GRAD]: 'linearAttentionBackward',
  [LINEAR_SCAN]: 'linearScanForward',
  [LINEAR_SCAN_GRAD]: 'linearScanBackward',
  [SELECTIVE_SCAN]: 'selectiveScanForward',
  [SELECTIVE_SCAN_GRAD]: 'selectiveScanBackward',
  [GATED_RECURRENCE]: 'gatedRecurrenceForward',
  [GATED_RECURRENCE_GRAD]: 'gatedRecurrenceBackward',
  [BLOCK_SPARSE_ATTENTION]: 'blockSparseForward',
  [BLOCK_SPARSE_ATTENTION_GRAD]: 'blockSparseBackward',
  [RMS_NORM]: 'rmsNormForward',
  [RMS_NORM_GRAD]: 'rmsNormBackward',
  [LAYER_NORM]: 'layerNormForward',
  [LAYER_NORM_GRAD]: 'layerNormBackward',
  [ADD_RMS_NORM]: 'addRmsNormForward',
  [ADD_RMS_NORM_GRAD]: 'addRmsNormBackward',
  [ADD_LAYER_NORM]: 'addLayerNormForward',
  [ADD_LAYER_NORM_GRAD]: 'addLayerNormBackward',
  [SOFTMAX_CROSS_ENTROPY]: 'crossEntropyForward',
  [SOFTMAX_CROSS_ENTROPY_GRAD]: 'crossEntropyBackward',
  [ROTARY]: 'rotaryApply',
  [SPLIT_HEADS]: 'rotaryApply',
  [MERGE_HEADS]: 'rotaryApply',
  [ROTARY_GRAD]: 'rotaryApply',
  [GATED_ACTIVATION]: 'gluForward',
  [GATED_ACTIVATION_GRAD]: 'gluBackward',
};

/**
 * Whether the loaded binary has the kernel's entry: a binary built before the kernel existed
 * (a stale local build) leaves it unregistered, so the ops take their composite instead of failing.
 */
export function inBinary(addon: NativeAddon, name: string): boolean {
  const entry = ENTRIES[name];
  return entry === undefined || typeof addon[entry] === 'function';
}

/**
 * Registers the 'native' backend and its kernels (every cpu kernel, the native ones on top)
 * and the fused attention gradient. Safe to call twice (an ESM and a CJS copy both loaded).
 */
export function registerNativeBackend(addon: NativeAddon): void {
  const cpuKernels = new Map(tf.getKernelsForBackend('cpu').map((k) => [k.kernelName, k]));
  const cpu = (name: string): NativeKernel => {
    const k = cpuKernels.get(name);
    if (!k) throw new Error(`@attnkit/backend-native: the cpu backend has no kernel ${name}`);
    return k.kernelFunc as unknown as NativeKernel;
  };
  const ctx: KernelContext = { addon, cpu };
  const registered = new Map<string, NativeKernel>();
  const lookup = (name: string): NativeKernel => registered.get(name) ?? cpu(name);
  for (const [name, fn] of nativeKernels(ctx, lookup)) registered.set(name, fn);

  if (!tf.findBackendFactory(BACKEND_NAME)) {
    tf.registerBackend(BACKEND_NAME, () => new NativeBackend(addon), BACKEND_PRIORITY);
  }
  for (const config of cpuKernels.values()) {
    if (tf.getKernel(config.kernelName, BACKEND_NAME)) continue;
    const own = registered.get(config.kernelName);
    tf.registerKernel({
      ...config,
      backendName: BACKEND_NAME,
      ...(own ? { kernelFunc: own as unknown as tf.KernelFunc } : {}),
    });
  }
  const own = [
    FUSED_ATTENTION,
    FUSED_ATTENTION_GRAD,
    ADAMW,
    SUM_OF_SQUARES,
    CHUNKED_LINEAR_ATTENTION,
    CHUNKED_LINEAR_ATTENTION_GRAD,
    LINEAR_SCAN,
    LINEAR_SCAN_GRAD,
    SELECTIVE_SCAN,
    SELECTIVE_SCAN_GRAD,
    GATED_RECURRENCE,
    GATED_RECURRENCE_GRAD,
    BLOCK_SPARSE_ATTENTION,
    BLOCK_SPARSE_ATTENTION_GRAD,
    ...TRAINING_KERNELS,
  ];
  for (const name of own) {
    if (!tf.getKernel(name, BACKEND_NAME) && inBinary(addon, name)) {
      tf.registerKernel({
        kernelName: name,
        backendName: BACKEND_NAME,
        kernelFunc: registered.get(name)! as unknown as tf.KernelFunc,
      });
    }
  }
  for (const config of [
    fusedAttentionGradConfig,
    chunkedLinearAttentionGradConfig,
    linearScanGradConfig,
    selectiveScanGradConfig,
    gatedRecurrenceGradConfig,
    blockSparseAttentionGradConfig,
    rmsNormGradConfig,
    layerNormGradConfig,
    addRmsNormGradConfig,
    addLayerNormGradConfig,
    crossEntropyGradConfig,
    rotaryGradConfig,
    splitHeadsGradConfig,
    mergeHeadsGradConfig,
    gatedActivationGradConfig,
    denseGradConfig,
  ]) {
    if (!tf.getGradient(config.kernelName)) tf.registerGradient(config);
  }
}
