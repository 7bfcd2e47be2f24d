import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError, ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import { Based, BasedState, KVCache, LinearState } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

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
  fs.readFileSync(path.join(__dirname, '../fixtures/linear-batch-c.json'), 'utf8'),
) as { cases: Case[] };
const golden = fixture.cases.find((c) => c.name === 'based')!;

type Mixer = Module & TokenMixer;
const make = (extra: object = {}) =>
  build<Mixer>({ type: 'based', dModel: 8, numHeads: 2, featureDim: 3, window: 3, ...extra });

/** Runs x through m `step` tokens at a time with one state; the outputs concatenated. */
function decode(m: Mixer, x: tf.Tensor3D, step: number): tf.Tensor3D {
  const state = m.initState!(x.shape[0]);
  const outs: tf.Tensor[] = [];
  for (let s = 0; s < x.shape[1]; s += step) {
    const n = Math.min(step, x.shape[1] - s);
    outs.push(m.forward(tf.slice(x, [0, s, 0], [-1, n, -1]) as tf.Tensor3D, { state }));
  }
  state.dispose();
  return tf.concat(outs, 1) as tf.Tensor3D;
}

describe('based (Arora et al. 2024)', () => {
  it('output and input gradient match the PyTorch quadratic form (Taylor linear + window softmax)', () => {
    const m = build<Mixer>(golden.config);
    m.loadStateDict(
      Object.fromEntries(
        Object.entries(golden.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
      ),
    );
    const x = tf.tensor3d(golden.x, golden.shape);
    const probe = tf.tensor3d(golden.probe, golden.shape);
    expectClose(m.forward(x), tf.tensor3d(golden.y, golden.shape), { atol: 3e-5, rtol: 1e-4 });
    const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
      x,
    );
    expectClose(g, tf.tensor3d(golden.gradX, golden.shape), { atol: 3e-5, rtol: 1e-4 });
    m.dispose();
  });

  it('chunk == parallel == recurrent decoding past the window, outputs and gradients', () => {
    const x = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const probe = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 4);
    const chunk = make({ chunkSize: 2 });
    const parallel = make({ form: 'parallel' });
    parallel.loadStateDict(chunk.stateDict());
    const full = chunk.forward(x);
    expectClose(full, parallel.forward(x), { atol: 1e-4 });
    for (const step of [1, 4]) expectClose(decode(chunk, x, step), full, { atol: 1e-4 });
    const gradOf = (m: Mixer) =>
      tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(x);
    expectClose(gradOf(chunk), gradOf(parallel), { atol: 1e-4 });
    [chunk, parallel].forEach((m) => m.dispose());
  });

  it('state: a LinearState and a window-bounded KVCache; constant size however long', () => {
    const m = make();
    const state = m.initState!(1) as BasedState;
    expect(state).toBeInstanceOf(BasedState);
    expect(state.linear).toBeInstanceOf(LinearState);
    expect(state.window).toBeInstanceOf(KVCache);
    const bytes: number[] = [];
    for (let t = 0; t < 7; t++) {
      tf.tidy(() =>
        m.forward(tf.randomNormal([1, 1, 8], 0, 1, 'float32', t) as tf.Tensor3D, { state }),
      );
      bytes.push(state.bytes);
    }
    expect(state.length).toBe(7);
    expect(state.window.keys!.shape[2]).toBeLessThanOrEqual(3);
    expect(Object.keys(state.tensors()).sort()).toEqual([
      'linear.kSum',
      'linear.kv',
      'window.keys',
      'window.values',
    ]);
    expect(bytes.slice(2).every((b) => b === bytes[2])).toBe(true);
    // kv [1, 2, 1 + 3 + 9, 4]: the Taylor map of featureDim 3.
    expect(state.tensors()['linear.kv']!.shape).toEqual([1, 2, 13, 4]);
    state.dispose();
    m.dispose();
  });

  it('refuses bad configs and contexts with typed errors, leaking nothing', async () => {
    expect(() => make({ featureDim: 0 })).toThrow(ConfigError);
    expect(() => make({ window: 1.5 })).toThrow(ConfigError);
    expect(() => make({ numHeads: 3 })).toThrow(/numHeads/);
    expect(() => make({ causal: false })).toThrow(/causal/);
    const m = make();
    const x = tf.randomNormal([1, 4, 8]) as tf.Tensor3D;
    const mask = tf.ones([1, 1, 4, 4], 'bool');
    const narrow = tf.zeros([1, 4, 6]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      expect(() => m.forward(x, { causal: false })).toThrow(AttnkitError);
      expect(() => m.forward(x, { mask })).toThrow(AttnkitError);
      const wrong = new LinearState();
      expect(() => m.forward(x, { state: wrong })).toThrow(/BasedState/);
      wrong.dispose();
      expect(() => m.forward(narrow)).toThrow(/dModel/);
    });
    const defaults = new Based({ type: 'based', dModel: 8, numHeads: 2 });
    expect(defaults.capabilities.stateGrowth).toBe('constant');
    expect(defaults.q.weight.shape).toEqual([8, 32]); // featureDim 16 per head by default
    tf.dispose([x, mask, narrow]);
    [m, defaults].forEach((b) => b.dispose());
  });
});
