// The chunked linear attention kernel and its gradient (csrc/linear_attention.cc): a scalar log
// decay per step, an initial state, causal or bidirectional, optionally normalised, without
// ever building a [t, t] matrix. @attnkit/attention's linearAttention runs it when the active
// backend registers it and the options need nothing else. Names, inputs, attrs and outputs are
// @attnkit/kernels' CHUNKED_LINEAR_ATTENTION contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  CHUNKED_LINEAR_ATTENTION,
  CHUNKED_LINEAR_ATTENTION_GRAD,
  type ChunkedLinearAttentionAttrs,
  type ChunkedLinearAttentionGradInputs,
  type ChunkedLinearAttentionGradOutputs,
  type ChunkedLinearAttentionInputs,
  type ChunkedLinearAttentionOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, contractChecks, f32, type Fail } from './util';

const checks = contractChecks(CHUNKED_LINEAR_ATTENTION);
const fail: Fail = checks.fail;
const expectShape = checks.expectShape;

interface Geometry {
  dims: Int32Array;
  b: number;
  h: number;
  t: number;
  dk: number;
  dv: number;
}

/** Checks every input against q's shape and every attribute; the C++ checks sizes again. */
function geometry(
  inputs: Partial<ChunkedLinearAttentionInputs<tf.TensorInfo>>,
  attrs: ChunkedLinearAttentionAttrs,
): Geometry {
  const { q, v } = inputs;
  if (!q || q.shape.length !== 4) fail(`q must be rank 4 [b,h,t,dk], got [${q?.shape}]`);
  if (!v || v.shape.length !== 4) fail(`v must be rank 4 [b,h,t,dv], got [${v?.shape}]`);
  const [b, h, t, dk] = q.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  expectShape('q', q, [b, h, t, dk]);
  expectShape('k', inputs.k, [b, h, t, dk]);
  expectShape('v', v, [b, h, t, dv]);
  expectShape('logDecay', inputs.logDecay, [b, h, t]);
  expectShape('kv0', inputs.kv0, [b, h, dk, dv]);
  expectShape('kSum0', inputs.kSum0, [b, h, dk]);
  const { chunkSize, scale, causal, normalize, eps } = attrs ?? ({} as ChunkedLinearAttentionAttrs);
  if (!(Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= 2 ** 31 - 1))
    fail(`chunkSize must be an integer >= 1, got ${chunkSize}`, 'value');
  if (!Number.isFinite(scale)) fail(`scale must be finite, got ${scale}`, 'value');
  if (!(Number.isFinite(eps) && eps >= 0)) fail(`eps must be finite and >= 0, got ${eps}`, 'value');
  if (typeof causal !== 'boolean') fail(`causal must be a boolean, got ${causal}`, 'value');
  if (typeof normalize !== 'boolean')
    fail(`normalize must be a boolean, got ${normalize}`, 'value');
  const dims = Int32Array.from([b, h, t, dk, dv, chunkSize, causal ? 1 : 0, normalize ? 1 : 0]);
  return { dims, b, h, t, dk, dv };
}

export function makeChunkedLinearAttention({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<ChunkedLinearAttentionInputs<tf.TensorInfo>>;
    const attrs = args.attrs as ChunkedLinearAttentionAttrs;
    const g = geometry(inputs, attrs);
    const backend = args.backend;
    const out = allocF32(g.b * g.h * g.t * g.dv);
    const kv = allocF32(g.b * g.h * g.dk * g.dv);
    const kSum = allocF32(g.b * g.h * g.dk);
    if (g.b * g.h === 0) {
      out.fill(0);
      kv.fill(0);
      kSum.fill(0);
    }
    addon.linearAttentionForward(
      f32(backend, inputs.q!),
      f32(backend, inputs.k!),
      f32(backend, inputs.v!),
      f32(backend, inputs.logDecay!),
      f32(backend, inputs.kv0!),
      f32(backend, inputs.kSum0!),
      out,
      kv,
      kSum,
      g.dims,
      attrs.scale,
      attrs.eps,
    );
    const outputs: ChunkedLinearAttentionOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo([g.b, g.h, g.t, g.dv], 'float32', out),
      backend.makeTensorInfo([g.b, g.h, g.dk, g.dv], 'float32', kv),
      backend.makeTensorInfo([g.b, g.h, g.dk], 'float32', kSum),
    ];
    return outputs;
  };
}

export function makeChunkedLinearAttentionGrad({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<ChunkedLinearAttentionGradInputs<tf.TensorInfo>>;
    const attrs = args.attrs as ChunkedLinearAttentionAttrs;
    const g = geometry(inputs, attrs);
    expectShape('dOutput', inputs.dOutput, [g.b, g.h, g.t, g.dv]);
    expectShape('dKv', inputs.dKv, [g.b, g.h, g.dk, g.dv]);
    expectShape('dKSum', inputs.dKSum, [g.b, g.h, g.dk]);
    const backend = args.backend;
    const sizes = [
      g.b * g.h * g.t * g.dk,
      g.b * g.h * g.t * g.dk,
      g.b * g.h * g.t * g.dv,
      g.b * g.h * g.t,
      g.b * g.h * g.dk * g.dv,
      g.b * g.h * g.dk,
    ];
    const grads = sizes.map((n) => allocF32(n));
    if (g.b * g.h === 0) for (const x of grads) x.fill(0);
    const read = (t: tf.TensorInfo | undefined) => f32(backend, t!);
    addon.linearAttentionBackward(
      read(inputs.q),
      read(inputs.k),
      read(inputs.v),
      read(inputs.logDecay),
      read(inputs.kv0),
      read(inputs.kSum0),
      read(inputs.dOutput),
      read(inputs.dKv),
      read(inputs.dKSum),
      grads[0]!,
      grads[1]!,
      grads[2]!,
      grads[3]!,
      grads[4]!,
      grads[5]!,
      g.dims,
      attrs.scale,
      attrs.eps,
    );
    const shapes = [
      inputs.q!.shape,
      inputs.k!.shape,
      inputs.v!.shape,
      inputs.logDecay!.shape,
      inputs.kv0!.shape,
      inputs.kSum0!.shape,
    ];
    return grads.map((x, i) =>
      backend.makeTensorInfo(shapes[i]!.slice(), 'float32', x),
    ) as ChunkedLinearAttentionGradOutputs<tf.TensorInfo>;
  };
}

const INPUTS = ['q', 'k', 'v', 'logDecay', 'kv0', 'kSum0'] as const;

/** Gradient of the forward kernel: one call of the gradient kernel gives every input's. */
export const chunkedLinearAttentionGradConfig: tf.GradConfig = {
  kernelName: CHUNKED_LINEAR_ATTENTION,
  inputsToSave: [...INPUTS],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [dOutput, dKv, dKSum] = dy as tf.Tensor[];
    const [q, k, v, logDecay, kv0, kSum0] = saved as tf.Tensor[];
    const inputs: ChunkedLinearAttentionGradInputs<tf.Tensor> = {
      q: q!,
      k: k!,
      v: v!,
      logDecay: logDecay!,
      kv0: kv0!,
      kSum0: kSum0!,
      dOutput: dOutput!,
      dKv: dKv!,
      dKSum: dKSum!,
    };
    const grads = tf
      .engine()
      .runKernel(
        CHUNKED_LINEAR_ATTENTION_GRAD,
        inputs,
        attrs,
      ) as ChunkedLinearAttentionGradOutputs<tf.Tensor>;
    return Object.fromEntries(INPUTS.map((name, i) => [name, () => grads[i]!]));
  },
};
