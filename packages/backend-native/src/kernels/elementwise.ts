// Elementwise kernels on the addon: binary ops with broadcasting (the cpu backend walks
// broadcast indices one element at a time in JavaScript), unary maths, Softmax, and the
// reductions Sum / Mean / Max / Min over contiguous axes. Anything else goes to the cpu kernel.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf, values } from './util';

export const BINARY: Record<string, number> = {
  [tf.Add]: 0,
  [tf.Sub]: 1,
  [tf.Multiply]: 2,
  [tf.RealDiv]: 3,
  [tf.Maximum]: 4,
  [tf.Minimum]: 5,
  [tf.SquaredDifference]: 6,
};

export const UNARY: Record<string, number> = {
  [tf.Exp]: 0,
  [tf.Log]: 1,
  [tf.Neg]: 2,
  [tf.Sqrt]: 3,
  [tf.Rsqrt]: 4,
  [tf.Square]: 5,
  [tf.Sigmoid]: 6,
  [tf.Tanh]: 7,
  [tf.Relu]: 8,
  [tf.Abs]: 9,
  [tf.Reciprocal]: 10,
  [tf.Softplus]: 11,
};

/** Strides of `shape` read through the broadcast `outShape` (0 along broadcast dims). */
function broadcastStrides(shape: number[], outShape: number[]): Int32Array {
  const rank = outShape.length;
  const out = new Int32Array(rank);
  let s = 1;
  for (let i = shape.length - 1, o = rank - 1; o >= 0; i--, o--) {
    const d = i >= 0 ? shape[i]! : 1;
    out[o] = d === 1 ? 0 : s;
    s *= d;
  }
  return out;
}

const ONE = Int32Array.of(1);
const ZERO = Int32Array.of(0);

// Index arithmetic (the sparse mixers' gathers) broadcasts int32 tensors, which the cpu kernel
// does element by element through index conversions.
const INT32_OPS = new Set<string>([tf.Add, tf.Sub, tf.Maximum, tf.Minimum]);

export function makeBinary(name: string, { addon, cpu }: KernelContext): NativeKernel {
  const op = BINARY[name]!;
  const fallback = cpu(name);
  const int32 = (args: KernelArgs, a: tf.TensorInfo, b: tf.TensorInfo) => {
    const av = values(args.backend, a);
    const bv = values(args.backend, b);
    if (
      !INT32_OPS.has(name) ||
      typeof addon.binaryI32 !== 'function' ||
      !(av instanceof Int32Array) ||
      !(bv instanceof Int32Array)
    ) {
      return undefined;
    }
    let outShape: number[];
    try {
      outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    } catch {
      return undefined; // the cpu kernel throws its own error
    }
    if (outShape.length > 8) return undefined;
    const rankShape = outShape.length ? outShape : [1];
    const out = new Int32Array(sizeOf(rankShape));
    addon.binaryI32(
      op,
      av,
      bv,
      out,
      Int32Array.from(rankShape),
      broadcastStrides(a.shape, rankShape),
      broadcastStrides(b.shape, rankShape),
    );
    return args.backend.makeTensorInfo(outShape, 'int32', out);
  };
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype === 'int32' && b.dtype === 'int32') return int32(args, a, b) ?? fallback(args);
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const backend = args.backend;
    // Fast paths without broadcast bookkeeping: equal shapes, or one side a single value.
    const av = f32(backend, a);
    const bv = f32(backend, b);
    const sameShape = tf.util.arraysEqual(a.shape, b.shape);
    if (sameShape || (bv.length === 1 && b.shape.length <= a.shape.length)) {
      const out = allocF32(av.length);
      addon.binary(op, av, bv, out, Int32Array.of(av.length), ONE, sameShape ? ONE : ZERO);
      return backend.makeTensorInfo(a.shape.slice(), 'float32', out);
    }
    if (av.length === 1 && a.shape.length <= b.shape.length) {
      const out = allocF32(bv.length);
      addon.binary(op, av, bv, out, Int32Array.of(bv.length), ZERO, ONE);
      return backend.makeTensorInfo(b.shape.slice(), 'float32', out);
    }
    let outShape: number[];
    try {
      outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    } catch {
      return fallback(args); // same error as the cpu kernel
    }
    if (outShape.length > 8) return fallback(args);
    const out = allocF32(sizeOf(outShape));
    const shape = outShape.length ? Int32Array.from(outShape) : new Int32Array([1]);
    const rankShape = outShape.length ? outShape : [1];
    addon.binary(
      op,
      av,
      bv,
      out,
      shape,
      broadcastStrides(a.shape, rankShape),
      broadcastStrides(b.shape, rankShape),
    );
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

export function makeUnary(name: string, { addon, cpu }: KernelContext): NativeKernel {
  const op = UNARY[name]!;
  const fallback = cpu(name);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return fallback(args);
    const backend = args.backend;
    const xv = f32(backend, x);
    const out = allocF32(xv.length);
    addon.unary(op, xv, out);
    return backend.makeTensorInfo(x.shape.slice(), 'float32', out);
  };
}

export function makeSoftmax({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.Softmax);
  return (args: KernelArgs) => {
    const { logits } = args.inputs as { logits: tf.TensorInfo };
    const { dim } = args.attrs as { dim: number };
    const rank = logits.shape.length;
    if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1)) {
      return fallback(args);
    }
    const backend = args.backend;
    const cols = logits.shape[rank - 1]!;
    const xv = f32(backend, logits);
    const out = allocF32(xv.length);
    if (cols > 0) addon.softmax(xv, out, xv.length / cols, cols);
    return backend.makeTensorInfo(logits.shape.slice(), 'float32', out);
  };
}

const REDUCE: Record<string, { op: number; axisAttr: string }> = {
  [tf.Sum]: { op: 0, axisAttr: 'axis' },
  [tf.Mean]: { op: 1, axisAttr: 'axis' },
  [tf.Max]: { op: 2, axisAttr: 'reductionIndices' },
  [tf.Min]: { op: 3, axisAttr: 'axis' },
};

export function makeReduce(name: string, { addon, cpu }: KernelContext): NativeKernel {
  const { op, axisAttr } = REDUCE[name]!;
  const fallback = cpu(name);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const attrs = args.attrs as Record<string, unknown>;
    if (x.dtype !== 'float32' || x.shape.length === 0) return fallback(args);
    let axes: number[];
    try {
      axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
    } catch {
      return fallback(args);
    }
    axes = [...new Set(axes)].sort((p, q) => p - q);
    const size = sizeOf(x.shape);
    // Contiguous axes only: [outer, reduced, inner] with no transpose.
    if (axes.length === 0 || size === 0 || axes[axes.length - 1]! - axes[0]! !== axes.length - 1) {
      return fallback(args);
    }
    const first = axes[0]!;
    const last = axes[axes.length - 1]!;
    const outer = sizeOf(x.shape.slice(0, first));
    const r = sizeOf(x.shape.slice(first, last + 1));
    const inner = sizeOf(x.shape.slice(last + 1));
    const backend = args.backend;
    const out = allocF32(outer * inner);
    addon.reduce(op, f32(backend, x), out, outer, r, inner);
    const outShape = attrs.keepDims
      ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
      : x.shape.filter((_, i) => i < first || i > last);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}
