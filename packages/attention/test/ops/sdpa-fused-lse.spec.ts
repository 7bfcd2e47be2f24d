import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

// The fused path's logSumExp and its gradient. A backend that registers the kernels (native,
// in CI) is tested as it is; otherwise a plain-JS pair written from the kernel contract
// (sdpa-kernel.ts; backend-native's kernels/attention.ts) stands in for it.
const FUSED = 'AttnkitFusedAttention';
const GRAD = 'AttnkitFusedAttentionGrad';

interface Attrs {
  scale: number;
  causal: boolean;
  window: number;
  queryPositions: number[];
  keyPositions: number[];
}
interface Backend {
  readSync(id: object): unknown;
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
}

/** Logits row i of head (b, h) against every key, null where a key is hidden. */
function rowLogits(
  q: Float32Array,
  k: Float32Array,
  s: number[],
  a: Attrs,
  b: number,
  h: number,
  i: number,
) {
  const [, heads, tq, d, kvHeads, tk] = s as [number, number, number, number, number, number];
  const g = Math.floor(h / (heads / kvHeads));
  return Array.from({ length: tk }, (_, j) => {
    const qp = a.queryPositions[i]!;
    const kp = a.keyPositions[j]!;
    if ((a.causal || a.window > 0) && kp > qp) return null;
    if (a.window > 0 && qp - kp >= a.window) return null;
    let dot = 0;
    for (let c = 0; c < d; c++)
      dot += q[((b * heads + h) * tq + i) * d + c]! * k[((b * kvHeads + g) * tk + j) * d + c]!;
    return dot * a.scale;
  });
}

let fusedCalls = 0;

function install(backendName: string) {
  const read = (be: Backend, t: tf.TensorInfo) => be.readSync(t.dataId) as Float32Array;
  tf.registerKernel({
    kernelName: FUSED,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      fusedCalls++;
      const be = backend as unknown as Backend;
      const a = attrs as unknown as Attrs;
      const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
      const [B, H, TQ, D] = q!.shape;
      const [, KVH, TK, DV] = v!.shape;
      const [qd, kd, vd] = [read(be, q!), read(be, k!), read(be, v!)];
      const out = new Float32Array(B! * H! * TQ! * DV!);
      const lse = new Float32Array(B! * H! * TQ!);
      for (let b = 0; b < B!; b++)
        for (let h = 0; h < H!; h++)
          for (let i = 0; i < TQ!; i++) {
            const g = Math.floor(h / (H! / KVH!));
            const l = rowLogits(qd, kd, [B!, H!, TQ!, D!, KVH!, TK!], a, b, h, i);
            const row = (b * H! + h) * TQ! + i;
            const seen = l.filter((x): x is number => x !== null);
            const m = Math.max(...seen);
            const sum = seen.reduce((s, x) => s + Math.exp(x - m), 0);
            lse[row] = seen.length ? m + Math.log(sum) : Infinity;
            for (let j = 0; j < TK!; j++) {
              // No visible key: uniform weights over all keys (the composite forms' fallback).
              const p = seen.length ? (l[j] === null ? 0 : Math.exp(l[j]! - lse[row]!)) : 1 / TK!;
              for (let c = 0; c < DV!; c++)
                out[row * DV! + c] += p * vd[((b * KVH! + g) * TK! + j) * DV! + c]!;
            }
          }
      return [
        be.makeTensorInfo([B!, H!, TQ!, DV!], 'float32', out),
        be.makeTensorInfo([B!, H!, TQ!], 'float32', lse),
      ];
    },
  });
  tf.registerKernel({
    kernelName: GRAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as unknown as Backend;
      const a = attrs as unknown as Attrs;
      const { q, k, v, out, lse, dout } = inputs as Record<string, tf.TensorInfo>;
      const [B, H, TQ, D] = q!.shape;
      const [, KVH, TK, DV] = v!.shape;
      const [qd, kd, vd, od, ld, gd] = [q, k, v, out, lse, dout].map((t) => read(be, t!));
      const dq = new Float32Array(qd!.length);
      const dk = new Float32Array(kd!.length);
      const dv = new Float32Array(vd!.length);
      for (let b = 0; b < B!; b++)
        for (let h = 0; h < H!; h++)
          for (let i = 0; i < TQ!; i++) {
            const g = Math.floor(h / (H! / KVH!));
            const row = (b * H! + h) * TQ! + i;
            const l = rowLogits(qd!, kd!, [B!, H!, TQ!, D!, KVH!, TK!], a, b, h, i);
            let delta = 0;
            for (let c = 0; c < DV!; c++) delta += gd![row * DV! + c]! * od![row * DV! + c]!;
            for (let j = 0; j < TK!; j++) {
              const kv = (b * KVH! + g) * TK! + j;
              if (ld![row] === Infinity) {
                for (let c = 0; c < DV!; c++) dv[kv * DV! + c] += gd![row * DV! + c]! / TK!;
                continue;
              }
              if (l[j] === null) continue;
              const p = Math.exp(l[j]! - ld![row]!);
              let dp = 0;
              for (let c = 0; c < DV!; c++) {
                dp += gd![row * DV! + c]! * vd![kv * DV! + c]!;
                dv[kv * DV! + c] += p * gd![row * DV! + c]!;
              }
              const ds = p * (dp - delta) * a.scale;
              for (let c = 0; c < D!; c++) {
                dq[row * D! + c] += ds * kd![kv * D! + c]!;
                dk[kv * D! + c] += ds * qd![row * D! + c]!;
              }
            }
          }
      return [
        be.makeTensorInfo(q!.shape, 'float32', dq),
        be.makeTensorInfo(k!.shape, 'float32', dk),
        be.makeTensorInfo(v!.shape, 'float32', dv),
      ];
    },
  });
  // As backend-native: the forward's gradient runs the gradient kernel on the output's cotangent.
  tf.registerGradient({
    kernelName: FUSED,
    inputsToSave: ['q', 'k', 'v'],
    outputsToSave: [true, true],
    gradFunc: (dy, saved, attrs) => {
      const [q, k, v, out, lse] = saved;
      const dout = Array.isArray(dy) ? dy[0]! : dy;
      const [dq, dk, dv] = tf
        .engine()
        .runKernel(GRAD, { q: q!, k: k!, v: v!, out: out!, lse: lse!, dout }, attrs) as tf.Tensor[];
      return { q: () => dq!, k: () => dk!, v: () => dv! };
    },
  });
}

