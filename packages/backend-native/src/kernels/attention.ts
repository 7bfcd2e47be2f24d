// The fused attention kernel and its gradient (csrc/attention.cc): softmax(scale · q kᵀ,
// causal / sliding-window mask by positions) v with an online softmax, grouped-query heads
// read in place. @attnkit/attention's scaledDotProductAttention runs it when the active
// backend registers it and the options need nothing else (architecture contract 7).
// Names, inputs, attrs and outputs are @attnkit/kernels' FUSED_ATTENTION contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  type FusedAttentionAttrs,
  type FusedAttentionGradInputs,
  type FusedAttentionGradOutputs,
  type FusedAttentionInputs,
  type FusedAttentionOutputs,
} from '@attnkit/kernels';
import type { NativeAddon } from '../addon';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32 } from './util';

function fail(what: string): never {
  throw new Error(`${FUSED_ATTENTION}: ${what}`);
}

interface Geometry {
  dims: Int32Array;
  qpos: Int32Array;
  kpos: Int32Array;
  batch: number;
  heads: number;
  kvHeads: number;
  tq: number;
  tk: number;
  d: number;
  dv: number;
}

/** Checks shapes, dtypes and attrs the way scaledDotProductAttention's validation does. */
function geometry(
  q: tf.TensorInfo,
  k: tf.TensorInfo,
  v: tf.TensorInfo,
  attrs: FusedAttentionAttrs,
): Geometry {
  for (const [n, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.shape.length !== 4) fail(`${n} must be rank 4, got shape [${t.shape}]`);
    if (t.dtype !== 'float32') fail(`${n} must be float32, got ${t.dtype}`);
  }
  const [batch, heads, tq, d] = q.shape as [number, number, number, number];
  const [kb, kvHeads, tk, kd] = k.shape as [number, number, number, number];
  const [vb, vh, vt, dv] = v.shape as [number, number, number, number];
  if (kb !== batch || kd !== d) fail(`k must be [${batch},kvHeads,tk,${d}], got [${k.shape}]`);
  if (vb !== batch || vh !== kvHeads || vt !== tk)
    fail(`v must be [${batch},${kvHeads},${tk},dv], got [${v.shape}]`);
  if (kvHeads === 0 || heads % kvHeads !== 0)
    fail(`${kvHeads} key/value heads do not divide ${heads} query heads`);
  const { queryPositions, keyPositions } = attrs;
  if (queryPositions.length !== tq)
    fail(`queryPositions needs ${tq} values, got ${queryPositions.length}`);
  if (keyPositions.length !== tk)
    fail(`keyPositions needs ${tk} values, got ${keyPositions.length}`);
  if (!(attrs.scale > 0)) fail(`scale must be > 0, got ${attrs.scale}`);
  const causal = attrs.causal || attrs.window > 0;
  return {
    dims: Int32Array.from([
      batch,
      heads,
      kvHeads,
      tq,
      tk,
      d,
      dv,
      causal ? 1 : 0,
      Math.max(0, attrs.window | 0),
    ]),
    qpos: Int32Array.from(queryPositions),
    kpos: Int32Array.from(keyPositions),
    batch,
    heads,
    kvHeads,
    tq,
    tk,
    d,
    dv,
  };
}

export function makeFusedAttention({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const { q, k, v, rowMask } = args.inputs as FusedAttentionInputs<tf.TensorInfo>;
    const attrs = args.attrs as FusedAttentionAttrs;
    const g = geometry(q, k, v, attrs);
    const backend = args.backend;
    const out = allocF32(g.batch * g.heads * g.tq * g.dv);
    const lse = allocF32(g.batch * g.heads * g.tq);
    if (rowMask) {
      forwardRows(addon, backend, { q, k, v }, maskRows(backend, rowMask, g), g, attrs, out, lse);
    } else {
      // No keys: the addon writes nothing; zeros (as a product with empty v) and 'no key' marks.
      if (g.tk === 0) {
        out.fill(0);
        lse.fill(Infinity);
      }
      addon.attentionForward(
        f32(backend, q),
        f32(backend, k),
        f32(backend, v),
        g.qpos,
        g.kpos,
        out,
        lse,
        g.dims,
        attrs.scale,
      );
    }
    const outputs: FusedAttentionOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo([g.batch, g.heads, g.tq, g.dv], 'float32', out),
      backend.makeTensorInfo([g.batch, g.heads, g.tq], 'float32', lse),
    ];
    return outputs;
  };
}

