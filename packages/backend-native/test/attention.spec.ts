import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { FUSED_ATTENTION, type FusedAttentionAttrs } from '../src/index';
import { rand } from './helpers';

interface Case {
  b: number;
  h: number;
  kvh: number;
  tq: number;
  tk: number;
  d: number;
  dv: number;
  causal: boolean;
  window?: number;
  qpos?: number[];
}

function attrsOf(c: Case, scale = 1 / Math.sqrt(c.d)): FusedAttentionAttrs {
  return {
    scale,
    causal: c.causal,
    window: c.window ?? 0,
    queryPositions: c.qpos ?? Array.from({ length: c.tq }, (_, i) => c.tk - c.tq + i),
    keyPositions: Array.from({ length: c.tk }, (_, j) => j),
  };
}

/** The composite: repeat kv heads, masked logits at -1e9 (as @attnkit/core's applyMask), softmax. */
function reference(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  c: Case,
  a: FusedAttentionAttrs,
): tf.Tensor {
  const group = c.h / c.kvh;
  const rep = (x: tf.Tensor) =>
    tf.reshape(tf.tile(tf.reshape(x, [c.b, c.kvh, 1, -1]), [1, 1, group, 1]), [c.b, c.h, c.tk, -1]);
  let logits = tf.mul(tf.matMul(q, rep(k), false, true), a.scale);
  if (a.causal || a.window > 0) {
    const qp = tf.tensor2d(a.queryPositions, [c.tq, 1], 'int32');
    const kp = tf.tensor2d(a.keyPositions, [1, c.tk], 'int32');
    let mask = tf.lessEqual(kp, qp);
    if (a.window > 0) mask = tf.logicalAnd(mask, tf.less(tf.sub(qp, kp), a.window));
    logits = tf.where(tf.reshape(mask, [1, 1, c.tq, c.tk]), logits, tf.scalar(-1e9));
  }
  return tf.matMul(tf.softmax(logits), rep(v));
}

function fused(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, a: FusedAttentionAttrs): tf.Tensor {
  const [out] = tf
    .engine()
    .runKernel(FUSED_ATTENTION, { q, k, v }, a as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return out!;
}

async function compare(c: Case, tol = 2e-5) {
  const q = rand([c.b, c.h, c.tq, c.d], 1);
  const k = rand([c.b, c.kvh, c.tk, c.d], 2);
  const v = rand([c.b, c.kvh, c.tk, c.dv], 3);
  const w = rand([c.b, c.h, c.tq, c.dv], 4); // weights the output so gradients are not trivial
  const a = attrsOf(c);
  const initial = tf.getBackend();
  await tf.setBackend('cpu');
  const want = tf.tidy(() => {
    const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
      tf.sum(tf.mul(reference(x, y, z, c, a), w));
    return [reference(q, k, v, c, a), ...tf.grads(f)([q, k, v])];
  });
  await tf.setBackend('native');
  const got = tf.tidy(() => {
    const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(fused(x, y, z, a), w));
    return [fused(q, k, v, a), ...tf.grads(f)([q, k, v])];
  });
  await tf.setBackend(initial);
  ['out', 'dq', 'dk', 'dv'].forEach((name, i) => {
    expect({ name, shape: got[i]!.shape }).toEqual({ name, shape: want[i]!.shape });
    const g = got[i]!.dataSync();
    const r = want[i]!.dataSync();
    let worst = 0;
    for (let j = 0; j < r.length; j++) worst = Math.max(worst, Math.abs(g[j]! - r[j]!));
    expect({ name, worst: worst <= tol ? 'ok' : worst }).toEqual({ name, worst: 'ok' });
  });
  tf.dispose([q, k, v, w, ...want, ...got]);
}

