// The fused gated-activation kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; names, inputs and outputs are @attnkit/kernels' GATED_ACTIVATION.
import * as tf from '@tensorflow/tfjs-core';
import { hasKernelPair } from '../ops/has-kernel-pair';
import {
  GATED_ACTIVATION,
  GATED_ACTIVATIONS,
  GATED_ACTIVATION_GRAD,
  type GatedActivationAttrs,
  type GatedActivationInputs,
  type GatedActivationName,
  type GatedActivationOutputs,
} from '@attnkit/kernels';
import { type Activation, getActivation } from './activations';

/**
 * The built-in activation functions the kernel computes, taken when this module loads (after
 * activations.ts registered them): a name re-registered later with { override: true } is
 * another function, so it stays composite.
 */
const BUILT_IN = new Map<Activation, GatedActivationName>(
  GATED_ACTIVATIONS.map((name) => [getActivation(name), name]),
);

/**
 * act(gate) ⊙ up as the active backend's kernel (with its gradient kernel) when it has one and
 * `act` is one of the built-in silu, gelu, gelu-tanh or relu; undefined otherwise.
 */
export function gatedActivationKernel(
  act: Activation,
  gate: tf.Tensor,
  up: tf.Tensor,
): tf.Tensor | undefined {
  const activation = BUILT_IN.get(act);
  if (
    activation === undefined ||
    !hasKernelPair(GATED_ACTIVATION, GATED_ACTIVATION_GRAD) ||
    gate.dtype !== 'float32' ||
    up.dtype !== 'float32' ||
    gate.size === 0 ||
    !tf.util.arraysEqual(gate.shape, up.shape)
  ) {
    return undefined;
  }
  const inputs: GatedActivationInputs<tf.Tensor> = { gate, up };
  const attrs: GatedActivationAttrs = { activation };
  const [y] = tf
    .engine()
    .runKernel(GATED_ACTIVATION, inputs, attrs) as GatedActivationOutputs<tf.Tensor>;
  return y;
}
