// The fused rotary kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; its name, inputs and outputs are @attnkit/kernels' ROTARY contract.
// Here in core (which depends on the contract) so that @attnkit/positional's rotary can call it.
import * as tf from '@tensorflow/tfjs-core';
import { hasKernelPair } from './has-kernel-pair';
import {
  ROTARY,
  ROTARY_GRAD,
  type RotaryAttrs,
  type RotaryInputs,
  type RotaryOutputs,
} from '@attnkit/kernels';

/**
 * Rotary position embedding of `x` `[batch, heads, time, headDim]` at float32 `positions`
 * `[time]` by the angles m·θ_i (Su et al., RoFormer, eq. 34) as the active backend's kernel
 * with its gradient kernel; undefined when the backend has none or the input does not fit
 * (the caller then runs its composite). Positions get no gradient.
 */
export function rotaryKernel(
  x: tf.Tensor4D,
  positions: tf.Tensor1D,
  inverseFrequencies: readonly number[],
  layout: 'half' | 'interleaved',
): tf.Tensor4D | undefined {
  if (
    !hasKernelPair(ROTARY, ROTARY_GRAD) ||
    x.rank !== 4 ||
    x.dtype !== 'float32' ||
    x.size === 0 ||
    positions.dtype !== 'float32' ||
    positions.shape[0] !== x.shape[2] ||
    2 * inverseFrequencies.length > x.shape[3]
  ) {
    return undefined;
  }
  const inputs: RotaryInputs<tf.Tensor> = { x, positions };
  const attrs: RotaryAttrs = { inverseFrequencies: inverseFrequencies as number[], layout };
  const [y] = tf.engine().runKernel(ROTARY, inputs, attrs) as RotaryOutputs<tf.Tensor>;
  return y as tf.Tensor4D;
}
