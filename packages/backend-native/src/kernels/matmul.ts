// BatchMatMul and _FusedMatMul on the addon's blocked SIMD GEMM. Checks and errors are the cpu
// kernel's (same messages); batch dimensions broadcast NumPy-style.
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf, stridesOf } from './util';

/** Per output batch, the flat offset of the A and B matrices it multiplies. */
function batchOffsets(
  outer: number[],
  aOuter: number[],
  bOuter: number[],
  aMat: number,
  bMat: number,
) {
  const batch = sizeOf(outer);
  const aOff = new Int32Array(batch);
  const bOff = new Int32Array(batch);
  const batchA = sizeOf(aOuter);
  const batchB = sizeOf(bOuter);
  if (batchA === batch && batchB === batch) {
    for (let i = 0; i < batch; i++) {
      aOff[i] = i * aMat;
      bOff[i] = i * bMat;
    }
    return { batch, aOff, bOff };
  }
  // General broadcast: walk the output's batch index and map it to each operand.
  const rank = outer.length;
  const aPad = [...Array(rank - aOuter.length).fill(1), ...aOuter];
  const bPad = [...Array(rank - bOuter.length).fill(1), ...bOuter];
  const aStr = stridesOf(aPad);
  const bStr = stridesOf(bPad);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < batch; i++) {
    let ai = 0;
    let bi = 0;
    for (let d = 0; d < rank; d++) {
      if (aPad[d] !== 1) ai += idx[d]! * aStr[d]!;
      if (bPad[d] !== 1) bi += idx[d]! * bStr[d]!;
    }
    aOff[i] = ai * aMat;
    bOff[i] = bi * bMat;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outer[d]!) break;
      idx[d] = 0;
    }
  }
  return { batch, aOff, bOff };
}

export function makeBatchMatMul({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.BatchMatMul);
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      a.shape.length < 2 ||
      b.shape.length < 2
    ) {
      return fallback(args);
    }
    const ar = a.shape.length;
    const br = b.shape.length;
    const inner = transposeA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
    const innerB = transposeB ? b.shape[br - 1]! : b.shape[br - 2]!;
    const m = transposeA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
    const n = transposeB ? b.shape[br - 2]! : b.shape[br - 1]!;
    const aOuter = a.shape.slice(0, -2);
    const bOuter = b.shape.slice(0, -2);
    let outer: number[];
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
    } catch {
      return fallback(args); // the cpu kernel throws its own message
    }
    if (inner !== innerB) return fallback(args);
    const backend = args.backend;
    const { batch, aOff, bOff } = batchOffsets(outer, aOuter, bOuter, m * inner, inner * n);
    const out = allocF32(batch * m * n);
    addon.matmul(
      f32(backend, a),
      f32(backend, b),
      out,
      batch,
      m,
      n,
      inner,
      !!transposeA,
      !!transposeB,
      aOff,
      bOff,
    );
    return backend.makeTensorInfo([...outer, m, n], 'float32', out);
  };
}

const ACTIVATIONS: Record<string, string> = {
  relu: tf.Relu,
  relu6: tf.Relu6,
  elu: tf.Elu,
  sigmoid: tf.Sigmoid,
  leakyrelu: tf.LeakyRelu,
  prelu: tf.Prelu,
};

/** matMul, then bias (broadcast add) and activation, each on the native backend's kernels. */
export function makeFusedMatMul(
  ctx: KernelContext,
  kernels: (name: string) => NativeKernel,
): NativeKernel {
  const fallback = ctx.cpu(tf._FusedMatMul);
  const matmul = makeBatchMatMul(ctx);
  return (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const attrs = args.attrs as {
      transposeA: boolean;
      transposeB: boolean;
      activation?: string;
      leakyreluAlpha?: number;
    };
    const activation = attrs.activation;
    if (
      a!.dtype !== 'float32' ||
      b!.dtype !== 'float32' ||
      (activation && activation !== 'linear' && !ACTIVATIONS[activation])
    ) {
      return fallback(args);
    }
    const backend: MathBackendCPU = args.backend;
    let current = matmul({
      inputs: { a: a!, b: b! },
      backend,
      attrs: { transposeA: attrs.transposeA, transposeB: attrs.transposeB },
    }) as tf.TensorInfo;
    if (bias) {
      const added = kernels(tf.Add)({ inputs: { a: current, b: bias }, backend }) as tf.TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = added;
    }
    if (activation && activation !== 'linear') {
      const name = ACTIVATIONS[activation]!;
      const inputs: tf.NamedTensorInfoMap =
        name === tf.Prelu ? { x: current, alpha: preluActivationWeights! } : { x: current };
      const activated = kernels(name)({
        inputs,
        backend,
        attrs: { alpha: attrs.leakyreluAlpha ?? 0.2 },
      }) as tf.TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = activated;
    }
    return current;
  };
}
