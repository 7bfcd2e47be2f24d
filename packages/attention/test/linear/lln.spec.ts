import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError, ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention';
import type { Lln, LinearState } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  sigma: [number, number];
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/linear-batch-c.json'), 'utf8'),
) as { cases: Case[] };
const golden = fixture.cases.find((c) => c.name === 'lln')!;

const make = (extra: object = {}) =>
  build<Lln>({ type: 'lln', dModel: 8, numHeads: 2, ...extra }) as Lln & TokenMixer;
const read = (v: tf.Tensor) => v.dataSync()[0]!;

function decode(m: Module & TokenMixer, x: tf.Tensor3D, step: number): tf.Tensor3D {
  const state = m.initState!(x.shape[0]);
  const outs: tf.Tensor[] = [];
  for (let s = 0; s < x.shape[1]; s += step) {
    const n = Math.min(step, x.shape[1] - s);
    outs.push(m.forward(tf.slice(x, [0, s, 0], [-1, n, -1]) as tf.Tensor3D, { state }));
  }
  state.dispose();
  return tf.concat(outs, 1) as tf.Tensor3D;
}

describe('lln (Nahshan et al. 2023)', () => {
  it('training: batch moment matching; output and input gradient match PyTorch', () => {
    const m = build<Lln>(golden.config);
    m.loadStateDict({
      ...Object.fromEntries(
        Object.entries(golden.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
      ),
      sigmaQ: tf.scalar(1),
      sigmaK: tf.scalar(1),
    });
    const x = tf.tensor3d(golden.x, golden.shape);
    const probe = tf.tensor3d(golden.probe, golden.shape);
    expectClose(m.forward(x), tf.tensor3d(golden.y, golden.shape), { atol: 3e-5, rtol: 1e-4 });
    expectClose([read(m.sigmaQ), read(m.sigmaK)], golden.sigma, { atol: 1e-5, rtol: 1e-5 });
    const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
      x,
    );
    expectClose(g, tf.tensor3d(golden.gradX, golden.shape), { atol: 3e-5, rtol: 1e-4 });
    m.dispose();
  });

  it('evaluation and decoding use the kept estimates: chunk == parallel == recurrent', () => {
    const x = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
    const probe = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 6);
    const chunk = make({ chunkSize: 2 });
    const parallel = make({ form: 'parallel' });
    parallel.loadStateDict(chunk.stateDict());
    // Training: both measure the same batch, so forms agree in output and gradient.
    expectClose(chunk.forward(x), parallel.forward(x), { atol: 1e-4 });
    const gradOf = (m: Module & TokenMixer) =>
      tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(x);
    expectClose(gradOf(chunk), gradOf(parallel), { atol: 1e-4 });
    // Evaluation on another input keeps the training estimates; decoding matches it.
    const kept = [read(chunk.sigmaQ), read(chunk.sigmaK)];
    chunk.eval();
    parallel.eval();
    const other = tf.mul(x, 3) as tf.Tensor3D;
    const full = chunk.forward(other);
    expectClose(full, parallel.forward(other), { atol: 1e-4 });
    for (const step of [1, 4]) expectClose(decode(chunk, other, step), full, { atol: 1e-4 });
    expectClose([read(chunk.sigmaQ), read(chunk.sigmaK)], kept);
    [chunk, parallel].forEach((m) => m.dispose());
  });

  it('momentum < 1 keeps a running average; decoding in training mode leaves it alone', () => {
    const x = tf.randomNormal([1, 6, 8], 0, 1, 'float32', 7) as tf.Tensor3D;
    const once = make();
    const running = make({ momentum: 0.25 });
    running.loadStateDict(once.stateDict());
    once.forward(x); // momentum 1: the batch's own σ
    running.forward(x);
    const batch = read(once.sigmaQ);
    expect(batch).not.toBeCloseTo(1, 3);
    expect(read(running.sigmaQ)).toBeCloseTo(0.75 + 0.25 * batch, 5);
    const before = read(running.sigmaK);
    decode(running, x, 2);
    expect(read(running.sigmaK)).toBe(before);
    expect(Object.keys(running.stateDict())).toEqual(expect.arrayContaining(['sigmaQ', 'sigmaK']));
    expect(running.capabilities.strictlyCausal).toBe(false);
    [once, running].forEach((m) => m.dispose());
  });

  it('refuses bad configs and contexts with typed errors, leaking nothing', async () => {
    expect(() => make({ momentum: 0 })).toThrow(ConfigError);
    expect(() => make({ momentum: 1.5 })).toThrow(/momentum/);
    expect(() => make({ featureMap: 'relu' })).toThrow(ConfigError);
    const m = make();
    const x = tf.randomNormal([1, 4, 8]) as tf.Tensor3D;
    const mask = tf.ones([1, 1, 4, 4], 'bool');
    await expectNoLeaks(() => {
      expect(() => m.forward(x, { mask })).toThrow(AttnkitError);
      expect(() => m.forward(x, { state: {} as LinearState })).toThrow(/LinearState/);
    });
    tf.dispose([x, mask]);
    m.dispose();
  });
});
