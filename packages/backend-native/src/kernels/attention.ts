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
import { bufferPool } from '../buffer-pool';
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
 * Each head's kept rows packed into [batch, heads, n, ·] (n the most any head keeps), with one
 * position list per head (the addon's per-head positions). Padding rows sit at PADDING_POSITION
 * and are dropped on the way back. `source[r]`: the row of [B·H·tq] that packed row r reads
 * (padding rows read their head's first row and are then overwritten); `target[r]`: the packed
 * row that row r of [B·H·tq] comes back from (B·H·n, one past the end, for rows not kept).
 */
interface Packing {
  rows: Int32Array[];
  n: number;
  qpos: Int32Array;
  dims: Int32Array;
  source: Int32Array;
  target: Int32Array;
}

function packing(rows: Int32Array[], g: Geometry): Packing {
  const n = Math.max(0, ...rows.map((r) => r.length));
  const qpos = new Int32Array(rows.length * n).fill(PADDING_POSITION);
  const source = new Int32Array(rows.length * n);
  const target = new Int32Array(rows.length * g.tq).fill(rows.length * n);
  rows.forEach((kept, bh) => {
    source.fill(bh * g.tq, bh * n, (bh + 1) * n);
    kept.forEach((i, j) => {
      qpos[bh * n + j] = g.qpos[i]!;
      source[bh * n + j] = bh * g.tq + i;
      target[bh * g.tq + i] = bh * n + j;
    });
  });
  const dims = Int32Array.from(g.dims);
  dims[3] = n;
  return { rows, n, qpos, dims, source, target };
}

/** out[r] = x[index[r]] for rows of `width` floats (the addon's row gather; a loop without it). */
function gatherRows(
  addon: NativeAddon,
  x: Float32Array,
  index: Int32Array,
  width: number,
  out: Float32Array,
): void {
  if (typeof addon.gatherSlices === 'function') {
    if (index.length > 0) addon.gatherSlices(x, index, out, 1, x.length / width, width);
    return;
  }
  for (let r = 0; r < index.length; r++) {
    const from = index[r]! * width;
    for (let c = 0; c < width; c++) out[r * width + c] = x[from + c]!;
  }
}

/** x [B·H, tq, width] -> [B·H, n, width]: each head's kept rows first, `fill` after. */
function pack(
  addon: NativeAddon,
  x: Float32Array,
  p: Packing,
  width: number,
  fill = 0,
): Float32Array {
  const packed = allocF32(p.rows.length * p.n * width);
  gatherRows(addon, x, p.source, width, packed);
  p.rows.forEach((kept, bh) =>
    packed.fill(fill, (bh * p.n + kept.length) * width, (bh + 1) * p.n * width),
  );
  return packed;
}

/**
 * x [B·H, tq, width] from packed [B·H·n + 1, width] (its last row, `other`, for the rows no
 * head kept): the inverse of pack.
 */
function unpack(
  addon: NativeAddon,
  packed: Float32Array,
  p: Packing,
  width: number,
  other: number,
  x: Float32Array,
): void {
  packed.fill(other, p.rows.length * p.n * width, (p.rows.length * p.n + 1) * width);
  gatherRows(addon, packed, p.target, width, x);
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
  const p = packing(rows, g);
  if (p.n === 0) {
    out.fill(0);
    lse.fill(-Infinity);
    return;
  }
  const size = rows.length * p.n;
  const o = allocF32((size + 1) * g.dv);
  const l = allocF32(size + 1);
  const q = pack(addon, f32(backend, t.q), p, g.d);
  const [k, v] = [f32(backend, t.k), f32(backend, t.v)];
  addon.attentionForward(
    q,
    k,
    v,
    p.qpos,
    g.kpos,
    o.subarray(0, size * g.dv),
    l.subarray(0, size),
    p.dims,
    attrs.scale,
  );
  unpack(addon, o, p, g.dv, 0, out);
  unpack(addon, l, p, 1, -Infinity, lse);
  bufferPool.recycle(q, o, l);
}

/**
 * The backward over the kept rows only: padding rows get dout 0 and a finite huge lse, so
 * their weights are 0 and their blocks are skipped.
 */
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
  const size = rows.length * p.n;
  const dq = allocF32((size + 1) * g.d);
  const packed = {
    q: pack(addon, f32(backend, t.q), p, g.d),
    out: pack(addon, f32(backend, t.out), p, g.dv),
    lse: pack(addon, f32(backend, t.lse), p, 1, 3e38),
    dout: pack(addon, f32(backend, t.dout), p, g.dv),
  };
  addon.attentionBackward(
    packed.q,
    f32(backend, t.k),
    f32(backend, t.v),
    p.qpos,
    g.kpos,
    packed.out,
    packed.lse,
    packed.dout,
    dq.subarray(0, size * g.d),
    grads.dk,
    grads.dv,
    p.dims,
    attrs.scale,
  );
  unpack(addon, dq, p, g.d, 0, grads.dq);
  bufferPool.recycle(dq, packed.q, packed.out, packed.lse, packed.dout);
}