describe('AttnkitFusedAttention (native)', () => {
  const cases: Array<[string, Case]> = [
    ['one query, one key', { b: 1, h: 1, kvh: 1, tq: 1, tk: 1, d: 4, dv: 4, causal: true }],
    ['causal, odd sizes', { b: 2, h: 3, kvh: 3, tq: 37, tk: 37, d: 7, dv: 5, causal: true }],
    ['not causal, tq != tk', { b: 1, h: 2, kvh: 2, tq: 5, tk: 70, d: 8, dv: 3, causal: false }],
    ['GQA 4 heads on 2', { b: 2, h: 4, kvh: 2, tq: 33, tk: 33, d: 16, dv: 16, causal: true }],
    [
      'MQA, several key blocks',
      { b: 1, h: 4, kvh: 1, tq: 70, tk: 150, d: 16, dv: 8, causal: true },
    ],
    [
      'sliding window',
      { b: 1, h: 2, kvh: 1, tq: 90, tk: 90, d: 8, dv: 8, causal: true, window: 7 },
    ],
    [
      'decode step (tq 1 of tk 65)',
      { b: 2, h: 4, kvh: 2, tq: 1, tk: 65, d: 16, dv: 16, causal: true },
    ],
    [
      'explicit positions with fully masked rows',
      { b: 1, h: 2, kvh: 1, tq: 4, tk: 6, d: 4, dv: 4, causal: true, qpos: [-2, 0, 3, -1] },
    ],
    // Heads of 32 and more take the register-blocked backward products.
    [
      'd 32, GQA, several blocks',
      { b: 2, h: 4, kvh: 2, tq: 70, tk: 70, d: 32, dv: 32, causal: true },
    ],
    [
      'd 40 / dv 33 (no fixed width), not causal',
      { b: 1, h: 2, kvh: 2, tq: 35, tk: 67, d: 40, dv: 33, causal: false },
    ],
    [
      'd 64, sliding window',
      { b: 1, h: 2, kvh: 1, tq: 80, tk: 80, d: 64, dv: 64, causal: true, window: 9 },
    ],
    [
      'd 32, fully masked rows',
      { b: 1, h: 2, kvh: 1, tq: 4, tk: 6, d: 32, dv: 32, causal: true, qpos: [-2, 0, 3, -1] },
    ],
    [
      'threaded: 8 heads, T 256, d 64',
      { b: 1, h: 8, kvh: 8, tq: 256, tk: 256, d: 64, dv: 64, causal: true },
    ],
  ];
  it.each(cases)('output and gradients match the composite: %s', async (_name, c) => {
    await compare(c, c.tq >= 160 ? 5e-5 : 2e-5);
  });

  it('rejects inconsistent shapes, dtypes and positions with an error, not a crash', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const q = rand([1, 2, 3, 4], 1);
    const k = rand([1, 2, 5, 4], 2);
    const bad = rand([1, 3, 5, 4], 3);
    const a = attrsOf({ b: 1, h: 2, kvh: 2, tq: 3, tk: 5, d: 4, dv: 4, causal: true });
    const run =
      (inputs: tf.NamedTensorMap, attrs: FusedAttentionAttrs = a) =>
      () =>
        tf.engine().runKernel(FUSED_ATTENTION, inputs, attrs as unknown as tf.NamedAttrMap);
    expect(run({ q, k, v: bad })).toThrow(/v must be/);
    expect(run({ q, k: bad, v: bad })).toThrow(/do not divide/);
    expect(run({ q: tf.cast(q, 'int32'), k, v: k })).toThrow(/q must be float32/);
    expect(run({ q, k, v: k }, { ...a, keyPositions: [0, 1] })).toThrow(/keyPositions needs 5/);
    expect(run({ q: tf.reshape(q, [2, 3, 4]), k, v: k })).toThrow(/rank 4/);
    tf.dispose([q, k, bad]);
    await tf.setBackend(initial);
  });

  it('leaks no tensors, forward and backward', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const q = rand([1, 2, 5, 4], 1);
    const k = rand([1, 1, 5, 4], 2);
    const a = attrsOf({ b: 1, h: 2, kvh: 1, tq: 5, tk: 5, d: 4, dv: 4, causal: true });
    await expectNoLeaks(() => {
      tf.tidy(() => {
        tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(fused(x, y, y, a)))([q, k]);
      });
    });
    tf.dispose([q, k]);
    await tf.setBackend(initial);
  });
});
