import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, type Module, type TokenMixer } from '@attnkit/core';
import {
  NsaState,
  compressedAttention,
  scaledDotProductAttention,
  windowAttention,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/nsa_reference.py (PyTorch, token by token).
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/nsa.json'), 'utf8'),
) as { cases: Case[] };

const rand = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;
const mixer = (extra: object = {}) =>
  build<Module & TokenMixer>({
    type: 'nsa',
    dModel: 8,
    numHeads: 2,
    blockSize: 2,
    numSelected: 2,
    window: 3,
    ...extra,
  });

describe('nsa (Yuan et al. 2025)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match PyTorch',
    (_name, c) => {
      const m = build<Module & TokenMixer>(c.config);
      m.loadStateDict(
        Object.fromEntries(
          Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
        ),
      );
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
      const g = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
      )(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      m.dispose();
    },
  );

  it('the sparse form equals the dense-masked one: outputs, input and parameter gradients', () => {
    const sparse = mixer({ numKvHeads: 1, numSelected: 3, blockSize: 3 });
    const dense = mixer({ numKvHeads: 1, numSelected: 3, blockSize: 3, form: 'dense' });
    dense.loadStateDict(sparse.stateDict());
    const x = tf.randomNormal([2, 14, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
    const probe = tf.randomNormal([2, 14, 8], 0, 1, 'float32', 2);
    expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(1e-4);
    const grads = (m: Module & TokenMixer) =>
      tf.variableGrads(
        () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar,
        m.parameters().filter((v) => v.trainable),
      ).grads;
    const [gs, gd] = [grads(sparse), grads(dense)];
    const names = sparse.parameters().map((v) => v.name);
    const denseNames = dense.parameters().map((v) => v.name);
    names.forEach((n, i) => {
      expect(maxAbsDiff(gs[n]!, gd[denseNames[i]!]!)).toBeLessThanOrEqual(1e-4);
    });
    const gx = (m: Module & TokenMixer) =>
      tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(x);
    expect(maxAbsDiff(gx(sparse), gx(dense))).toBeLessThanOrEqual(1e-4);
    [sparse, dense].forEach((m) => m.dispose());
  });

  it('the window op equals sdpa with a causal window (outputs, gradients)', () => {
    const [q, k, v] = [rand([1, 4, 3, 4], 3), rand([1, 2, 9, 4], 4), rand([1, 2, 9, 4], 5)];
    const f = (use: 'op' | 'sdpa') => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.square(
          use === 'op'
            ? windowAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { window: 4 })
            : scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
                causal: true,
                window: 4,
              }).output,
        ),
      );
    const [a, b] = [tf.grads(f('op'))([q, k, v]), tf.grads(f('sdpa'))([q, k, v])];
    a.forEach((g, i) => expect(maxAbsDiff(g, b[i]!)).toBeLessThanOrEqual(1e-4));
  });

  it('the compressed branch sees complete blocks only; its scores are softmax rows', () => {
    const q = rand([1, 2, 6, 4], 6);
    const ck = rand([1, 2, 3, 4], 7);
    const { output, scores } = compressedAttention(q, ck, ck, { blockSize: 2, queryOffset: 0 });
    const s = scores.arraySync()[0]![0]!;
    expect(s[0]).toEqual([0, 0, 0]); // position 0: no complete block
    expect(s[1]![1]).toBe(0);
    expect(s[1]![0]).toBeCloseTo(1, 6);
    expect(s[3]![2]).toBe(0);
    expect(s[5]!.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
    expect(
      maxAbsDiff(tf.slice(output, [0, 0, 0, 0], [-1, -1, 1, -1]), tf.zeros([1, 2, 1, 4])),
    ).toBe(0);
  });

  it('decodes 11 tokens one at a time equal to the full forward, with a bounded window cache', () => {
    const m = mixer({ numHeads: 4, numKvHeads: 2, blockSize: 3, numSelected: 2, window: 2 });
    const x = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 8) as tf.Tensor3D;
    const full = m.forward(x);
    const state = m.initState!(2) as NsaState;
    const steps = [...Array(11).keys()].map((t) =>
      m.forward(tf.slice(x, [0, t, 0], [-1, 1, -1]) as tf.Tensor3D, { state }),
    );
    expect(maxAbsDiff(tf.concat(steps, 1), full)).toBeLessThanOrEqual(1e-4);
    expect(state.get('kWin')!.shape[2]).toBe(2);
    expect(state.get('cK')!.shape[2]).toBe(3);
    expect(state.get('kCmp')!.shape[2]).toBe(2); // the open block's raw keys
    state.dispose();
    m.dispose();
  });

  it('decodes with overlapping compression blocks (l = 4, stride 2) equal to the full forward', () => {
    const m = mixer({ blockSize: 4, compressBlock: 4, compressStride: 2, numSelected: 2 });
    const x = tf.randomNormal([1, 13, 8], 0, 1, 'float32', 16) as tf.Tensor3D;
    const full = m.forward(x);
    const state = m.initState!(1) as NsaState;
    const steps = [0, 3, 4, 9, 13].slice(1).map((end, i, ends) => {
      const start = i === 0 ? 0 : ends[i - 1]!;
      return m.forward(tf.slice(x, [0, start, 0], [-1, end - start, -1]) as tf.Tensor3D, { state });
    });
    expect(maxAbsDiff(tf.concat(steps, 1), full)).toBeLessThanOrEqual(1e-4);
    expect(state.get('cK')!.shape[2]).toBe(5); // blocks at 0, 2, 4, 6, 8 (the last ends at 11)
    state.dispose();
    m.dispose();
  });

  it('computes no [t, t] tensor at t = 256', async () => {
    const m = mixer({ blockSize: 16, numSelected: 2, window: 16 });
    const x = tf.randomNormal([1, 256, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const info = await tf.profile(() => m.forward(x));
    const largest = Math.max(
      ...info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((s) => s.reduce((p, d) => p * d, 1)),
      ),
    );
    // Compressed logits [2 heads, 256, 16 blocks]; gathered blocks and windows [512, 16, 4].
    expect(largest).toBeLessThan(256 * 256);
    expect(largest).toBeLessThanOrEqual(2 * 256 * 16 * 4);
    m.dispose();
  });

  it('training and decoding leak nothing', async () => {
    const m = mixer();
    const x = tf.randomNormal([1, 7, 8], 0, 1, 'float32', 10) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      const state = m.initState!(1);
      for (let t = 0; t < 7; t++) {
        tf.tidy(() => {
          m.forward(tf.slice(x, [0, t, 0], [-1, 1, -1]) as tf.Tensor3D, { state });
        });
      }
      state.dispose();
    });
    m.dispose();
  });

  it('reports its selected blocks to context.probe', () => {
    const m = mixer({ numKvHeads: 1, numSelected: 3 });
    const events: { name: string; value: unknown }[] = [];
    m.forward(tf.randomNormal([1, 8, 8], 0, 1, 'float32', 15) as tf.Tensor3D, {
      probe: (e) => events.push(e),
    });
    expect(events.map((e) => e.name)).toEqual(['selectedBlocks[1,2,8,2]']);
    const value = events[0]!.value as number[];
    // One kv head: both query heads read the same choice.
    expect(value.slice(0, 16)).toEqual(value.slice(16));
    m.dispose();
  });

  it('refuses bad input with typed one-line errors', () => {
    expect(() => mixer({ blockSize: 0 })).toThrow(ConfigError);
    expect(() => mixer({ numSelected: 0 })).toThrow(ConfigError);
    expect(() => mixer({ window: 1.5 })).toThrow(ConfigError);
    expect(() => mixer({ numKvHeads: 3 })).toThrow(/numKvHeads/);
    expect(() => mixer({ form: 'fast' })).toThrow(ConfigError);
    expect(() => mixer({ compressBlock: 4, compressStride: 3 })).toThrow(/compressStride/);
    expect(() => mixer({ blockSize: 3, compressBlock: 4, compressStride: 2 })).toThrow(ConfigError);
    const q = rand([1, 2, 4, 4], 11);
    expect(() => windowAttention(q, q, q, { window: 0 })).toThrow(/windowAttention: window/);
    expect(() => windowAttention(rand([1, 2, 5, 4], 12), q, q, { window: 2 })).toThrow(ConfigError);
    expect(() =>
      compressedAttention(q, rand([1, 2, 3, 5], 13), q, { blockSize: 2, queryOffset: 0 }),
    ).toThrow(ShapeError);
    const m = mixer();
    expect(() => m.forward(tf.zeros([1, 4, 8]) as tf.Tensor3D, { causal: false })).toThrow(
      ConfigError,
    );
    m.dispose();
  });
});
