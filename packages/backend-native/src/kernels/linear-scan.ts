// The linear scan kernel h_t = a_t ⊙ h_{t-1} + b_t and its gradient (csrc/linear_scan.cc): one
// pass over time per direction instead of a tfjs op per step or per chunk. @attnkit/attention's
// linearRecurrence runs it when the active backend registers it. Names, inputs and outputs are
// @attnkit/kernels' LINEAR_SCAN contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  LINEAR_SCAN,
  LINEAR_SCAN_GRAD,
  type LinearScanGradInputs,
  type LinearScanGradOutputs,
  type LinearScanInputs,
  type LinearScanOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, contractChecks, f32, sizeOf, type Fail } from './util';

const checks = contractChecks(LINEAR_SCAN);
const fail: Fail = checks.fail;
const expectShape = checks.expectShape;

/** [batch, time, channels] from b's shape, after checking a and h0 against it. */
function geometry(a?: tf.TensorInfo, b?: tf.TensorInfo, h0?: tf.TensorInfo) {
  if (!b || b.shape.length < 2) fail(`b must be [batch, time, ...channels], got [${b?.shape}]`);
  const [batch, time, ...channels] = b.shape as number[];
  expectShape('b', b, b.shape);
  expectShape('a', a, b.shape);
  expectShape('h0', h0, [batch!, ...channels]);
  const c = sizeOf(channels);
  if (batch! * time! * c > 2 ** 31 - 1) fail(`b has more than 2^31 - 1 elements: [${b.shape}]`);
  return {
    dims: Int32Array.from([batch!, time!, c]),
    seq: batch! * time! * c,
    state: batch! * c,
    stateShape: [batch!, ...channels],
  };
}

export function makeLinearScan({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const { a, b, h0 } = args.inputs as Partial<LinearScanInputs<tf.TensorInfo>>;
    const g = geometry(a, b, h0);
    const backend = args.backend;
    const h = allocF32(g.seq);
    const last = allocF32(g.state);
    addon.linearScanForward(f32(backend, a!), f32(backend, b!), f32(backend, h0!), h, last, g.dims);
    const outputs: LinearScanOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(b!.shape.slice(), 'float32', h),
      backend.makeTensorInfo(g.stateShape, 'float32', last),
    ];
    return outputs;
  };
}

export function makeLinearScanGrad({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const { a, h0, h, dh, dLast } = args.inputs as Partial<LinearScanGradInputs<tf.TensorInfo>>;
    const g = geometry(a, h, h0);
    expectShape('dh', dh, h!.shape);
    expectShape('dLast', dLast, g.stateShape);
    const backend = args.backend;
    const da = allocF32(g.seq);
    const db = allocF32(g.seq);
    const dh0 = allocF32(g.state);
    addon.linearScanBackward(
      f32(backend, a!),
      f32(backend, h0!),
      f32(backend, h!),
      f32(backend, dh!),
      f32(backend, dLast!),
      da,
      db,
      dh0,
      g.dims,
    );
    const grads: LinearScanGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(a!.shape.slice(), 'float32', da),
      backend.makeTensorInfo(a!.shape.slice(), 'float32', db),
      backend.makeTensorInfo(g.stateShape, 'float32', dh0),
    ];
    return grads;
  };
}

/** Gradient of the scan: the gradient kernel runs the recurrence backwards once. */
export const linearScanGradConfig: tf.GradConfig = {
  kernelName: LINEAR_SCAN,
  inputsToSave: ['a', 'h0'],
  outputsToSave: [true, false],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [dh, dLast] = dy as tf.Tensor[];
    const [a, h0, h] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
    const inputs: LinearScanGradInputs<tf.Tensor> = { a, h0, h, dh: dh!, dLast: dLast! };
    const [da, db, dh0] = tf
      .engine()
      .runKernel(LINEAR_SCAN_GRAD, inputs) as LinearScanGradOutputs<tf.Tensor>;
    return { a: () => da, b: () => db, h0: () => dh0 };
  },
};
