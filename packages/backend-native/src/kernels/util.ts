// Shared by the kernel wrappers: typed-array access to the cpu backend's storage, and the
// fallback to the cpu backend's own kernel for every case the addon does not take.
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from '../addon';
import { bufferPool, POOLED_MIN_ELEMENTS } from '../buffer-pool';

export type KernelArgs = {
  inputs: tf.NamedTensorInfoMap;
  backend: MathBackendCPU;
  attrs?: tf.NamedAttrMap;
};
export type KernelResult = tf.TensorInfo | tf.TensorInfo[];
export type NativeKernel = (args: KernelArgs) => KernelResult;

/** What each kernel module gets: the addon and the cpu kernel it overrides. */
export interface KernelContext {
  addon: NativeAddon;
  cpu: (name: string) => NativeKernel;
}

export function values(backend: MathBackendCPU, t: tf.TensorInfo): tf.backend_util.BackendValues {
  return backend.data.get(t.dataId).values as tf.backend_util.BackendValues;
}

/**
 * The values of a float32 tensor as a Float32Array. Some cpu kernels store float32 results in
 * another array type (a plain Array or an Int32Array); those are converted once, in place.
 */
export function f32(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  const data = backend.data.get(t.dataId);
  const v = data.values;
  if (v instanceof Float32Array) return v;
  const converted = Float32Array.from(v as ArrayLike<number>);
  data.values = converted;
  return converted;
}

export function sizeOf(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i]!;
  }
  return out;
}

/** Whether the values are a typed array the addon can copy (1- or 4-byte elements). */
export function copyable(v: unknown): v is Float32Array | Int32Array | Uint8Array {
  return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array;
}

/**
 * Output storage the kernel will overwrite entirely: uninitialised memory (offset 0), a
 * recycled buffer when one of this size is idle (buffer-pool.ts). Zero-filled typed arrays
 * cost page faults and a memset per op: for 128 KiB that is 15 µs against 3 µs, more than many
 * kernels themselves.
 */
export function allocF32(n: number): Float32Array {
  // Below a page or so a plain typed array is cheaper than a Buffer of its own.
  if (n < POOLED_MIN_ELEMENTS) return new Float32Array(n);
  return bufferPool.take(n);
}

/** Uninitialised storage of the same array type as `v` (every element gets written). */
export function allocLike(v: Float32Array | Int32Array | Uint8Array, n: number) {
  if (v instanceof Float32Array) return allocF32(n);
  if (n < 2048) return v instanceof Int32Array ? new Int32Array(n) : new Uint8Array(n);
  if (v instanceof Int32Array) return new Int32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
}

export function i32(list: number[]): Int32Array {
  return Int32Array.from(list);
}

/** Throws a contract kernel's one-line error (TypeError for shapes, RangeError for values). */
export type Fail = (what: string, kind?: 'shape' | 'value') => never;

/**
 * The checks of a contract kernel's inputs, each error naming the kernel: `fail`, and
 * `expectShape` (present, float32, exactly `shape`).
 */
export function contractChecks(kernel: string) {
  const fail: Fail = (what, kind = 'shape') => {
    const message = `${kernel}: ${what}`;
    throw kind === 'shape' ? new TypeError(message) : new RangeError(message);
  };
  function expectShape(name: string, t: tf.TensorInfo | undefined, shape: number[]): void {
    if (!t) return fail(`${name} is missing (expected float32 [${shape}])`);
    if (t.dtype !== 'float32') fail(`${name} must be float32, got ${t.dtype}`);
    if (!tf.util.arraysEqual(t.shape, shape)) fail(`${name} must be [${shape}], got [${t.shape}]`);
  }
  return { fail, expectShape };
}