describe('scaledDotProductAttention: logSumExp through the fused kernel', () => {
  let installed: string | undefined;
  beforeAll(() => {
    const backend = tf.getBackend();
    if (tf.getKernel(FUSED, backend) === undefined) {
      install(backend);
      installed = backend;
    }
  });
  afterAll(() => {
    if (!installed) return;
    tf.unregisterKernel(FUSED, installed);
    tf.unregisterKernel(GRAD, installed);
    tf.unregisterGradient(FUSED);
  });

  const rand = (shape: number[], seed: number) =>
    tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;

  function run(options: AttentionOptions, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) {
    const probe = rand([...q.shape.slice(0, 3), v.shape[3]], 90);
    const probeLse = tf.randomNormal(q.shape.slice(0, 3), 0, 1, 'float32', 91);
    const attend = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
        ...options,
        returnLogSumExp: true,
      });
    const r = attend(q, k, v);
    const grads = tf.grads((a, b, c) => {
      const o = attend(a, b, c);
      return tf.add(tf.sum(tf.mul(o.output, probe)), tf.sum(tf.mul(o.logSumExp!, probeLse)));
    })([q, k, v]);
    tf.dispose([probe, probeLse]);
    return { ...r, grads };
  }

  for (const [name, options, heads, kvHeads, tq] of [
    ['causal', { causal: true }, 2, 2, 6],
    ['window, GQA, decoding', { window: 3, scale: 0.6 }, 4, 2, 3],
    ['plain', {}, 2, 1, 5],
  ] as [string, AttentionOptions, number, number, number][]) {
    it(`equals the composite chunked form (${name}): output, lse and gradients through the lse`, () => {
      const q = rand([2, heads, tq, 4], 1);
      const k = rand([2, kvHeads, 6, 4], 2);
      const v = rand([2, kvHeads, 6, 3], 3);
      const before = fusedCalls;
      const fused = run(options, q, k, v);
      if (installed) expect(fusedCalls).toBeGreaterThan(before); // the fused path ran
      // A zero bias keeps the reference on the composite path (the kernel takes no bias).
      const bias = tf.zeros([1, 1, 1, 1]);
      const chunked = run({ ...options, chunkSize: 2, bias }, q, k, v);
      expectClose(fused.output, chunked.output, { atol: 1e-5, rtol: 0 });
      expectClose(fused.logSumExp!, chunked.logSumExp!, { atol: 1e-5, rtol: 0 });
      fused.grads.forEach((g, i) => expectClose(g, chunked.grads[i]!, { atol: 1e-4, rtol: 0 }));
    });
  }

  it("turns the kernel's +Infinity for a row with no visible key into -Infinity", () => {
    const q = rand([1, 1, 2, 4], 4);
    const k = rand([1, 1, 3, 4], 5);
    // The first query sits before every key.
    const options: AttentionOptions = { causal: true, queryPositions: [-1, 2] };
    const r = run(options, q, k, k);
    const lse = r.logSumExp!.dataSync();
    expect(lse[0]).toBe(-Infinity);
    expect(Number.isFinite(lse[1]!)).toBe(true);
    for (const g of r.grads) expect(g.dataSync().every(Number.isFinite)).toBe(true);
  });

  it('leaks nothing', async () => {
    const q = rand([1, 2, 3, 4], 6);
    await expectNoLeaks(() => {
      const r = run({ causal: true }, q, q, q);
      tf.dispose([r.output, r.logSumExp!, ...r.grads]);
    });
  });
});
