// One AdamW update of a parameter in one kernel (Loshchilov & Hutter 2019, Alg. 2) instead of
// ~16 elementwise kernels and their scalar tensors: for a tiny model the optimizer is a third
// of the kernels of a training step, and each costs microseconds of tfjs dispatch.
// Name, inputs, attrs and outputs are @attnkit/kernels' ADAMW contract; with it, the squared
// global norm that clipping reads first (SUM_OF_SQUARES).
import * as tf from '@tensorflow/tfjs-core';
import {
  ADAMW,
  SUM_OF_SQUARES,
  type AdamWAttrs,
  type AdamWInputs,
  type SumOfSquaresOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf } from './util';

export function makeAdamW({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const { param, m, v, grad } = args.inputs as Partial<AdamWInputs<tf.TensorInfo>>;
    const a = args.attrs as AdamWAttrs;
    for (const [name, t] of [
      ['param', param],
      ['m', m],
      ['v', v],
      ['grad', grad],
    ] as const) {
      if (!t || t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, param!.shape)) {
        throw new Error(
          `${ADAMW}: ${name} must be float32 of the parameter's shape [${param?.shape}], got ${t ? `${t.dtype} [${t.shape}]` : 'nothing'}`,
        );
      }
    }
    if (!(Number.isInteger(a.step) && a.step >= 1)) {
      throw new Error(`${ADAMW}: step must be an integer >= 1, got ${a.step}`);
    }
    if (a.gradScale !== undefined && !(Number.isFinite(a.gradScale) && a.gradScale >= 0)) {
      throw new Error(`${ADAMW}: gradScale must be a finite number >= 0, got ${a.gradScale}`);
    }
    const backend = args.backend;
    const n = tf.util.sizeFromShape(param!.shape);
    const out = [allocF32(n), allocF32(n), allocF32(n)] as const;
    // Scalars rounded to float32 as the composite's scalar tensors are.
    const hyper = Float32Array.from([
      a.lr,
      a.beta1,
      1 - a.beta1,
      a.beta2,
      1 - a.beta2,
      a.epsilon,
      a.weightDecay,
      1 - a.beta1 ** a.step,
      1 - a.beta2 ** a.step,
      a.gradScale ?? 1,
    ]);
    addon.adamw(
      f32(backend, param!),
      f32(backend, m!),
      f32(backend, v!),
      f32(backend, grad!),
      out[0],
      out[1],
      out[2],
      hyper,
    );
    return out.map((values) => backend.makeTensorInfo(param!.shape.slice(), 'float32', values));
  };
}

/** Σ x² over every input (AttnkitSumOfSquares): one addon call per tensor, summed in double. */
export function makeSumOfSquares({ addon }: KernelContext): NativeKernel {
  return ({ inputs, backend }: KernelArgs) => {
    let total = 0;
    for (const [key, t] of Object.entries(inputs)) {
      if (t?.dtype !== 'float32') {
        throw new Error(`${SUM_OF_SQUARES}: input ${key} must be float32, got ${t?.dtype}`);
      }
      if (sizeOf(t.shape) > 0) total += addon.sumOfSquares(f32(backend, t));
    }
    const out: SumOfSquaresOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo([], 'float32', Float32Array.of(total)),
    ];
    return out;
  };
}
