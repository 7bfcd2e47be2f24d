import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import { LinearState, lightningDecays, retentionDecays } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
  /** Shapes of the weights that are not [dModel, dModel]. */
  shapes?: Record<string, number[]>;
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/linear-batch-b.json'), 'utf8'),
) as { cases: Case[] };

type Mixer = Module & TokenMixer;

function load(c: Case, extra: object): Mixer {
  const m = build<Mixer>({ ...c.config, ...extra });
  const d = c.shape[2];
  const shapeOf = (n: string) => c.shapes?.[n] ?? [d, d];
  m.loadStateDict(
    Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w, shapeOf(n))])),
  );
  return m;
}

const gradOf = (m: Mixer, x: tf.Tensor3D, probe: tf.Tensor3D) =>
  tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(x);

/** Token-by-token decoding through the mixer's state (the op's recurrent form). */
function decode(m: Mixer, x: tf.Tensor3D): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const state = m.initState!(b) as LinearState;
  const steps: tf.Tensor3D[] = [];
  for (let i = 0; i < t; i++) {
    steps.push(m.forward(tf.slice(x, [0, i, 0], [b, 1, d]), { state }));
  }
  state.dispose();
  return tf.concat(steps, 1);
}

describe('retnet, lightning and gla (decay-based linear mixers)', () => {
  const forms = [
    ['chunk, chunkSize 3', { chunkSize: 3 }],
    ['chunk, one chunk', {}],
    ['parallel', { form: 'parallel' }],
  ] as const;
  for (const c of fixture.cases) {
    it.each(forms.map(([n, e]) => [n, e] as const))(
      `${c.name} (%s): output and input gradient match the PyTorch float64 recurrence`,
      (_n, extra) => {
        const m = load(c, extra);
        const x = tf.tensor3d(c.x, c.shape);
        const probe = tf.tensor3d(c.probe, c.shape);
        expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
        expectClose(gradOf(m, x, probe), tf.tensor3d(c.gradX, c.shape), {
          atol: 3e-5,
          rtol: 1e-4,
        });
        m.dispose();
      },
    );

    it(`${c.name}: parallel == chunk == recurrent (outputs, input and weight gradients <= 1e-4)`, () => {
      const x = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const probe = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
      const chunk = load(c, { chunkSize: 4 });
      const parallel = load(c, { form: 'parallel' });
      expect(maxAbsDiff(chunk.forward(x), parallel.forward(x))).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(decode(chunk, x), parallel.forward(x))).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(gradOf(chunk, x, probe), gradOf(parallel, x, probe))).toBeLessThanOrEqual(
        1e-4,
      );
      const weightGrads = (m: Mixer) =>
        tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar).grads;
      const [gc, gp] = [weightGrads(chunk), weightGrads(parallel)];
      // Same parameters, created in the same order: compare them pairwise.
      const [vc, vp] = [Object.values(gc), Object.values(gp)];
      expect(vc.length).toBe(vp.length);
      vc.forEach((g, i) => expect(maxAbsDiff(g, vp[i]!)).toBeLessThanOrEqual(1e-4));
      chunk.dispose();
      parallel.dispose();
    });
  }

  it.each(['retnet', 'lightning', 'gla'])(
    '%s with grouped key/value heads: token-by-token decoding equals the chunked forward',
    (type) => {
      const m = build<Mixer>({ type, dModel: 16, numHeads: 4, numKvHeads: 2, chunkSize: 3 });
      const x = tf.randomNormal([2, 7, 16], 0, 1, 'float32', 11) as tf.Tensor3D;
      expect(maxAbsDiff(decode(m, x), m.forward(x))).toBeLessThanOrEqual(1e-4);
      m.dispose();
    },
  );

  it('decays follow the papers: RetNet 1 - 2^(-5-h), TransNormerLLM exp(-(8h/H)(1 - l/L))', () => {
    expect(retentionDecays(3)).toEqual([1 - 1 / 32, 1 - 1 / 64, 1 - 1 / 128]);
    const lam = lightningDecays(4, 1, 2);
    lam.forEach((l, i) => expect(l).toBeCloseTo(Math.exp((-8 * (i + 1) * 0.5) / 4), 12));
    expect(lam.every((l) => l > 0 && l < 1)).toBe(true);
  });

  it('refuses bad configs with typed one-line errors before allocating', () => {
    const base = { dModel: 8, numHeads: 2 };
    for (const type of ['retnet', 'lightning', 'gla']) {
      expect(() => build({ type, ...base, causal: false })).toThrow(ConfigError);
      expect(() => build({ type, ...base, causal: false })).toThrow(/causal/);
      expect(() => build({ type, ...base, featureMap: 'relu' })).toThrow(/featureMap/);
      expect(() => build({ type, ...base, numHeads: 3 })).toThrow(/numHeads/);
      expect(() => build({ type, ...base, chunkSize: 0 })).toThrow(/chunkSize/);
    }
    expect(() => build({ type: 'lightning', ...base, layerIndex: 2, numLayers: 2 })).toThrow(
      /lightning: layerIndex .*expected < numLayers=2, got 2/,
    );
    expect(() => build({ type: 'lightning', ...base, eps: -1 })).toThrow(/eps/);
    expect(() => build({ type: 'gla', ...base, gateRank: 0 })).toThrow(/gateRank/);
    expect(() => build({ type: 'gla', ...base, gateTemperature: 0 })).toThrow(/gateTemperature/);
  });

  it.each(['retnet', 'lightning', 'gla'])(
    '%s refuses an encoder call (causal: false in the context) and a wrong-width input',
    (type) => {
      const m = build<Mixer>({ type, dModel: 8, numHeads: 2 });
      const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
      expect(() => m.forward(x, { causal: false })).toThrow(/causal/);
      expect(() => m.forward(tf.zeros([1, 3, 6]) as tf.Tensor3D)).toThrow(new RegExp(type));
      m.dispose();
    },
  );
});
