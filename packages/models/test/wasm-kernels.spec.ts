import * as tf from '@tensorflow/tfjs-core';
import '@attnkit/core'; // registers gradients
import { AdamW } from '@attnkit/models';
import { patchWasmKernels, tileValues } from '../src/kernels/wasm';

const values = (shape: number[], seed: number) =>
  Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 1.3 + seed));

/** The cases the patched kernels must reproduce exactly: every transpose pair, batches, dtypes. */
function runCases(): number[][] {
  const out: number[][] = [];
  const pairs: [number[], number[]][] = [
    [
      [5, 3],
      [3, 4],
    ],
    [
      [2, 5, 3],
      [2, 3, 4],
    ],
    [
      [2, 2, 5, 3],
      [1, 1, 3, 4],
    ],
  ];
  for (const [sa, sb] of pairs) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const swap = (s: number[]) => [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];
        const a = tf.tensor(values(ta ? swap(sa) : sa, 1), ta ? swap(sa) : sa);
        const b = tf.tensor(values(tb ? swap(sb) : sb, 2), tb ? swap(sb) : sb);
        out.push(Array.from(tf.matMul(a, b, ta, tb).dataSync()));
      }
    }
  }
  out.push(Array.from(tf.tile(tf.tensor(values([2, 1, 3], 3), [2, 1, 3]), [2, 4, 1]).dataSync()));
  out.push(Array.from(tf.tile(tf.tensor([[1, 2]], [1, 2], 'int32'), [3, 2]).dataSync()));
  out.push(Array.from(tf.tile(tf.tensor([[true, false]], [1, 2], 'bool'), [2, 1]).dataSync()));
  out.push(Array.from(tf.tile(tf.reshape(tf.scalar(4), [1, 1, 1, 1]), [2, 2, 3, 1]).dataSync()));
  return out;
}

/** Three AdamW steps on one decayed matrix and one vector; returns the final values. */
function adamSteps(gradScale = 1): number[][] {
  const [w, b] = tf.tidy(() => [
    tf.variable(tf.tensor(values([3, 4], 7), [3, 4])),
    tf.variable(tf.tensor(values([4], 8), [4])),
  ]);
  const opt = new AdamW(
    new Map([
      ['layers.0.w', w],
      ['layers.0.b', b],
    ]),
    { weightDecay: 0.1 },
  );
  for (let step = 0; step < 3; step++) {
    const grads = new Map([
      ['layers.0.w', tf.tensor(values([3, 4], 10 + step), [3, 4])],
      ['layers.0.b', tf.tensor(values([4], 20 + step), [4])],
    ]);
    opt.step(grads, 0.01 * (step + 1), { gradScale });
    tf.dispose([...grads.values()]);
  }
  const out = [Array.from(w.dataSync()), Array.from(b.dataSync())];
  opt.dispose();
  tf.dispose([w, b]);
  return out;
}

describe('wasm kernel fast paths', () => {
  it('tiles like tf.tile, innermost axis first', () => {
    const x = Float32Array.from(values([2, 3], 0));
    const { values: v, shape } = tileValues(x, [2, 3], [2, 3]);
    expect(shape).toEqual([4, 9]);
    expect(Array.from(v)).toEqual(Array.from(tf.tile(tf.tensor(x, [2, 3]), [2, 3]).dataSync()));
    expect(tileValues(new Float32Array(0), [0, 2], [3, 1]).shape).toEqual([0, 2]);
  });

  it('give the same outputs as the kernels they replace, and leak nothing', async () => {
    const previous = tf.getBackend();
    await import('@tensorflow/tfjs-backend-wasm');
    expect(await tf.setBackend('wasm')).toBe(true);
    try {
      const reference = tf.tidy(runCases);
      const adamReference = adamSteps();
      const clippedReference = adamSteps(0.43);
      expect(patchWasmKernels()).toBe(true);
      expect(tf.getKernel('AttnkitAdamW', 'wasm')).toBeDefined();
      const before0 = tf.memory().numTensors;
      expect(adamSteps()).toEqual(adamReference); // fused: the same bits as the ops
      expect(adamSteps(0.43)).toEqual(clippedReference);
      expect(tf.memory().numTensors).toBe(before0);
      expect(patchWasmKernels()).toBe(false); // once only
      const before = tf.memory().numTensors;
      const patched = tf.tidy(runCases);
      expect(tf.memory().numTensors).toBe(before);
      expect(patched).toEqual(reference);
      // gradients run through the same kernels
      const a = tf.tensor(values([4, 3], 5), [4, 3]);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, x, true, false)))(a);
      expect(g.shape).toEqual([4, 3]);
      tf.dispose([a, g]);
    } finally {
      await tf.setBackend(previous);
    }
  });
});