export function makeFusedAttentionGrad({ addon }: KernelContext): NativeKernel {
  return (args: KernelArgs) => {
    const inputs = args.inputs as Partial<FusedAttentionGradInputs<tf.TensorInfo>>;
    const { q, k, v, out, lse, dout, rowMask } = inputs;
    const attrs = args.attrs as FusedAttentionAttrs;
    const g = geometry(q!, k!, v!, attrs);
    for (const [n, t, shape] of [
      ['out', out, [g.batch, g.heads, g.tq, g.dv]],
      ['dout', dout, [g.batch, g.heads, g.tq, g.dv]],
      ['lse', lse, [g.batch, g.heads, g.tq]],
    ] as const) {
      if (
        !t ||
        t.dtype !== 'float32' ||
        !tf.util.arraysEqual(t.shape, shape as unknown as number[])
      ) {
        fail(`${n} must be float32 [${shape}], got ${t ? `${t.dtype} [${t.shape}]` : 'nothing'}`);
      }
    }
    const backend = args.backend;
    const dq = allocF32(g.batch * g.heads * g.tq * g.d);
    const dk = allocF32(g.batch * g.kvHeads * g.tk * g.d);
    const dv = allocF32(g.batch * g.kvHeads * g.tk * g.dv);
    if (g.tk === 0 || g.batch * g.heads * g.tq === 0) {
      dq.fill(0);
      dk.fill(0);
      dv.fill(0);
    }
    if (rowMask) {
      const rows = maskRows(backend, rowMask, g);
      const tensors = { q: q!, k: k!, v: v!, out: out!, lse: lse!, dout: dout! };
      backwardRows(addon, backend, tensors, rows, g, attrs, { dq, dk, dv });
      return [
        backend.makeTensorInfo(q!.shape.slice(), 'float32', dq),
        backend.makeTensorInfo(k!.shape.slice(), 'float32', dk),
        backend.makeTensorInfo(v!.shape.slice(), 'float32', dv),
      ];
    }
    addon.attentionBackward(
      f32(backend, q!),
      f32(backend, k!),
      f32(backend, v!),
      g.qpos,
      g.kpos,
      f32(backend, out!),
      f32(backend, lse!),
      f32(backend, dout!),
      dq,
      dk,
      dv,
      g.dims,
      attrs.scale,
    );
    const grads: FusedAttentionGradOutputs<tf.TensorInfo> = [
      backend.makeTensorInfo(q!.shape.slice(), 'float32', dq),
      backend.makeTensorInfo(k!.shape.slice(), 'float32', dk),
      backend.makeTensorInfo(v!.shape.slice(), 'float32', dv),
    ];
    return grads;
  };
}

/** Gradient of the fused kernel: one call of the gradient kernel gives dq, dk and dv. */
export const fusedAttentionGradConfig: tf.GradConfig = {
  kernelName: FUSED_ATTENTION,
  inputsToSave: ['q', 'k', 'v'],
  outputsToSave: [true, true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [q, k, v, out, lse] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const dout = Array.isArray(dy) ? dy[0]! : dy;
    const inputs: FusedAttentionGradInputs<tf.Tensor> = { q, k, v, out, lse, dout };
    const [dq, dk, dv] = tf
      .engine()
      .runKernel(FUSED_ATTENTION_GRAD, inputs, attrs) as FusedAttentionGradOutputs<tf.Tensor>;
    return { q: () => dq, k: () => dk, v: () => dv };
  },
};

