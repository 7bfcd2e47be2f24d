// The gate of a GLU feed-forward, act(gate) ⊙ up, as one kernel forward and backward
// (csrc/glu.cc). @attnkit/core's GLU runs it when the active backend registers it. Names,
// inputs and outputs are @attnkit/kernels' GATED_ACTIVATION contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  GATED_ACTIVATION,
  GATED_ACTIVATIONS,
  GATED_ACTIVATION_GRAD,
  type GatedActivationAttrs,
  type GatedActivationGradInputs,
  type GatedActivationGradOutputs,
  type GatedActivationInputs,
  type GatedActivationOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf } from './util';

/** Sizes and the activation's code (its index in GATED_ACTIVATIONS, as csrc/glu.h). */
function geometry(
  kernel: string,
  tensors: Record<string, tf.TensorInfo | undefined>,
  attrs?: tf.NamedAttrMap,
) {
  const fail = (what: string): never => {
    throw new TypeError(`${kernel}: ${what}`);
  };
  const shape = tensors.gate?.shape;
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) fail(`${name} is missing (expected float32 [${shape}])`);
    if (t!.dtype !== 'float32') fail(`${name} must be float32, got ${t!.dtype}`);
    if (!tf.util.arraysEqual(t!.shape, shape!))
      fail(`${name} must be [${shape}] as gate, got [${t!.shape}]`);
  }
  const activation = (attrs as Partial<GatedActivationAttrs> | undefined)?.activation;
  const code = GATED_ACTIVATIONS.indexOf(activation as (typeof GATED_ACTIVATIONS)[number]);
  if (code < 0)
    fail(`activation must be one of ${GATED_ACTIVATIONS.join(', ')}, got ${String(activation)}`);
  const size = sizeOf(shape!);
  if (size > 2 ** 31 - 1) fail(`gate has more than 2^31 - 1 elements: [${shape}]`);
  return { size, shape: shape!, code };
}

export function makeGatedActivation({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { gate, up } = inputs as Partial<GatedActivationInputs<tf.TensorInfo>>;
    const g = geometry(GATED_ACTIVATION, { gate, up }, attrs);
    const y = allocF32(g.size);
    addon.gluForward(f32(backend, gate!), f32(backend, up!), y, g.size, g.code);
    const out: GatedActivationOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(g.shape, 'float32', y),
    ];
    return out;
  };
}

export function makeGatedActivationGrad({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { gate, up, dy } = inputs as Partial<GatedActivationGradInputs<tf.TensorInfo>>;
    const g = geometry(GATED_ACTIVATION_GRAD, { gate, up, dy }, attrs);
    const dGate = allocF32(g.size);
    const dUp = allocF32(g.size);
    const [gv, uv, dv] = [f32(backend, gate!), f32(backend, up!), f32(backend, dy!)];
    addon.gluBackward(gv, uv, dv, dGate, dUp, g.size, g.code);
    const out: GatedActivationGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(g.shape, 'float32', dGate),
      backend.makeTensorInfo(g.shape, 'float32', dUp),
    ];
    return out;
  };
}

/** Gradient of act(gate) ⊙ up: one kernel for both inputs. */
export const gatedActivationGradConfig: tf.GradConfig = {
  kernelName: GATED_ACTIVATION,
  inputsToSave: ['gate', 'up'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [gate, up] = saved as [tf.Tensor, tf.Tensor];
    const inputs: GatedActivationGradInputs<tf.Tensor> = { gate, up, dy: dy as tf.Tensor };
    const [dGate, dUp] = tf
      .engine()
      .runKernel(GATED_ACTIVATION_GRAD, inputs, attrs) as GatedActivationGradOutputs<tf.Tensor>;
    return { gate: () => dGate, up: () => dUp };
  },
};
