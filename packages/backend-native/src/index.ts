// @attnkit/backend-native: importing it registers the tfjs backend 'native' (the cpu backend
// with C++ kernels for matmul, elementwise ops, reductions, softmax, data movement and fused
// attention). Throws NativeUnavailableError when no compiled binary loads for this platform.
import '@tensorflow/tfjs-backend-cpu';
import { loadAddon, type NativeAddon } from './addon';
import { registerNativeBackend } from './backend';

const addon: NativeAddon = loadAddon();
registerNativeBackend(addon);

export { BACKEND_NAME, BACKEND_PRIORITY, NativeBackend, nativeKernelNames } from './backend';
export { NativeUnavailableError } from './addon';
export { DECODER_ACTIVATIONS } from './decoder';
export type * from './decoder-spec';
export { ADAMW, type AdamWAttrs } from './kernels/adamw';
export {
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  type FusedAttentionAttrs,
} from './kernels/attention';

/** What the addon runs on: the GEMM micro-kernel picked for this CPU and the thread count. */
export function nativeInfo(): { gemm: string; threads: number } {
  return addon.info();
}

/** Threads of the native kernels (default: the core count, or ATTNKIT_NATIVE_THREADS). */
export function getThreadsCount(): number {
  return addon.info().threads;
}

/** Resizes the kernels' thread pool (1 runs everything on the calling thread). */
export function setThreadsCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new RangeError(`setThreadsCount: expected an integer in [1, 256], got ${n}`);
  }
  addon.setThreads(n);
}
