// @attnkit/backend-native: importing it registers the tfjs backend 'native' (the cpu backend
// with C++ kernels for matmul, elementwise ops, reductions, softmax, data movement, fused
// attention, chunked linear attention, the linear scan, Mamba's selective scan and block-sparse
// attention). Throws NativeUnavailableError when no compiled binary loads for this platform.
import '@tensorflow/tfjs-backend-cpu';
import { loadAddon, type NativeAddon } from './addon';
import { registerNativeBackend } from './backend';
import { bufferPool, type BufferPoolStats } from './buffer-pool';

const addon: NativeAddon = loadAddon();
registerNativeBackend(addon);

export { BACKEND_NAME, BACKEND_PRIORITY, NativeBackend, nativeKernelNames } from './backend';
export { NativeUnavailableError } from './addon';
export type { BufferPoolStats } from './buffer-pool';
export { DECODER_ACTIVATIONS } from './decoder';
// The kernel names and the fused decoder's types are @attnkit/kernels' contract, re-exported.
export {
  ADAMW,
  BLOCK_SPARSE_ATTENTION,
  BLOCK_SPARSE_ATTENTION_GRAD,
  CHUNKED_LINEAR_ATTENTION,
  CHUNKED_LINEAR_ATTENTION_GRAD,
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  LINEAR_SCAN,
  LINEAR_SCAN_GRAD,
  SELECTIVE_SCAN,
  SELECTIVE_SCAN_GRAD,
  GATED_RECURRENCE,
  GATED_RECURRENCE_GRAD,
  type AdamWAttrs,
  type FusedAttentionAttrs,
  type FusedDecoder,
  type FusedDecoderAttention,
  type FusedDecoderBackend,
  type FusedDecoderDense,
  type FusedDecoderFeedForward,
  type FusedDecoderLayer,
  type FusedDecoderMoE,
  type FusedDecoderNorm,
  type FusedDecoderOptions,
  type FusedDecoderSpec,
} from '@attnkit/kernels';

/** What the addon runs on: the GEMM micro-kernel picked for this CPU and the thread count. */
export function nativeInfo(): { gemm: string; threads: number } {
  return addon.info();
}

/** Threads of the native kernels (default: the core count, or ATTNKIT_NATIVE_THREADS). */
export function getThreadsCount(): number {
  return addon.info().threads;
}

/**
 * The recycled output buffers: idle bytes held for reuse, the limit, and how many allocations
 * were reused or fresh. Also in `tf.memory().bufferPool` while native is the backend.
 */
export function getBufferPoolStats(): BufferPoolStats {
  return bufferPool.stats();
}

/**
 * Most bytes of idle output buffers kept for reuse (default 512 MiB, or ATTNKIT_NATIVE_POOL_MB
 * at start-up); 0 turns reuse off and frees the idle ones. Lowering it drops the oldest first.
 */
export function setBufferPoolLimit(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(
      `setBufferPoolLimit: expected an integer number of bytes >= 0, got ${bytes}`,
    );
  }
  bufferPool.setLimit(bytes);
}

/** Resizes the kernels' thread pool (1 runs everything on the calling thread). */
export function setThreadsCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new RangeError(`setThreadsCount: expected an integer in [1, 256], got ${n}`);
  }
  addon.setThreads(n);
}
