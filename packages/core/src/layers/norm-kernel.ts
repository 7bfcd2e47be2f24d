// The fused norm kernels a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; names, inputs and outputs are @attnkit/kernels' RMS_NORM / LAYER_NORM.
import * as tf from '@tensorflow/tfjs-core';
import { hasKernelPair } from '../ops/has-kernel-pair';
import {
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
  type AddLayerNormInputs,
  type AddNormOutputs,
  type AddRMSNormInputs,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  RMS_NORM,
  RMS_NORM_GRAD,
  type LayerNormInputs,
  type NormAttrs,
  type NormOutputs,
  type RMSNormInputs,
} from '@attnkit/kernels';

/** Whether the kernel takes it: float32, a non-empty last axis, gains of its size, eps >= 0. */
function fits(x: tf.Tensor, eps: number, params: (tf.Tensor | undefined)[]): boolean {
  const dim = x.shape[x.shape.length - 1];
  if (x.dtype !== 'float32' || dim === undefined || dim < 1 || x.size === 0) return false;
  if (!(eps >= 0) || !Number.isFinite(eps)) return false;
  return params.every(
    (p) => p === undefined || (p.dtype === 'float32' && p.shape.length === 1 && p.shape[0] === dim),
  );
}

/**
 * rmsNorm(x, eps) · weight as the active backend's kernel (with its gradient kernel) when it has
 * one; undefined otherwise. A missing weight is ones.
 */
export function rmsNormKernel(
  x: tf.Tensor,
  eps: number,
  weight?: tf.Tensor,
): tf.Tensor | undefined {
  if (!hasKernelPair(RMS_NORM, RMS_NORM_GRAD) || !fits(x, eps, [weight])) return undefined;
  return tf.tidy(() => {
    const inputs: RMSNormInputs<tf.Tensor> = {
      x,
      weight: weight ?? tf.ones([x.shape[x.rank - 1]!]),
    };
    const attrs: NormAttrs = { eps };
    const [y] = tf.engine().runKernel(RMS_NORM, inputs, attrs) as NormOutputs<tf.Tensor>;
    return y;
  });
}

/** layerNorm(x, eps) · weight + bias as the backend's kernel, or undefined (ones, zeros if absent). */
export function layerNormKernel(
  x: tf.Tensor,
  eps: number,
  weight?: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor | undefined {
  if (!hasKernelPair(LAYER_NORM, LAYER_NORM_GRAD) || !fits(x, eps, [weight, bias]))
    return undefined;
  return tf.tidy(() => {
    const dim = x.shape[x.rank - 1]!;
    const inputs: LayerNormInputs<tf.Tensor> = {
      x,
      weight: weight ?? tf.ones([dim]),
      bias: bias ?? tf.zeros([dim]),
    };
    const attrs: NormAttrs = { eps };
    const [y] = tf.engine().runKernel(LAYER_NORM, inputs, attrs) as NormOutputs<tf.Tensor>;
    return y;
  });
}

/** Whether the add-norm kernels take x + residual: the norm's conditions, residual shaped as x. */
function residualFits(x: tf.Tensor, residual: tf.Tensor): boolean {
  return residual.dtype === 'float32' && tf.util.arraysEqual(x.shape, residual.shape);
}

/** [x + residual, rmsNorm(x + residual) · weight] as the backend's kernel, or undefined. */
export function addRmsNormKernel(
  x: tf.Tensor,
  residual: tf.Tensor,
  eps: number,
  weight?: tf.Tensor,
): [tf.Tensor, tf.Tensor] | undefined {
  if (!hasKernelPair(ADD_RMS_NORM, ADD_RMS_NORM_GRAD)) return undefined;
  if (!fits(x, eps, [weight]) || !residualFits(x, residual)) return undefined;
  return tf.tidy(() => {
    const inputs: AddRMSNormInputs<tf.Tensor> = {
      x,
      residual,
      weight: weight ?? tf.ones([x.shape[x.rank - 1]!]),
    };
    const attrs: NormAttrs = { eps };
    return tf.engine().runKernel(ADD_RMS_NORM, inputs, attrs) as AddNormOutputs<tf.Tensor>;
  });
}

/** [x + residual, layerNorm(x + residual) · weight + bias] as the backend's kernel, or undefined. */
export function addLayerNormKernel(
  x: tf.Tensor,
  residual: tf.Tensor,
  eps: number,
  weight?: tf.Tensor,
  bias?: tf.Tensor,
): [tf.Tensor, tf.Tensor] | undefined {
  if (!hasKernelPair(ADD_LAYER_NORM, ADD_LAYER_NORM_GRAD)) return undefined;
  if (!fits(x, eps, [weight, bias]) || !residualFits(x, residual)) return undefined;
  return tf.tidy(() => {
    const dim = x.shape[x.rank - 1]!;
    const inputs: AddLayerNormInputs<tf.Tensor> = {
      x,
      residual,
      weight: weight ?? tf.ones([dim]),
      bias: bias ?? tf.zeros([dim]),
    };
    const attrs: NormAttrs = { eps };
    return tf.engine().runKernel(ADD_LAYER_NORM, inputs, attrs) as AddNormOutputs<tf.Tensor>;
  });
}
