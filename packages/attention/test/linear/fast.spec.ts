import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, build, type Module, type TokenMixer } from '@attnkit/core';
import {
  Fast,
  fastmaxFeatures,
  fastmaxNormalize,
  linearAttention,
  makeFeatureMap,
  type FastConfig,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { outputAndGrads } from './batch-a-fixture';

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/fast.json'), 'utf8'),
) as { cases: Case[] };

const make = (extra: Partial<FastConfig> = {}, seed = 3) =>
  new Fast({ type: 'fast', dModel: 8, numHeads: 2, ...extra }, { rng: new Rng(seed) });
const input = (t: number, seed = 2) =>
  tf.randomNormal([2, t, 8], 0, 1, 'float32', seed) as tf.Tensor3D;

describe('fast (Fastmax, Gerami et al. 2024)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch quadratic form of the fastmax score',
    (_name, c) => {
      const m = build<Module & TokenMixer>(c.config);
      const d = c.shape[2];
      m.loadStateDict(
        Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor2d(w, [d, d])])),
      );
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
      const g = tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(m.forward(inp as tf.Tensor3D), probe)))(
        x,
      );
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      m.dispose();
    },
  );

  it('the features give φ(q)·φ(k) = 1 + s + s²/2 with s = q̂·k̂ in [-1, 1]', () => {
    const phi = makeFeatureMap('taylor', { headDim: 4 });
    const q = tf.randomNormal([5, 4], 0, 3, 'float32', 1);
    const k = tf.randomNormal([6, 4], 0, 3, 'float32', 2);
    const s = tf.matMul(fastmaxNormalize(q), fastmaxNormalize(k), false, true);
    const kernel = tf.matMul(
      fastmaxFeatures(q, phi, 'query'),
      fastmaxFeatures(k, phi, 'key'),
      false,
      true,
    );
    expectClose(kernel, tf.add(tf.add(1, s), tf.div(tf.square(s), 2)), { atol: 1e-5 });
    expect(tf.max(tf.abs(s)).dataSync()[0]).toBeLessThanOrEqual(1 + 1e-6);
    // Centred and unit norm: a shift of every feature or a rescale changes nothing.
    expectClose(fastmaxNormalize(tf.add(tf.mul(q, 7), 3)), fastmaxNormalize(q), { atol: 1e-5 });
    expect(() => fastmaxFeatures(tf.ones([2, 3]), phi, 'query')).toThrow(ShapeError);
    expect(() => fastmaxNormalize(tf.scalar(1))).toThrow(ShapeError);
    phi.dispose();
  });

  it.each([true, false])(
    'causal %s: parallel and chunked forms agree in outputs and every gradient',
    (causal) => {
      const chunk = make({ causal, chunkSize: 3 });
      const parallel = make({ causal, form: 'parallel' }, 9);
      parallel.loadStateDict(chunk.stateDict());
      const x = input(8);
      const a = outputAndGrads(chunk, x);
      const b = outputAndGrads(parallel, x);
      expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
      a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!)).toBeLessThanOrEqual(1e-4));
      [chunk, parallel].forEach((m) => m.dispose());
    },
  );

  it('the recurrent form on the fastmax features equals the chunked one (outputs, gradients)', () => {
    const phi = makeFeatureMap('taylor', { headDim: 4 });
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal([1, 2, 6, 4], 0, 1, 'float32', s));
    const probe = tf.randomNormal([1, 2, 6, 4], 0, 1, 'float32', 4);
    const attend = (form: 'chunk' | 'recurrent', qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => {
      const r = linearAttention(
        fastmaxFeatures(qq, phi, 'query') as tf.Tensor4D,
        fastmaxFeatures(kk, phi, 'key') as tf.Tensor4D,
        vv as tf.Tensor4D,
        { normalize: true, form, chunkSize: 4 },
      );
      tf.dispose([r.state.kv, r.state.kSum!]);
      return r.output;
    };
    const loss = (form: 'chunk' | 'recurrent') => (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
      tf.sum(tf.mul(attend(form, qq, kk, vv), probe));
    expect(
      maxAbsDiff(attend('chunk', q!, k!, v!), attend('recurrent', q!, k!, v!)),
    ).toBeLessThanOrEqual(1e-4);
    const ga = tf.grads(loss('chunk'))([q!, k!, v!]);
    const gb = tf.grads(loss('recurrent'))([q!, k!, v!]);
    ga.forEach((g, i) => expect(maxAbsDiff(g, gb[i]!)).toBeLessThanOrEqual(1e-4));
    phi.dispose();
  });

  it('a large input length stays finite (the score is bounded), and config errors are typed', async () => {
    await expectNoLeaks(() => {
      const m = make({ causal: false });
      const total = tf.tidy(() => tf.sum(m.forward(tf.mul(input(40), 50) as tf.Tensor3D)));
      expect(Number.isFinite(total.dataSync()[0]!)).toBe(true);
      total.dispose();
      m.dispose();
    });
    expect(() => make({ numHeads: 3 })).toThrow(ConfigError);
    expect(() => make({ featureMap: 'relu' } as never)).toThrow(/featureMap/);
  });
});
