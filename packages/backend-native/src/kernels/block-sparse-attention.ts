// The block-sparse attention kernel and its gradient (csrc/block_sparse.cc): each query block
// reads only the key blocks listed for it, GQA-aware, causal or not, never building a [tq, tk]
// matrix. @attnkit/attention's blockSparseAttention runs it when the active backend registers
// it. Names, inputs, attrs and outputs are @attnkit/kernels' BLOCK_SPARSE_ATTENTION contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  BLOCK_SPARSE_ATTENTION,
  BLOCK_SPARSE_ATTENTION_GRAD,
  type BlockSparseAttentionAttrs,
  type BlockSparseAttentionGradInputs,
  type BlockSparseAttentionGradOutputs,
  type BlockSparseAttentionInputs,
  type BlockSparseAttentionOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, values } from './util';

const INT32_MAX = 2 ** 31 - 1;

/** Shape and attribute problems: one line naming the kernel, the argument, want and got. */
function fail(what: string, kind: 'shape' | 'value' = 'shape'): never {
  const message = `${BLOCK_SPARSE_ATTENTION}: ${what}`;
  throw kind === 'shape' ? new TypeError(message) : new RangeError(message);
}

interface Geometry {
  dims: Int32Array;
  b: number;
  h: number;
  kvh: number;
  tq: number;
  tk: number;
  d: number;
  dv: number;
}

function expectShape(
  name: string,
  t: tf.TensorInfo | undefined,
  shape: number[],
  dtype: tf.DataType = 'float32',
): void {
  if (!t) fail(`${name} is missing (expected ${dtype} [${shape}])`);
  if (t.dtype !== dtype) fail(`${name} must be ${dtype}, got ${t.dtype}`);
  if (!tf.util.arraysEqual(t.shape, shape)) fail(`${name} must be [${shape}], got [${t.shape}]`);
}

function isInt(x: unknown, min: number): x is number {
  return Number.isInteger(x) && (x as number) >= min && (x as number) <= INT32_MAX;
}

/** Checks every input against q's and k's shapes and every attribute; the C++ checks again. */
function geometry(
  inputs: Partial<BlockSparseAttentionInputs<tf.TensorInfo>>,
  attrs: BlockSparseAttentionAttrs,
): Geometry {
  const { q, k, v } = inputs;
  if (!q || q.shape.length !== 4) fail(`q must be rank 4 [b,h,tq,d], got [${q?.shape}]`);
  if (!k || k.shape.length !== 4) fail(`k must be rank 4 [b,kvHeads,tk,d], got [${k?.shape}]`);
  if (!v || v.shape.length !== 4) fail(`v must be rank 4 [b,kvHeads,tk,dv], got [${v?.shape}]`);
  const [b, h, tq, d] = q.shape as [number, number, number, number];
  const [, kvh, tk] = k.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  if (!(kvh >= 1 && h % kvh === 0)) fail(`heads ${h} must be a multiple of kvHeads ${kvh}`);
  if (tq < 1 || tk < 1) fail(`tq and tk must be >= 1, got ${tq} and ${tk}`);
  expectShape('q', q, [b, h, tq, d]);
  expectShape('k', k, [b, kvh, tk, d]);
  expectShape('v', v, [b, kvh, tk, dv]);
  const { blockSize, causal, scale, queryOffset } =
    attrs ?? ({} as Partial<BlockSparseAttentionAttrs>);
  if (!isInt(blockSize, 1)) fail(`blockSize must be an integer >= 1, got ${blockSize}`, 'value');
  if (!isInt(queryOffset, 0) || queryOffset + tq > INT32_MAX)
    fail(`queryOffset must be an integer >= 0, got ${queryOffset}`, 'value');
  if (!(Number.isFinite(scale) && scale > 0))
    fail(`scale must be finite and > 0, got ${scale}`, 'value');
  if (typeof causal !== 'boolean') fail(`causal must be a boolean, got ${causal}`, 'value');
  const nqb =
    Math.floor((queryOffset + tq - 1) / blockSize) - Math.floor(queryOffset / blockSize) + 1;
  const sel = inputs.selected;
  const kpb = sel?.shape.length === 4 ? sel.shape[3]! : 0;
  if (kpb < 1)
    fail(`selected must be int32 [${b},${h},${nqb},kPerBlock >= 1], got [${sel?.shape}]`);
  expectShape('selected', sel, [b, h, nqb, kpb], 'int32');
  const dims = Int32Array.from([
    b,
    h,
    kvh,
    tq,
    tk,
    d,
    dv,
    blockSize,
    kpb,
    queryOffset,
    causal ? 1 : 0,
  ]);
  return { dims, b, h, kvh, tq, tk, d, dv };
}

