// RMSNorm and LayerNorm with their gain (and bias) as one kernel each, forward and backward
// (csrc/norm.cc). @attnkit/core's rmsNorm / layerNorm run them when the active backend
// registers them. Names, inputs and outputs are @attnkit/kernels' RMS_NORM / LAYER_NORM contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  LAYER_NORM,
  LAYER_NORM_GRAD,
  RMS_NORM,
  RMS_NORM_GRAD,
  type LayerNormGradInputs,
  type LayerNormGradOutputs,
  type LayerNormInputs,
  type NormAttrs,
  type NormOutputs,
  type RMSNormGradInputs,
  type RMSNormGradOutputs,
  type RMSNormInputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf } from './util';

export function check(
  kernel: string,
  name: string,
  t: tf.TensorInfo | undefined,
  shape: number[],
): void {
  const fail = (what: string): never => {
    throw new TypeError(`${kernel}: ${what}`);
  };
  if (!t) fail(`${name} is missing (expected float32 [${shape}])`);
  if (t!.dtype !== 'float32') fail(`${name} must be float32, got ${t!.dtype}`);
  if (!tf.util.arraysEqual(t!.shape, shape)) fail(`${name} must be [${shape}], got [${t!.shape}]`);
}

/** [rows, dim] of x after checking the gain (and bias) and eps; dim >= 1. */
export function geometry(
  kernel: string,
  x: tf.TensorInfo | undefined,
  params: Record<string, tf.TensorInfo | undefined>,
  attrs: tf.NamedAttrMap | undefined,
) {
  const fail = (what: string): never => {
    throw new TypeError(`${kernel}: ${what}`);
  };
  if (!x || x.shape.length < 1) fail(`x must be [...rows, dim], got [${x?.shape}]`);
  const dim = x!.shape[x!.shape.length - 1]!;
  if (dim < 1) fail(`x must have a last axis of size >= 1, got [${x!.shape}]`);
  check(kernel, 'x', x, x!.shape);
  for (const [name, t] of Object.entries(params)) check(kernel, name, t, [dim]);
  const eps = (attrs as Partial<NormAttrs> | undefined)?.eps;
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    fail(`eps must be a finite number >= 0, got ${eps}`);
  }
  const rows = sizeOf(x!.shape) / dim;
  if (rows * dim > 2 ** 31 - 1) fail(`x has more than 2^31 - 1 elements: [${x!.shape}]`);
  return { dims: Int32Array.from([rows, dim]), size: rows * dim, dim, eps: eps! };
}

export function makeRmsNorm({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, weight } = inputs as Partial<RMSNormInputs<tf.TensorInfo>>;
    const g = geometry(RMS_NORM, x, { weight }, attrs);
    const y = allocF32(g.size);
    addon.rmsNormForward(f32(backend, x!), f32(backend, weight!), y, g.dims, g.eps);
    const out: NormOutputs<tf.TensorInfo> = [backend.makeTensorInfo(x!.shape, 'float32', y)];
    return out;
  };
}

export function makeRmsNormGrad({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, weight, dy } = inputs as Partial<RMSNormGradInputs<tf.TensorInfo>>;
    const g = geometry(RMS_NORM_GRAD, x, { weight }, attrs);
    check(RMS_NORM_GRAD, 'dy', dy, x!.shape);
    const dx = allocF32(g.size);
    const dw = allocF32(g.dim);
    const [xv, wv, dyv] = [f32(backend, x!), f32(backend, weight!), f32(backend, dy!)];
    addon.rmsNormBackward(xv, wv, dyv, dx, dw, g.dims, g.eps);
    const out: RMSNormGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(x!.shape, 'float32', dx),
      backend.makeTensorInfo([g.dim], 'float32', dw),
    ];
    return out;
  };
}

export function makeLayerNorm({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, weight, bias } = inputs as Partial<LayerNormInputs<tf.TensorInfo>>;
    const g = geometry(LAYER_NORM, x, { weight, bias }, attrs);
    const y = allocF32(g.size);
    const [xv, wv, bv] = [f32(backend, x!), f32(backend, weight!), f32(backend, bias!)];
    addon.layerNormForward(xv, wv, bv, y, g.dims, g.eps);
    const out: NormOutputs<tf.TensorInfo> = [backend.makeTensorInfo(x!.shape, 'float32', y)];
    return out;
  };
}

export function makeLayerNormGrad({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, weight, dy } = inputs as Partial<LayerNormGradInputs<tf.TensorInfo>>;
    const g = geometry(LAYER_NORM_GRAD, x, { weight }, attrs);
    check(LAYER_NORM_GRAD, 'dy', dy, x!.shape);
    const dx = allocF32(g.size);
    const dw = allocF32(g.dim);
    const db = allocF32(g.dim);
    const [xv, wv, dyv] = [f32(backend, x!), f32(backend, weight!), f32(backend, dy!)];
    addon.layerNormBackward(xv, wv, dyv, dx, dw, db, g.dims, g.eps);
    const out: LayerNormGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(x!.shape, 'float32', dx),
      backend.makeTensorInfo([g.dim], 'float32', dw),
      backend.makeTensorInfo([g.dim], 'float32', db),
    ];
    return out;
  };
}

/** Gradient of RMSNorm: the gradient kernel recomputes each row's scale from x. */
export const rmsNormGradConfig: tf.GradConfig = {
  kernelName: RMS_NORM,
  inputsToSave: ['x', 'weight'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, weight] = saved as [tf.Tensor, tf.Tensor];
    const inputs: RMSNormGradInputs<tf.Tensor> = { x, weight, dy: dy as tf.Tensor };
    const [dx, dw] = tf
      .engine()
      .runKernel(RMS_NORM_GRAD, inputs, attrs) as RMSNormGradOutputs<tf.Tensor>;
    return { x: () => dx, weight: () => dw };
  },
};

/** Gradient of LayerNorm: the gradient kernel recomputes each row's mean and scale from x. */
export const layerNormGradConfig: tf.GradConfig = {
  kernelName: LAYER_NORM,
  inputsToSave: ['x', 'weight'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, weight] = saved as [tf.Tensor, tf.Tensor];
    const inputs: LayerNormGradInputs<tf.Tensor> = { x, weight, dy: dy as tf.Tensor };
    const [dx, dw, db] = tf
      .engine()
      .runKernel(LAYER_NORM_GRAD, inputs, attrs) as LayerNormGradOutputs<tf.Tensor>;
    return { x: () => dx, weight: () => dw, bias: () => db };
  },
};
