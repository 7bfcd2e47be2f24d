// Mamba's selective scan and its gradient (csrc/selective_scan.cc): each channel's [N] state
// stepped through time in one pass, so the [batch, time, E, N] decays, inputs and states the
// composite builds never exist (the backward keeps one channel's T·N states at a time).
// @attnkit/attention's selectiveScan runs it when the active backend registers it. Names,
// inputs and outputs are @attnkit/kernels' SELECTIVE_SCAN contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  SELECTIVE_SCAN,
  SELECTIVE_SCAN_GRAD,
  type SelectiveScanGradInputs,
  type SelectiveScanGradOutputs,
  type SelectiveScanInputs,
  type SelectiveScanOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, contractChecks, f32, type Fail } from './util';

const checks = contractChecks(SELECTIVE_SCAN);
const fail: Fail = checks.fail;
const expectShape = checks.expectShape;

const INPUTS = ['u', 'delta', 'a', 'b', 'c', 'd', 'h0'] as const;

/** [batch, time, E, N] from u and a, after checking every input against them. */
function geometry(inputs: Partial<SelectiveScanInputs<tf.TensorInfo>>) {
  const { u, a } = inputs;
  if (!u || u.shape.length !== 3) fail(`u must be [batch, time, E], got [${u?.shape}]`);
  if (!a || a.shape.length !== 2) fail(`a must be [E, N], got [${a?.shape}]`);
  const [batch, time, e] = u.shape as [number, number, number];
  const n = a.shape[1]!;
  const shapes: Record<(typeof INPUTS)[number], number[]> = {
    u: [batch, time, e],
    delta: [batch, time, e],
    a: [e, n],
    b: [batch, time, n],
    c: [batch, time, n],
    d: [e],
    h0: [batch, e, n],
  };
  for (const name of INPUTS) expectShape(name, inputs[name], shapes[name]);
  if (Math.max(batch * time * Math.max(e, n), batch * e * n) > 2 ** 31 - 1) {
    fail(`more than 2^31 - 1 elements in an input: u [${u.shape}], a [${a.shape}]`);
  }
  return { batch, time, e, n, shapes, dims: Int32Array.from([batch, time, e, n]) };
}

export function makeSelectiveScan({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<SelectiveScanInputs<tf.TensorInfo>>;
    const g = geometry(inputs);
    const backend = args.backend;
    const y = allocF32(g.batch * g.time * g.e);
    const last = allocF32(g.batch * g.e * g.n);
    const read = INPUTS.map((name) => f32(backend, inputs[name]!));
    addon.selectiveScanForward(...(read as Seven), y, last, g.dims);
    const outputs: SelectiveScanOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(g.shapes.u, 'float32', y),
      backend.makeTensorInfo(g.shapes.h0, 'float32', last),
    ];
    return outputs;
  };
}

type Seven = [
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
];

export function makeSelectiveScanGrad({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<SelectiveScanGradInputs<tf.TensorInfo>>;
    const g = geometry(inputs);
    expectShape('dy', inputs.dy, g.shapes.u);
    expectShape('dLast', inputs.dLast, g.shapes.h0);
    const backend = args.backend;
    const read = INPUTS.map((name) => f32(backend, inputs[name]!)) as Seven;
    const grads = INPUTS.map((name) => allocF32(tf.util.sizeFromShape(g.shapes[name]))) as Seven;
    addon.selectiveScanBackward(
      ...read,
      f32(backend, inputs.dy!),
      f32(backend, inputs.dLast!),
      ...grads,
      g.dims,
    );
    return INPUTS.map((name, i) =>
      backend.makeTensorInfo(g.shapes[name], 'float32', grads[i]!),
    ) as SelectiveScanGradOutputs<tf.TensorInfo>;
  };
}

/** Gradient of the scan: the gradient kernel recomputes each channel's states and runs back. */
export const selectiveScanGradConfig: tf.GradConfig = {
  kernelName: SELECTIVE_SCAN,
  inputsToSave: [...INPUTS],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [dY, dLast] = dy as tf.Tensor[];
    const [u, delta, a, b, c, d, h0] = saved as tf.Tensor[];
    const inputs: SelectiveScanGradInputs<tf.Tensor> = {
      u: u!,
      delta: delta!,
      a: a!,
      b: b!,
      c: c!,
      d: d!,
      h0: h0!,
      dy: dY!,
      dLast: dLast!,
    };
    const grads = tf
      .engine()
      .runKernel(SELECTIVE_SCAN_GRAD, inputs) as SelectiveScanGradOutputs<tf.Tensor>;
    return Object.fromEntries(INPUTS.map((name, i) => [name, () => grads[i]!]));
  },
};