function int32Values(args: KernelArgs, t: tf.TensorInfo): Int32Array {
  const v = values(args.backend, t);
  return v instanceof Int32Array ? v : Int32Array.from(v as ArrayLike<number>);
}

export function makeBlockSparseAttention({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<BlockSparseAttentionInputs<tf.TensorInfo>>;
    const attrs = args.attrs as BlockSparseAttentionAttrs;
    const g = geometry(inputs, attrs);
    const backend = args.backend;
    const out = allocF32(g.b * g.h * g.tq * g.dv);
    const lse = allocF32(g.b * g.h * g.tq);
    addon.blockSparseForward(
      f32(backend, inputs.q!),
      f32(backend, inputs.k!),
      f32(backend, inputs.v!),
      int32Values(args, inputs.selected!),
      out,
      lse,
      g.dims,
      attrs.scale,
    );
    const outputs: BlockSparseAttentionOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo([g.b, g.h, g.tq, g.dv], 'float32', out),
      backend.makeTensorInfo([g.b, g.h, g.tq], 'float32', lse),
    ];
    return outputs;
  };
}

export function makeBlockSparseAttentionGrad({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<BlockSparseAttentionGradInputs<tf.TensorInfo>>;
    const attrs = args.attrs as BlockSparseAttentionAttrs;
    const g = geometry(inputs, attrs);
    expectShape('output', inputs.output, [g.b, g.h, g.tq, g.dv]);
    expectShape('logSumExp', inputs.logSumExp, [g.b, g.h, g.tq]);
    expectShape('dOutput', inputs.dOutput, [g.b, g.h, g.tq, g.dv]);
    expectShape('dLogSumExp', inputs.dLogSumExp, [g.b, g.h, g.tq]);
    const backend = args.backend;
    const dq = allocF32(g.b * g.h * g.tq * g.d);
    const dk = allocF32(g.b * g.kvh * g.tk * g.d);
    const dv = allocF32(g.b * g.kvh * g.tk * g.dv);
    if (g.b * g.h === 0) for (const x of [dq, dk, dv]) x.fill(0);
    const read = (t: tf.TensorInfo | undefined) => f32(backend, t!);
    addon.blockSparseBackward(
      read(inputs.q),
      read(inputs.k),
      read(inputs.v),
      int32Values(args, inputs.selected!),
      read(inputs.output),
      read(inputs.logSumExp),
      read(inputs.dOutput),
      read(inputs.dLogSumExp),
      dq,
      dk,
      dv,
      g.dims,
      attrs.scale,
    );
    const outputs: BlockSparseAttentionGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(inputs.q!.shape.slice(), 'float32', dq),
      backend.makeTensorInfo(inputs.k!.shape.slice(), 'float32', dk),
      backend.makeTensorInfo(inputs.v!.shape.slice(), 'float32', dv),
    ];
    return outputs;
  };
}

/**
 * Gradient of the forward kernel: one call of the gradient kernel, with the forward's outputs
 * (saved) and both cotangents (tfjs passes zeros for an output that was not used).
 */
export const blockSparseAttentionGradConfig: tf.GradConfig = {
  kernelName: BLOCK_SPARSE_ATTENTION,
  inputsToSave: ['q', 'k', 'v', 'selected'],
  outputsToSave: [true, true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [dOutput, dLogSumExp] = dy as tf.Tensor[];
    const [q, k, v, selected, output, logSumExp] = saved as tf.Tensor[];
    const inputs: BlockSparseAttentionGradInputs<tf.Tensor> = {
      q: q!,
      k: k!,
      v: v!,
      selected: selected!,
      output: output!,
      logSumExp: logSumExp!,
      dOutput: dOutput!,
      dLogSumExp: dLogSumExp!,
    };
    const [dq, dk, dv] = tf
      .engine()
      .runKernel(
        BLOCK_SPARSE_ATTENTION_GRAD,
        inputs,
        attrs,
      ) as BlockSparseAttentionGradOutputs<tf.Tensor>;
    // The block list is data: no gradient flows to it.
    return {
      q: () => dq!,
      k: () => dk!,
      v: () => dv!,
      selected: () => tf.zeros(selected!.shape),
    };
  },
};
