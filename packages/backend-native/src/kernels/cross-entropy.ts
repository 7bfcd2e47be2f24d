// Softmax cross-entropy over the vocabulary, forward and backward as one kernel each
// (csrc/cross_entropy.cc). @attnkit/models' crossEntropy runs it when the active backend
// registers it. Names, inputs and outputs are @attnkit/kernels' SOFTMAX_CROSS_ENTROPY contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  type CrossEntropyAttrs,
  type CrossEntropyGradInputs,
  type CrossEntropyGradOutputs,
  type CrossEntropyInputs,
  type CrossEntropyOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32 } from './util';

function fail(kernel: string, what: string): never {
  throw new TypeError(`${kernel}: ${what}`);
}

function check(
  kernel: string,
  name: string,
  t: tf.TensorInfo | undefined,
  shape: number[],
  dtype = 'float32',
) {
  if (!t) fail(kernel, `${name} is missing (expected ${dtype} [${shape}])`);
  if (t.dtype !== dtype) fail(kernel, `${name} must be ${dtype}, got ${t.dtype}`);
  if (!tf.util.arraysEqual(t.shape, shape))
    fail(kernel, `${name} must be [${shape}], got [${t.shape}]`);
}

/** [rows, vocab] after checking logits, labels and ignoreIndex. */
function geometry(
  kernel: string,
  logits: tf.TensorInfo | undefined,
  labels: tf.TensorInfo | undefined,
  attrs: tf.NamedAttrMap | undefined,
) {
  if (!logits || logits.shape.length !== 2)
    fail(kernel, `logits must be [rows, vocab], got [${logits?.shape}]`);
  const [rows, vocab] = logits.shape as [number, number];
  if (vocab < 1) fail(kernel, `logits must have a vocabulary of size >= 1, got [${logits.shape}]`);
  check(kernel, 'logits', logits, [rows, vocab]);
  check(kernel, 'labels', labels, [rows], 'int32');
  if (rows * vocab > 2 ** 31 - 1)
    fail(kernel, `logits have more than 2^31 - 1 elements: [${logits.shape}]`);
  const ignore = (attrs as Partial<CrossEntropyAttrs> | undefined)?.ignoreIndex;
  if (!Number.isInteger(ignore) || Math.abs(ignore!) > 2 ** 31 - 1) {
    fail(kernel, `ignoreIndex must be a 32-bit integer, got ${ignore}`);
  }
  return { rows, vocab, dims: Int32Array.from([rows, vocab]), ignore: ignore! };
}

function labelsOf(backend: KernelArgs['backend'], t: tf.TensorInfo): Int32Array {
  const v = backend.data.get(t.dataId).values;
  return v instanceof Int32Array ? v : Int32Array.from(v as ArrayLike<number>);
}

export function makeCrossEntropy({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { logits, labels } = inputs as Partial<CrossEntropyInputs<tf.TensorInfo>>;
    const g = geometry(SOFTMAX_CROSS_ENTROPY, logits, labels, attrs);
    const loss = allocF32(g.rows);
    const lse = allocF32(g.rows);
    const [x, l] = [f32(backend, logits!), labelsOf(backend, labels!)];
    addon.crossEntropyForward(x, l, loss, lse, g.dims, g.ignore);
    const out: CrossEntropyOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo([g.rows], 'float32', loss),
      backend.makeTensorInfo([g.rows], 'float32', lse),
    ];
    return out;
  };
}

export function makeCrossEntropyGrad({ addon }: KernelContext): NativeKernel {
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const { logits, labels, dLoss, dLogSumExp } = inputs as Partial<
      CrossEntropyGradInputs<tf.TensorInfo>
    >;
    const g = geometry(SOFTMAX_CROSS_ENTROPY_GRAD, logits, labels, attrs);
    check(SOFTMAX_CROSS_ENTROPY_GRAD, 'dLoss', dLoss, [g.rows]);
    check(SOFTMAX_CROSS_ENTROPY_GRAD, 'dLogSumExp', dLogSumExp, [g.rows]);
    const d = allocF32(g.rows * g.vocab);
    const [x, l] = [f32(backend, logits!), labelsOf(backend, labels!)];
    const [dl, dz] = [f32(backend, dLoss!), f32(backend, dLogSumExp!)];
    addon.crossEntropyBackward(x, l, dl, dz, d, g.dims, g.ignore);
    const out: CrossEntropyGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo([g.rows, g.vocab], 'float32', d),
    ];
    return out;
  };
}

/** Gradient of the loss and log-sum-exp: the gradient kernel recomputes the softmax. */
export const crossEntropyGradConfig: tf.GradConfig = {
  kernelName: SOFTMAX_CROSS_ENTROPY,
  inputsToSave: ['logits', 'labels'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [dLoss, dLogSumExp] = dy as tf.Tensor[];
    const [logits, labels] = saved as [tf.Tensor, tf.Tensor];
    const inputs: CrossEntropyGradInputs<tf.Tensor> = {
      logits,
      labels,
      dLoss: dLoss!,
      dLogSumExp: dLogSumExp!,
    };
    const [dLogits] = tf
      .engine()
      .runKernel(SOFTMAX_CROSS_ENTROPY_GRAD, inputs, attrs) as CrossEntropyGradOutputs<tf.Tensor>;
    // Labels are data: a zero gradient, as tfjs gives integer inputs (oneHot's indices).
    return { logits: () => dLogits, labels: () => tf.zeros(labels.shape, 'float32') };
  },
};
