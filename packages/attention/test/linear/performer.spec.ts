import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  Rng,
  StateDictError,
  build,
  loadModule,
  saveModule,
  type Module,
} from '@attnkit/core';
import { Performer, makeFeatureMap, type PerformerConfig } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { casesOf, checkGolden, outputAndGrads } from './batch-a-fixture';

const make = (extra: Partial<PerformerConfig> = {}, seed = 3) =>
  new Performer(
    { type: 'performer', dModel: 8, numHeads: 2, numFeatures: 6, ...extra },
    { rng: new Rng(seed) },
  );
const input = (t = 7, seed = 2) => tf.randomNormal([2, t, 8], 0, 1, 'float32', seed) as tf.Tensor3D;
const projectionOf = (m: Performer) => Array.from(m.projection.dataSync());

describe('performer (Choromanski et al. 2021, FAVOR+)', () => {
  it.each(casesOf('performer'))(
    '%s: with the projection loaded, output and input gradient match PyTorch',
    (_name, c) => checkGolden(c),
  );

  it('chunk == parallel (outputs and gradients) == recurrent decoding, causal', () => {
    const chunk = make({ chunkSize: 3 });
    const parallel = make({ form: 'parallel' }, 99);
    parallel.loadStateDict(chunk.stateDict());
    const x = input();
    const a = outputAndGrads(chunk, x);
    const b = outputAndGrads(parallel, x);
    expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
    a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!)).toBeLessThanOrEqual(1e-4));
    const state = chunk.initState(2);
    const steps = [0, 1, 2, 3, 4, 5, 6].map((i) =>
      chunk.forward(tf.slice(x, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D, { state }),
    );
    expect(maxAbsDiff(tf.concat(steps, 1), a.y)).toBeLessThanOrEqual(1e-4);
    state.dispose();
    [chunk, parallel].forEach((m) => m.dispose());
  });

  it('bidirectional: chunk == parallel, and later tokens do change earlier outputs', () => {
    const chunk = make({ causal: false });
    const parallel = make({ causal: false, form: 'parallel' });
    parallel.loadStateDict(chunk.stateDict());
    const x = input();
    const a = outputAndGrads(chunk, x);
    const b = outputAndGrads(parallel, x);
    expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
    a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!)).toBeLessThanOrEqual(1e-4));
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [-1, 6, -1]), tf.ones([2, 1, 8])], 1);
    const head = (y: tf.Tensor) => tf.slice(y, [0, 0, 0], [-1, 6, -1]);
    expect(maxAbsDiff(head(chunk.forward(changed as tf.Tensor3D)), head(a.y))).toBeGreaterThan(
      1e-3,
    );
    [chunk, parallel].forEach((m) => m.dispose());
  });

  it('with many features it approaches softmax attention (few features do not)', () => {
    const x = tf.mul(input(5), 0.3) as tf.Tensor3D;
    const errorWith = (numFeatures: number) => {
      const p = make({ numFeatures, causal: true }).eval();
      const exact = build<Module & { forward(x: tf.Tensor3D): tf.Tensor3D }>({
        type: 'mha',
        dModel: 8,
        numHeads: 2,
      });
      const { projection: _, ...weights } = p.stateDict();
      exact.loadStateDict(weights);
      const diff = maxAbsDiff(p.forward(x), exact.forward(x));
      [p, exact].forEach((m) => m.dispose());
      return diff;
    };
    const many = errorWith(512); // ~0.01 here; the error falls as 1/√m
    expect(many).toBeLessThan(0.03);
    expect(errorWith(2)).toBeGreaterThan(2 * many);
  });

  it('the projection is a non-trainable parameter the forward uses, saved and loaded with the rest', () => {
    const a = make();
    const b = make({}, 42);
    expect(a.stateDict().projection!.shape).toEqual([4, 6]);
    expect(a.projection.trainable).toBe(false);
    expect(a.trainableParameters()).not.toContain(a.projection);
    const x = input();
    expect(maxAbsDiff(a.forward(x), b.forward(x))).toBeGreaterThan(1e-4);
    b.loadStateDict(a.stateDict());
    expectClose(b.forward(x), a.forward(x), { atol: 1e-6 });
    const bad = { ...a.stateDict(), projection: tf.zeros([4, 5]) };
    expect(() => b.loadStateDict(bad)).toThrow(StateDictError);
    [a, b].forEach((m) => m.dispose());
  });

  it('saveModule and loadModule carry the projection (after a redraw, too)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'performer-'));
    const m = make({ redrawInterval: 1 });
    const x = input(3);
    for (let i = 0; i < 2; i++) m.forward(x).dispose(); // the second forward redraws
    await saveModule(dir, m, { overwrite: true });
    const loaded = await loadModule<Performer>(dir, { rng: new Rng(1234) });
    expect(projectionOf(loaded)).toEqual(projectionOf(m));
    expectClose(loaded.eval().forward(x), m.eval().forward(x), { atol: 1e-6 });
    [m, loaded].forEach((mod) => mod.dispose());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('redraws only in training, only every redrawInterval forwards, from its seeded rng', () => {
    const m = make({ redrawInterval: 2 });
    const twin = make({ redrawInterval: 2 });
    const x = input(3);
    const seen: number[][] = [projectionOf(m)];
    for (let i = 0; i < 5; i++) {
      m.forward(x).dispose();
      seen.push(projectionOf(m));
    }
    // Forwards 1-2 use the initial draw, 3-4 a second, 5 a third.
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    expect(seen[3]).not.toEqual(seen[2]);
    expect(seen[4]).toEqual(seen[3]);
    expect(seen[5]).not.toEqual(seen[4]);
    for (let i = 0; i < 5; i++) twin.forward(x).dispose();
    expect(projectionOf(twin)).toEqual(seen[5]); // same seed, same draws
    // The output after a redraw uses the new projection: it equals a fresh module loaded with it.
    const loaded = make({}, 77);
    loaded.loadStateDict(m.stateDict());
    expectClose(loaded.eval().forward(x), m.eval().forward(x), { atol: 1e-6 });
    // Eval mode, context.training false, and decoding with a state never redraw.
    const fixed = projectionOf(m);
    for (let i = 0; i < 4; i++) m.forward(x).dispose();
    m.train();
    for (let i = 0; i < 4; i++) m.forward(x, { training: false }).dispose();
    const state = m.initState(2);
    for (let i = 0; i < 4; i++) m.forward(x, { state }).dispose();
    state.dispose();
    expect(projectionOf(m)).toEqual(fixed);
    [m, twin, loaded].forEach((mod) => mod.dispose());
  });

  it('redrawing and syncing under tidy leaks nothing and frees nothing it still needs', async () => {
    await expectNoLeaks(() => {
      const m = make({ redrawInterval: 1 });
      const x = input(3);
      for (let i = 0; i < 3; i++) m.forward(x).dispose();
      const next = tf.tidy(() => tf.add(m.projection, 0.1));
      m.projection.assign(next); // like an optimizer or loadStateDict
      next.dispose();
      m.eval();
      m.forward(x).dispose();
      expect(tf.tidy(() => tf.all(tf.isFinite(m.forward(x))).dataSync()[0])).toBe(1);
      x.dispose();
      m.dispose();
    });
  });

  it('refuses bad config with typed errors', () => {
    expect(() => make({ numFeatures: 0 })).toThrow(ConfigError);
    expect(() => make({ redrawInterval: -1 })).toThrow(ConfigError);
    expect(() => make({ redrawInterval: 1.5 })).toThrow(/redrawInterval/);
    expect(() => make({ featureMap: 'relu' } as never)).toThrow(ConfigError);
  });
});

describe('performer: bounded work for untrusted configs', () => {
  it('refuses a head size whose orthogonal draw would run for hours, before allocating', () => {
    const before = tf.memory().numTensors;
    const started = Date.now();
    expect(() => build({ type: 'performer', dModel: 16000, numHeads: 1, numFeatures: 1 })).toThrow(
      /performer: \$\.headDim expected headDim³·⌈numFeatures\/headDim⌉ <= 2\^32/,
    );
    expect(() => makeFeatureMap('softmax-kernel', { headDim: 4096, numFeatures: 8192 })).toThrow(
      ConfigError,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    expect(tf.memory().numTensors).toBe(before);
    // The sizes people use stay far inside the bound.
    const ok = build({ type: 'performer', dModel: 512, numHeads: 4, numFeatures: 1024 });
    ok.dispose();
  });
});
