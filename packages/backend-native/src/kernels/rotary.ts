// Rotary position embedding as one kernel, forward and backward (csrc/rotary.cc).
// @attnkit/core's rotaryKernel runs it when the active backend registers it. Names, inputs and
// outputs are @attnkit/kernels' ROTARY contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  ROTARY,
  ROTARY_GRAD,
  type RotaryAttrs,
  type RotaryGradInputs,
  type RotaryGradOutputs,
  type RotaryInputs,
  type RotaryOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf } from './util';

function fail(kernel: string, what: string): never {
  throw new TypeError(`${kernel}: ${what}`);
}

/** Sizes after checking x (or dy), positions and the attributes. */
function geometry(
  kernel: string,
  xName: string,
  x: tf.TensorInfo | undefined,
  positions: tf.TensorInfo | undefined,
  attrs: tf.NamedAttrMap | undefined,
) {
  if (!x || x.shape.length !== 4) {
    fail(kernel, `${xName} must be [batch, heads, time, headDim], got [${x?.shape}]`);
  }
  if (x.dtype !== 'float32') fail(kernel, `${xName} must be float32, got ${x.dtype}`);
  const [b, h, t, d] = x.shape as [number, number, number, number];
  if (d < 1) fail(kernel, `${xName} must have headDim >= 1, got [${x.shape}]`);
  if (!positions) fail(kernel, `positions is missing (expected float32 [${t}])`);
  if (positions.dtype !== 'float32')
    fail(kernel, `positions must be float32, got ${positions.dtype}`);
  if (!tf.util.arraysEqual(positions.shape, [t])) {
    fail(kernel, `positions must be [${t}], got [${positions.shape}]`);
  }
  const { inverseFrequencies: freq, layout } = (attrs ?? {}) as Partial<RotaryAttrs>;
  if (!Array.isArray(freq) || !freq.every((f) => typeof f === 'number' && Number.isFinite(f))) {
    fail(kernel, 'inverseFrequencies must be an array of finite numbers');
  }
  if (2 * freq.length > d) {
    fail(
      kernel,
      `inverseFrequencies must hold at most headDim / 2 = ${d / 2} values, got ${freq.length}`,
    );
  }
  if (layout !== 'half' && layout !== 'interleaved') {
    fail(kernel, `layout must be 'half' or 'interleaved', got ${String(layout)}`);
  }
  if (sizeOf(x.shape) > 2 ** 31 - 1) fail(kernel, `${xName} has more than 2^31 - 1 elements`);
  return {
    size: sizeOf(x.shape),
    freq: Float32Array.from(freq),
    dims: Int32Array.from([b * h, t, d, freq.length, layout === 'interleaved' ? 1 : 0]),
  };
}

export function makeRotary({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { x, positions } = inputs as Partial<RotaryInputs<tf.TensorInfo>>;
    const g = geometry(ROTARY, 'x', x, positions, attrs);
    const y = allocF32(g.size);
    addon.rotaryApply(f32(backend, x!), f32(backend, positions!), g.freq, y, g.dims, 1);
    const out: RotaryOutputs<tf.TensorInfo> = [backend.makeTensorInfo(x!.shape, 'float32', y)];
    return out;
  };
}

export function makeRotaryGrad({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { dy, positions } = inputs as Partial<RotaryGradInputs<tf.TensorInfo>>;
    const g = geometry(ROTARY_GRAD, 'dy', dy, positions, attrs);
    const dx = allocF32(g.size);
    addon.rotaryApply(f32(backend, dy!), f32(backend, positions!), g.freq, dx, g.dims, -1);
    const out: RotaryGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(dy!.shape, 'float32', dx),
    ];
    return out;
  };
}

/** Gradient of the rotation: the rotation by the opposite angles (positions get none). */
export const rotaryGradConfig: tf.GradConfig = {
  kernelName: ROTARY,
  inputsToSave: ['positions'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [positions] = saved as [tf.Tensor];
    const inputs: RotaryGradInputs<tf.Tensor> = { dy: dy as tf.Tensor, positions };
    const [dx] = tf.engine().runKernel(ROTARY_GRAD, inputs, attrs) as RotaryGradOutputs<tf.Tensor>;
    return { x: () => dx, positions: () => tf.zerosLike(positions) };
  },
};
