// A pre-norm block's residual add fused into the next norm (csrc/norm.cc's residual forms):
// sum = x + residual and norm(sum) in one pass, and one backward that adds the gradient reaching
// sum from elsewhere. Names, inputs and outputs are @attnkit/kernels' ADD_RMS_NORM / ADD_LAYER_NORM.
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
  type AddLayerNormGradOutputs,
  type AddLayerNormInputs,
  type AddNormGradInputs,
  type AddNormOutputs,
  type AddRMSNormGradOutputs,
  type AddRMSNormInputs,
} from '@attnkit/kernels';
import { check, geometry } from './norm';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32 } from './util';

/** A second tensor on dx's storage (as a reshape makes): dx and dResidual are equal. */
function alias(backend: MathBackendCPU, t: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(t.dataId);
  return { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
}

export function makeAddRmsNorm({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, residual, weight } = inputs as Partial<AddRMSNormInputs<tf.TensorInfo>>;
    const g = geometry(ADD_RMS_NORM, x, { weight }, attrs);
    check(ADD_RMS_NORM, 'residual', residual, x!.shape);
    const [sum, y] = [allocF32(g.size), allocF32(g.size)];
    const [xv, rv, wv] = [f32(backend, x!), f32(backend, residual!), f32(backend, weight!)];
    addon.addRmsNormForward(xv, rv, wv, sum, y, g.dims, g.eps);
    const out: AddNormOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(x!.shape, 'float32', sum),
      backend.makeTensorInfo(x!.shape, 'float32', y),
    ];
    return out;
  };
}

/** The gradient inputs' storage after checking them against sum's shape. */
function gradArrays(kernel: string, args: KernelArgs, params: string[]) {
  const { sum, weight, dy, dSum } = args.inputs as Partial<AddNormGradInputs<tf.TensorInfo>>;
  const named = Object.fromEntries(params.map((p) => [p, args.inputs[p]]));
  const g = geometry(kernel, sum, named, args.attrs);
  check(kernel, 'dy', dy, sum!.shape);
  check(kernel, 'dSum', dSum, sum!.shape);
  const b = args.backend;
  return { g, sum: sum!, v: [f32(b, sum!), f32(b, weight!), f32(b, dy!), f32(b, dSum!)] as const };
}

/** The two gradient kernels: the same arrays in and out, LayerNorm's with the bias' gradient too. */
function makeAddNormGrad(
  { addon }: KernelContext,
  kernel: string,
  withBias: boolean,
): NativeKernel {
  return (args: KernelArgs) => {
    const { g, sum, v } = gradArrays(kernel, args, ['weight']);
    const [dx, dw] = [allocF32(g.size), allocF32(g.dim)];
    const db = withBias ? allocF32(g.dim) : undefined;
    if (db) addon.addLayerNormBackward(...v, dx, dw, db, g.dims, g.eps);
    else addon.addRmsNormBackward(...v, dx, dw, g.dims, g.eps);
    const b = args.backend;
    const dxInfo = b.makeTensorInfo(sum.shape, 'float32', dx);
    const out = [dxInfo, alias(b, dxInfo), b.makeTensorInfo([g.dim], 'float32', dw)];
    if (db) out.push(b.makeTensorInfo([g.dim], 'float32', db));
    return out as AddRMSNormGradOutputs<tf.TensorInfo> | AddLayerNormGradOutputs<tf.TensorInfo>;
  };
}

export const makeAddRmsNormGrad = (ctx: KernelContext) =>
  makeAddNormGrad(ctx, ADD_RMS_NORM_GRAD, false);

export function makeAddLayerNorm({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, residual, weight, bias } = inputs as Partial<AddLayerNormInputs<tf.TensorInfo>>;
    const g = geometry(ADD_LAYER_NORM, x, { weight, bias }, attrs);
    check(ADD_LAYER_NORM, 'residual', residual, x!.shape);
    const [sum, y] = [allocF32(g.size), allocF32(g.size)];
    const [xv, rv] = [f32(backend, x!), f32(backend, residual!)];
    addon.addLayerNormForward(
      xv,
      rv,
      f32(backend, weight!),
      f32(backend, bias!),
      sum,
      y,
      g.dims,
      g.eps,
    );
    const out: AddNormOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(x!.shape, 'float32', sum),
      backend.makeTensorInfo(x!.shape, 'float32', y),
    ];
    return out;
  };
}

export const makeAddLayerNormGrad = (ctx: KernelContext) =>
  makeAddNormGrad(ctx, ADD_LAYER_NORM_GRAD, true);

/** The gradients of both outputs into one kernel; x and residual get the same gradient. */
function addNormGradConfig(kernelName: string, gradName: string, withBias: boolean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['weight'],
    outputsToSave: [true, false],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [dSum, dy] = dys as tf.Tensor[];
      const [weight, sum] = saved as [tf.Tensor, tf.Tensor];
      const inputs: AddNormGradInputs<tf.Tensor> = { sum, weight, dy: dy!, dSum: dSum! };
      const out = tf.engine().runKernel(gradName, inputs, attrs) as tf.Tensor[];
      const [dx, dResidual, dWeight, dBias] = out;
      const grads: Record<string, () => tf.Tensor> = {
        x: () => dx!,
        residual: () => dResidual!,
        weight: () => dWeight!,
      };
      if (withBias) grads.bias = () => dBias!;
      return grads;
    },
  };
}

export const addRmsNormGradConfig = addNormGradConfig(ADD_RMS_NORM, ADD_RMS_NORM_GRAD, false);
export const addLayerNormGradConfig = addNormGradConfig(ADD_LAYER_NORM, ADD_LAYER_NORM_GRAD, true);
