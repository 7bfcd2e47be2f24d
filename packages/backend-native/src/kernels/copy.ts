// Data movement on the addon's strided copy: Transpose, Slice (non-contiguous), SplitV, Tile
// and Concat. The cpu backend does these element by element through index arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocLike, copyable, sizeOf, stridesOf, values } from './util';

export function makeTranspose({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.Transpose);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as { perm: number[] };
    const backend = args.backend;
    const xv = values(backend, x);
    const rank = x.shape.length;
    if (
      !copyable(xv) ||
      x.dtype === 'complex64' ||
      rank === 0 ||
      rank > 12 ||
      perm.length !== rank
    ) {
      return fallback(args);
    }
    const xs = stridesOf(x.shape);
    const outShape = perm.map((p) => x.shape[p]!);
    if (outShape.some((d) => d === undefined)) return fallback(args);
    const out = allocLike(xv, xv.length);
    if (out.length > 0) {
      addon.copy(
        xv,
        out,
        Int32Array.from(outShape),
        Int32Array.from(perm.map((p) => xs[p]!)),
        Int32Array.from(stridesOf(outShape)),
        0,
        0,
      );
    }
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/** Copies the block at `begin` of `size` out of x (values xv). */
function sliceValues(
  addon: KernelContext['addon'],
  xv: Float32Array | Int32Array | Uint8Array,
  shape: number[],
  begin: number[],
  size: number[],
) {
  const xs = stridesOf(shape);
  let offset = 0;
  for (let i = 0; i < shape.length; i++) offset += begin[i]! * xs[i]!;
  const n = sizeOf(size);
  if (tf.slice_util.isSliceContinous(shape, begin, size)) {
    return xv.slice(offset, offset + n);
  }
  const out = allocLike(xv, n);
  if (n > 0) {
    addon.copy(
      xv,
      out,
      Int32Array.from(size),
      Int32Array.from(xs),
      Int32Array.from(stridesOf(size)),
      offset,
      0,
    );
  }
  return out;
}

export function makeSlice({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.Slice);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { begin, size } = args.attrs as { begin: number | number[]; size?: number | number[] };
    const backend = args.backend;
    const xv = values(backend, x);
    const rank = x.shape.length;
    if (!copyable(xv) || x.dtype === 'complex64' || rank === 0 || rank > 12) return fallback(args);
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    // Contiguous slices share memory in the cpu kernel; invalid ones throw its errors.
    if (tf.slice_util.isSliceContinous(x.shape, b, s)) return fallback(args);
    tf.slice_util.assertParamsValid(x as tf.Tensor, b, s);
    return backend.makeTensorInfo(s, x.dtype, sliceValues(addon, xv, x.shape, b, s));
  };
}

export function makeSplitV({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.SplitV);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as {
      numOrSizeSplits: number | number[];
      axis: number;
    };
    const backend = args.backend;
    const xv = values(backend, x);
    const rank = x.shape.length;
    if (!copyable(xv) || x.dtype === 'complex64' || rank === 0 || rank > 12) return fallback(args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(rank).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[ax] = s;
      const out = backend.makeTensorInfo(
        size,
        x.dtype,
        sliceValues(addon, xv, x.shape, begin, size),
      );
      begin[ax]! += s;
      return out;
    });
  };
}

export function makeTile({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.Tile);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { reps } = args.attrs as { reps: number[] };
    const backend = args.backend;
    const xv = values(backend, x);
    const rank = x.shape.length;
    if (
      !copyable(xv) ||
      x.dtype === 'complex64' ||
      rank === 0 ||
      rank > 6 ||
      reps.length !== rank
    ) {
      return fallback(args);
    }
    const outShape = x.shape.map((d, i) => d * reps[i]!);
    const out = allocLike(xv, sizeOf(outShape));
    if (out.length > 0) {
      // Output viewed as [reps0, d0, reps1, d1, ...]: the rep axes read x with stride 0.
      const xs = stridesOf(x.shape);
      const os = stridesOf(outShape);
      const shape: number[] = [];
      const src: number[] = [];
      const dst: number[] = [];
      for (let i = 0; i < rank; i++) {
        shape.push(reps[i]!, x.shape[i]!);
        src.push(0, xs[i]!);
        dst.push(x.shape[i]! * os[i]!, os[i]!);
      }
      addon.copy(xv, out, Int32Array.from(shape), Int32Array.from(src), Int32Array.from(dst), 0, 0);
    }
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

export function makeConcat({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.Concat);
  return (args: KernelArgs) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const { axis } = args.attrs as { axis: number };
    const backend = args.backend;
    if (inputs.length < 2) return fallback(args);
    const dtype = inputs[0]!.dtype;
    const vals = inputs.map((t) => values(backend, t));
    if (
      dtype === 'complex64' ||
      inputs.some((t, i) => t.dtype !== dtype || !copyable(vals[i]) || t.shape.length > 12)
    ) {
      return fallback(args);
    }
    let ax: number;
    let outShape: number[];
    try {
      ax = tf.util.parseAxisParam(axis, inputs[0]!.shape)[0]!;
      tf.backend_util.assertParamsConsistent(
        inputs.map((t) => t.shape),
        ax,
      );
      outShape = tf.backend_util.computeOutShape(
        inputs.map((t) => t.shape),
        ax,
      );
    } catch {
      return fallback(args);
    }
    const nonEmpty = inputs.filter((t) => sizeOf(t.shape) > 0);
    if (sizeOf(outShape) === 0 || nonEmpty.length < 2) return fallback(args);
    const out = allocLike(vals[0] as Float32Array, sizeOf(outShape));
    const os = stridesOf(outShape);
    const dst = Int32Array.from(os);
    let offset = 0;
    inputs.forEach((t, i) => {
      if (sizeOf(t.shape) > 0) {
        addon.copy(
          vals[i] as Float32Array,
          out,
          Int32Array.from(t.shape),
          Int32Array.from(stridesOf(t.shape)),
          dst,
          0,
          offset,
        );
      }
      offset += t.shape[ax]! * os[ax]!;
    });
    return backend.makeTensorInfo(outShape, dtype, out);
  };
}

