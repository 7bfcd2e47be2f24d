// The gated recurrence kernel and its gradient (csrc/gated_recurrence.cc): gated linear
// attention (a decay per step or per key dimension) and the (gated) delta rule, one step at a
// time per head. @attnkit/attention's deltaRule and linearAttention (per-dimension gate) run it
// when the active backend registers it. Names, inputs, attrs and outputs are @attnkit/kernels'
// GATED_RECURRENCE contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  GATED_RECURRENCE,
  GATED_RECURRENCE_GRAD,
  type GatedRecurrenceAttrs,
  type GatedRecurrenceGradInputs,
  type GatedRecurrenceGradOutputs,
  type GatedRecurrenceInputs,
  type GatedRecurrenceOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, contractChecks, f32, type Fail } from './util';

const checks = contractChecks(GATED_RECURRENCE);
const fail: Fail = checks.fail;
const expectShape = checks.expectShape;

interface Geometry {
  dims: Int32Array;
  shapes: number[][];
}

/** Checks every input against q's shape and the attributes; the C++ checks sizes again. */
function geometry(
  inputs: Partial<GatedRecurrenceInputs<tf.TensorInfo>>,
  attrs: GatedRecurrenceAttrs,
): Geometry {
  const { q, v, logDecay } = inputs;
  if (!q || q.shape.length !== 4) fail(`q must be rank 4 [b,h,t,dk], got [${q?.shape}]`);
  if (!v || v.shape.length !== 4) fail(`v must be rank 4 [b,h,t,dv], got [${v?.shape}]`);
  const [b, h, t, dk] = q.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  const gates = logDecay?.shape.length === 4 ? logDecay.shape[3]! : -1;
  if (gates !== 1 && gates !== dk)
    fail(`logDecay must be [${[b, h, t, 1]}] or [${[b, h, t, dk]}], got [${logDecay?.shape}]`);
  const shapes = [
    [b, h, t, dk],
    [b, h, t, dk],
    [b, h, t, dv],
    [b, h, t],
    [b, h, t, gates],
    [b, h, dk, dv],
  ];
  const names = ['q', 'k', 'v', 'beta', 'logDecay', 's0'] as const;
  names.forEach((name, i) => expectShape(name, inputs[name], shapes[i]!));
  const { scale, delta } = attrs ?? ({} as GatedRecurrenceAttrs);
  if (!Number.isFinite(scale)) fail(`scale must be finite, got ${scale}`, 'value');
  if (typeof delta !== 'boolean') fail(`delta must be a boolean, got ${delta}`, 'value');
  return { dims: Int32Array.from([b * h, t, dk, dv, gates, delta ? 1 : 0]), shapes };
}

const INPUTS = ['q', 'k', 'v', 'beta', 'logDecay', 's0'] as const;
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function makeGatedRecurrence({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<GatedRecurrenceInputs<tf.TensorInfo>>;
    const attrs = args.attrs as GatedRecurrenceAttrs;
    const { dims, shapes } = geometry(inputs, attrs);
    const backend = args.backend;
    const out = allocF32(size(shapes[2]!));
    const state = allocF32(size(shapes[5]!));
    const read = INPUTS.map((name) => f32(backend, inputs[name]!));
    addon.gatedRecurrenceForward(
      read[0]!,
      read[1]!,
      read[2]!,
      read[3]!,
      read[4]!,
      read[5]!,
      out,
      state,
      dims,
      attrs.scale,
    );
    const outputs: GatedRecurrenceOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(shapes[2]!, 'float32', out),
      backend.makeTensorInfo(shapes[5]!, 'float32', state),
    ];
    return outputs;
  };
}

export function makeGatedRecurrenceGrad({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<GatedRecurrenceGradInputs<tf.TensorInfo>>;
    const attrs = args.attrs as GatedRecurrenceAttrs;
    const { dims, shapes } = geometry(inputs, attrs);
    expectShape('dOutput', inputs.dOutput, shapes[2]!);
    expectShape('dState', inputs.dState, shapes[5]!);
    const backend = args.backend;
    const grads = shapes.map((shape) => allocF32(size(shape)));
    const read = [...INPUTS, 'dOutput', 'dState'].map((name) =>
      f32(backend, inputs[name as keyof GatedRecurrenceGradInputs<tf.TensorInfo>]!),
    );
    addon.gatedRecurrenceBackward(
      read[0]!,
      read[1]!,
      read[2]!,
      read[3]!,
      read[4]!,
      read[5]!,
      read[6]!,
      read[7]!,
      grads[0]!,
      grads[1]!,
      grads[2]!,
      grads[3]!,
      grads[4]!,
      grads[5]!,
      dims,
      attrs.scale,
    );
    return grads.map((x, i) =>
      backend.makeTensorInfo(shapes[i]!, 'float32', x),
    ) as GatedRecurrenceGradOutputs<tf.TensorInfo>;
  };
}

/** Gradient of the forward kernel: one call of the gradient kernel gives every input's. */
export const gatedRecurrenceGradConfig: tf.GradConfig = {
  kernelName: GATED_RECURRENCE,
  inputsToSave: [...INPUTS],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [dOutput, dState] = dy as tf.Tensor[];
    const [q, k, v, beta, logDecay, s0] = saved as tf.Tensor[];
    const inputs: GatedRecurrenceGradInputs<tf.Tensor> = {
      q: q!,
      k: k!,
      v: v!,
      beta: beta!,
      logDecay: logDecay!,
      s0: s0!,
      dOutput: dOutput!,
      dState: dState!,
    };
    const grads = tf
      .engine()
      .runKernel(GATED_RECURRENCE_GRAD, inputs, attrs) as GatedRecurrenceGradOutputs<tf.Tensor>;
    return Object.fromEntries(INPUTS.map((name, i) => [name, () => grads[i]!]));
  },
};