/** Per (batch, head), the query rows the mask keeps (checked: float32 [batch, heads, tq]). */
function maskRows(backend: KernelArgs['backend'], mask: tf.TensorInfo, g: Geometry): Int32Array[] {
  if (mask.dtype !== 'float32' || !tf.util.arraysEqual(mask.shape, [g.batch, g.heads, g.tq])) {
    fail(
      `rowMask must be float32 [${g.batch},${g.heads},${g.tq}], got ${mask.dtype} [${mask.shape}]`,
    );
  }
  const m = f32(backend, mask);
  const rows: Int32Array[] = [];
  for (let bh = 0; bh < g.batch * g.heads; bh++) {
    const kept: number[] = [];
    for (let i = 0; i < g.tq; i++) if (m[bh * g.tq + i] !== 0) kept.push(i);
    rows.push(Int32Array.from(kept));
  }
  return rows;
}

/** The addon's padding position (its kPaddingPosition, INT32_MIN): it computes nothing there. */
const PADDING_POSITION = -(2 ** 31);

/**
 * The addon's row-mask mode: each head's kept rows as n packed rows (n the most any head keeps)
 * with their positions, and `index`, the row of [B, H, tq] each packed row stands for (-1 for
 * padding, at PADDING_POSITION). The addon reads and writes those rows in place: nothing is
 * copied in or out.
 */
interface Packing {
  n: number;
  qpos: Int32Array;
  index: Int32Array;
  dims: Int32Array;
}

function packing(rows: Int32Array[], g: Geometry): Packing {
  const n = Math.max(0, ...rows.map((r) => r.length));
  const qpos = new Int32Array(rows.length * n).fill(PADDING_POSITION);
  const index = new Int32Array(rows.length * n).fill(-1);
  rows.forEach((kept, bh) => {
    index.set(kept, bh * n);
    for (let j = 0; j < kept.length; j++) qpos[bh * n + j] = g.qpos[kept[j]!]!;
  });
  const dims = Int32Array.from(g.dims);
  dims[3] = n;
  return { n, qpos, index, dims };
}

/** The forward over the kept rows only (one addon call); other rows 0 with lse -Infinity. */
function forwardRows(
  addon: NativeAddon,
  backend: KernelArgs['backend'],
  t: { q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo },
  rows: Int32Array[],
  g: Geometry,
  attrs: FusedAttentionAttrs,
  out: Float32Array,
  lse: Float32Array,
): void {
  out.fill(0);
  lse.fill(-Infinity);
  const p = packing(rows, g);
  if (p.n === 0) return;
  addon.attentionForward(
    f32(backend, t.q),
    f32(backend, t.k),
    f32(backend, t.v),
    p.qpos,
    g.kpos,
    out,
    lse,
    p.dims,
    attrs.scale,
    p.index,
    g.tq,
  );
}

/** The backward over the kept rows only: rows no head keeps get dq 0 and pass nothing to k, v. */
function backwardRows(
  addon: NativeAddon,
  backend: KernelArgs['backend'],
  t: Record<'q' | 'k' | 'v' | 'out' | 'lse' | 'dout', tf.TensorInfo>,
  rows: Int32Array[],
  g: Geometry,
  attrs: FusedAttentionAttrs,
  grads: { dq: Float32Array; dk: Float32Array; dv: Float32Array },
): void {
  const p = packing(rows, g);
  if (p.n === 0 || g.tk === 0) {
    for (const grad of [grads.dq, grads.dk, grads.dv]) grad.fill(0);
    return;
  }
  addon.attentionBackward(
    f32(backend, t.q),
    f32(backend, t.k),
    f32(backend, t.v),
    p.qpos,
    g.kpos,
    f32(backend, t.out),
    f32(backend, t.lse),
    f32(backend, t.dout),
    grads.dq,
    grads.dk,
    grads.dv,
    p.dims,
    attrs.scale,
    p.index,
    g.tq,
  );
}