/** GatherV2 along one axis (embedding lookups): whole slices copied with TypedArray.set. */
export function makeGatherV2({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.GatherV2);
  return (args: KernelArgs) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
    const backend = args.backend;
    const xv = values(backend, x);
    const iv = values(backend, indices);
    if (
      !copyable(xv) ||
      x.dtype === 'complex64' ||
      (batchDims ?? 0) !== 0 ||
      x.shape.length === 0
    ) {
      return fallback(args);
    }
    if (!(iv instanceof Int32Array || iv instanceof Float32Array)) return fallback(args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const dim = x.shape[ax]!;
    for (let i = 0; i < iv.length; i++) {
      const j = iv[i]!;
      // Out of range (or fractional): the cpu kernel throws its message.
      if (!(j >= 0 && j < dim && Number.isInteger(j))) return fallback(args);
    }
    const outer = sizeOf(x.shape.slice(0, ax));
    const slice = sizeOf(x.shape.slice(ax + 1));
    const n = iv.length;
    const out = allocLike(xv, outer * n * slice);
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    if (typeof addon.gatherSlices === 'function' && iv instanceof Int32Array) {
      if (out.length > 0) addon.gatherSlices(xv, iv, out, outer, dim, slice);
      return backend.makeTensorInfo(outShape, x.dtype, out);
    }
    // Float32 indices (or a binary without the entry): one view per gathered slice.
    for (let o = 0; o < outer; o++) {
      const base = o * dim * slice;
      for (let i = 0; i < n; i++) {
        const src = base + iv[i]! * slice;
        out.set(xv.subarray(src, src + slice), (o * n + i) * slice);
      }
    }
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/** PadV2: the constant fill, then x copied into the interior (one strided copy). */
export function makePad({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.PadV2);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { paddings, constantValue } = args.attrs as unknown as tf.PadV2Attrs;
    const backend = args.backend;
    const xv = values(backend, x);
    const rank = x.shape.length;
    if (
      !copyable(xv) ||
      rank === 0 ||
      rank > 12 ||
      paddings.length !== rank ||
      paddings.some(([before, after]) => !(before! >= 0 && after! >= 0))
    ) {
      return fallback(args);
    }
    const outShape = x.shape.map((d, i) => paddings[i]![0]! + d + paddings[i]![1]!);
    const os = stridesOf(outShape);
    const out = allocLike(xv, sizeOf(outShape));
    out.fill(constantValue);
    if (xv.length > 0) {
      let offset = 0;
      for (let i = 0; i < rank; i++) offset += paddings[i]![0]! * os[i]!;
      addon.copy(
        xv,
        out,
        Int32Array.from(x.shape),
        Int32Array.from(stridesOf(x.shape)),
        Int32Array.from(os),
        0,
        offset,
      );
    }
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/** Reverse: one strided copy reading the reversed axes backwards from their far end. */
export function makeReverse({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.Reverse);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dims } = args.attrs as unknown as tf.ReverseAttrs;
    const backend = args.backend;
    const xv = values(backend, x);
    const rank = x.shape.length;
    if (!copyable(xv) || rank === 0 || rank > 12) return fallback(args);
    const axes = tf.util.parseAxisParam(dims, x.shape);
    const xs = stridesOf(x.shape);
    const strides = xs.slice();
    let offset = 0;
    for (const axis of new Set(axes)) {
      offset += (x.shape[axis]! - 1) * xs[axis]!;
      strides[axis] = -xs[axis]!;
    }
    const out = allocLike(xv, xv.length);
    if (out.length > 0) {
      addon.copy(
        xv,
        out,
        Int32Array.from(x.shape),
        Int32Array.from(strides),
        Int32Array.from(xs),
        offset,
        0,
      );
    }
    return backend.makeTensorInfo(x.shape.slice(), x.dtype, out);
  };
}
