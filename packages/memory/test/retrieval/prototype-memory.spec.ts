import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, estimateConfig } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import '../../src';
import type { PrototypeMemoryAttention } from '../../src';

interface Fixture {
  config: { type: string } & Record<string, unknown>;
  weights: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  gradSegment: number[];
  shape: [number, number, number];
  bankKeys: number[];
  bankValues: number[];
  bankShape: [number, number, number];
  refreshedKeys: number[];
  refreshedValues: number[];
}
const fixture = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/retrieval.json'), 'utf8')) as {
    prototype: Fixture;
  }
).prototype;

const make = (config: object) => build<PrototypeMemoryAttention>(config as { type: string });
const small = { type: 'prototype-memory', dModel: 8, numHeads: 2, numPrototypes: 2, bankSize: 8 };

/** The fixture's weights, each shaped like the module's parameter of that name. */
function load(m: PrototypeMemoryAttention): void {
  const params = m.namedParameters();
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(fixture.weights).map(([n, w]) => [n, tf.tensor(w, params.get(n)!.shape)]),
    ),
  );
}

describe('prototype-memory (Barraco et al. 2023)', () => {
  it('output and gradients (input, segment embedding) match the PyTorch script', () => {
    const m = make(fixture.config);
    load(m);
    const x = tf.tensor3d(fixture.x, fixture.shape);
    const probe = tf.tensor3d(fixture.probe, fixture.shape);
    m.eval();
    expectClose(m.forward(x), tf.tensor3d(fixture.y, fixture.shape), { atol: 1e-4 });
    const loss = () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
    const gx = tf.grad((input: tf.Tensor) =>
      tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
    )(x);
    expectClose(gx, tf.tensor3d(fixture.gradX, fixture.shape), { atol: 1e-4 });
    const { grads } = tf.variableGrads(loss, [m.memorySegment]);
    expectClose(
      grads[m.memorySegment.name]!,
      tf.tensor(fixture.gradSegment, m.memorySegment.shape),
      {
        atol: 1e-4,
      },
    );
    m.dispose();
  });

  it('refreshes its prototypes from the bank by the documented rule (k-means, value means)', () => {
    const m = make(fixture.config);
    const [h, n, d] = fixture.bankShape;
    expect(m.refreshPrototypes()).toBe(false); // empty bank: nothing to summarise
    for (let i = 0; i < h; i++) {
      const rows = (a: number[]) => Float32Array.from(a.slice(i * n * d, (i + 1) * n * d));
      m.banks[i]!.add(rows(fixture.bankKeys), rows(fixture.bankValues));
    }
    expect(m.refreshPrototypes()).toBe(true);
    expectClose(m.prototypeKeys, tf.tensor(fixture.refreshedKeys, m.prototypeKeys.shape), {
      atol: 1e-4,
    });
    expectClose(m.prototypeValues, tf.tensor(fixture.refreshedValues, m.prototypeValues.shape), {
      atol: 1e-4,
    });
    m.dispose();
  });

  it('records training forwards only, keeps its bank bounded, refreshes every n forwards', () => {
    const m = make({ ...small, refreshEvery: 3 });
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
    m.eval();
    m.forward(x).dispose();
    expect(m.banks[0]!.size).toBe(0);
    m.train();
    const before = m.prototypeKeys.dataSync().slice();
    for (let i = 0; i < 2; i++) m.forward(x).dispose();
    expect(m.prototypeKeys.dataSync()).toEqual(before); // not yet due
    m.forward(x).dispose(); // 3rd recorded forward: refresh
    expect(m.prototypeKeys.dataSync()).not.toEqual(before);
    // 10× the bank written: still bankSize entries per head, the newest ones.
    for (let i = 0; i < 5; i++) m.forward(x).dispose();
    for (const bank of m.banks) expect(bank.size).toBe(8);
    const state = m.initState(2);
    m.forward(x, { state }).dispose(); // decoding does not record
    expect(m.banks[0]!.size).toBe(8);
    state.dispose();
    m.dispose();
  });

  it('a refresh inside a training step leaves its gradients intact', () => {
    const m = make({ ...small, refreshEvery: 1 });
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
    m.forward(x).dispose(); // fills the bank and refreshes once
    const twin = make(small); // same weights and prototypes, never refreshes
    twin.loadStateDict(m.stateDict());
    const step = (model: PrototypeMemoryAttention) => {
      const loss = () => tf.sum(tf.square(model.forward(x))) as tf.Scalar;
      const { value, grads } = tf.variableGrads(loss);
      const g = grads[model.memorySegment.name]!.dataSync().slice() as Float32Array;
      tf.dispose([value, ...Object.values(grads)]);
      return g;
    };
    const before = m.prototypeKeys.dataSync().slice();
    const g = step(m); // refreshes during the step, after its forward
    expect(m.prototypeKeys.dataSync()).not.toEqual(before);
    expectClose(g, step(twin), { atol: 1e-6 });
    expect(g.some((v) => v !== 0)).toBe(true);
    [m, twin].forEach((p) => p.dispose());
  });

  it('prototypes save and load with the weights', () => {
    const a = make({ ...small, refreshEvery: 1 });
    a.forward(tf.randomNormal([2, 4, 8], 0, 1, 'float32', 2) as tf.Tensor3D).dispose();
    const b = make(small);
    b.loadStateDict(a.stateDict());
    b.eval();
    a.eval();
    const x = tf.randomNormal([1, 3, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    expectClose(b.forward(x), a.forward(x), { atol: 1e-6 });
    a.dispose();
    b.dispose();
  });

  it('leaks no tensor over training forwards, refreshes, decoding and dispose', async () => {
    const x = tf.randomNormal([2, 4, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const m = make({ ...small, refreshEvery: 2 });
      for (let i = 0; i < 4; i++) m.forward(x).dispose();
      const state = m.initState(2);
      m.forward(x, { state }).dispose();
      state.dispose();
      m.dispose();
    });
  });

  it('refuses bad configs with typed errors and estimates its parameters', () => {
    expect(() => make({ ...small, numPrototypes: 0 })).toThrow(ConfigError);
    expect(() => make({ ...small, bankSize: 0 })).toThrow(/bankSize/);
    expect(() => make({ ...small, numPrototypes: 9 })).toThrow(/numPrototypes/);
    expect(() => make({ ...small, normalizer: 'sparsemax' })).toThrow(ConfigError);
    const m = make({ ...small, numKvHeads: 1 });
    expect(estimateConfig({ ...small, numKvHeads: 1 })?.parameters).toBe(m.numParams());
    m.dispose();
  });
});
