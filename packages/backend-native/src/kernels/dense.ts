// A dense layer, y = x · W + b over the last axis, as one kernel forward and one backward
// (@attnkit/kernels' DENSE contract): the addon's GEMM on x seen as [rows, in], the bias by the
// native broadcasting add, its gradient by the native row sum.
import * as tf from '@tensorflow/tfjs-core';
import {
  DENSE,
  DENSE_GRAD,
  type DenseAttrs,
  type DenseGradInputs,
  type DenseGradOutputs,
  type DenseInputs,
  type DenseOutputs,
} from '@attnkit/kernels';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, contractChecks, f32, sizeOf, type Fail } from './util';

const NO_OFFSET = new Int32Array(1);
const CHECKS = { [DENSE]: contractChecks(DENSE), [DENSE_GRAD]: contractChecks(DENSE_GRAD) };

/** Checked sizes: rows (the product of x's leading axes), in, out; and the kernel's checks. */
function geometry(
  kernel: typeof DENSE | typeof DENSE_GRAD,
  inputs: Record<string, tf.TensorInfo | undefined>,
) {
  const checks = CHECKS[kernel];
  const fail: Fail = checks.fail;
  const { x, weight } = inputs;
  if (!weight || weight.dtype !== 'float32' || weight.shape.length !== 2)
    fail(
      `weight must be float32 [in, out], got ${weight ? `${weight.dtype} [${weight.shape}]` : 'nothing'}`,
    );
  const [inF, outF] = weight!.shape as [number, number];
  if (!x || x.dtype !== 'float32' || x.shape.length < 1 || x.shape.at(-1) !== inF)
    fail(
      `x must be float32 [...rows, ${inF}] (weight's in), got ${x ? `${x.dtype} [${x.shape}]` : 'nothing'}`,
    );
  const lead = x!.shape.slice(0, -1);
  const rows = sizeOf(lead);
  if (rows * Math.max(inF, outF) > 2 ** 31 - 1 || inF * outF > 2 ** 31 - 1)
    fail(`x [${x!.shape}] · weight [${weight!.shape}] has more than 2^31 - 1 elements`, 'value');
  return { rows, inF, outF, lead, checks };
}

/** C [m, n] = op(A) · op(B) with a K of 0 (or an empty C) giving zeros, not unwritten memory. */
function product(
  ctx: KernelContext,
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  transposeA: boolean,
  transposeB: boolean,
): Float32Array {
  if (m * n === 0 || k === 0) return new Float32Array(m * n);
  const out = allocF32(m * n);
  ctx.addon.matmul(a, b, out, 1, m, n, k, transposeA, transposeB, NO_OFFSET, NO_OFFSET);
  return out;
}

export function makeDense(
  ctx: KernelContext,
  kernels: (name: string) => NativeKernel,
): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, weight, bias } = inputs as Partial<DenseInputs<tf.TensorInfo>>;
    const g = geometry(DENSE, { x, weight });
    const withBias = (attrs as Partial<DenseAttrs> | undefined)?.withBias === true;
    if (withBias) g.checks.expectShape('bias', bias, [g.outF]);
    else if (bias) g.checks.fail('bias given but attrs.withBias is not true');
    const y = product(
      ctx,
      f32(backend, x!),
      f32(backend, weight!),
      g.rows,
      g.outF,
      g.inF,
      false,
      false,
    );
    let out = backend.makeTensorInfo([...g.lead, g.outF], 'float32', y);
    if (withBias) {
      const biased = kernels(tf.Add)({ inputs: { a: out, b: bias! }, backend }) as tf.TensorInfo;
      backend.disposeIntermediateTensorInfo(out);
      out = biased;
    }
    const result: DenseOutputs<tf.TensorInfo> = [out];
    return result;
  };
}

export function makeDenseGrad(
  ctx: KernelContext,
  kernels: (name: string) => NativeKernel,
): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, weight, dy } = inputs as Partial<DenseGradInputs<tf.TensorInfo>>;
    const g = geometry(DENSE_GRAD, { x, weight });
    g.checks.expectShape('dy', dy, [...g.lead, g.outF]);
    const [xv, wv, dyv] = [f32(backend, x!), f32(backend, weight!), f32(backend, dy!)];
    // dx = dy · Wᵀ, dW = xᵀ · dy (x and dy read as [rows, ·]); side by side when small.
    let dx: Float32Array, dw: Float32Array;
    if (g.inF > 0 && g.outF > 0) {
      [dx, dw] = [allocF32(g.rows * g.inF), allocF32(g.inF * g.outF)];
      ctx.addon.denseBackward(xv, wv, dyv, dx, dw, Int32Array.of(g.rows, g.inF, g.outF));
    } else {
      dx = product(ctx, dyv, wv, g.rows, g.inF, g.outF, false, true);
      dw = product(ctx, xv, dyv, g.inF, g.outF, g.rows, true, false);
    }
    const result = [
      backend.makeTensorInfo(x!.shape, 'float32', dx),
      backend.makeTensorInfo([g.inF, g.outF], 'float32', dw),
    ] as DenseGradOutputs<tf.TensorInfo>;
    if ((attrs as Partial<DenseAttrs> | undefined)?.withBias === true)
      result.push(rowSum(backend, kernels, dyv, g.rows, g.outF));
    return result;
  };
}

/** db = Σ_rows dy, through a [rows, out] view of dy's values (no copy). */
function rowSum(
  backend: MathBackendCPU,
  kernels: (name: string) => NativeKernel,
  dy: Float32Array,
  rows: number,
  outF: number,
): tf.TensorInfo {
  if (rows === 0) return backend.makeTensorInfo([outF], 'float32', new Float32Array(outF));
  const view = backend.makeTensorInfo([rows, outF], 'float32', dy);
  const sum = kernels(tf.Sum)({
    inputs: { x: view },
    backend,
    attrs: { axis: [0], keepDims: false },
  });
  backend.disposeIntermediateTensorInfo(view);
  return sum as tf.TensorInfo;
}

/** Gradient of the dense layer: one kernel for x, the weight and the bias. */
export const denseGradConfig: tf.GradConfig = {
  kernelName: DENSE,
  inputsToSave: ['x', 'weight'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, weight] = saved as [tf.Tensor, tf.Tensor];
    const inputs: DenseGradInputs<tf.Tensor> = { x, weight, dy: dy as tf.Tensor };
    const [dx, dw, db] = tf.engine().runKernel(DENSE_GRAD, inputs, attrs) as tf.Tensor[];
    const grads: Record<string, () => tf.Tensor> = { x: () => dx!, weight: () => dw! };
    if (db) grads.bias = () => db;
    return grads;
  },
};
