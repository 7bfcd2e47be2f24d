import * as tf from '@tensorflow/tfjs-core';
import { featureMaps, makeFeatureMap, type FeatureMap } from '@attnkit/attention';
import { ConfigError, RegistryError, Rng, ShapeError } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

const BUILT_INS = ['elu+1', 'relu', 'softmax-kernel', 'taylor'];

/** Rows of a [n, d] tensor as plain arrays. */
const rows = (x: tf.Tensor) => x.arraySync() as number[][];
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);

/** n fixed vectors of size d with entries in [-range, range]. */
function vectors(n: number, d: number, seed: number, range = 1): tf.Tensor2D {
  const rng = new Rng(seed);
  return tf.tensor2d(
    Array.from({ length: n * d }, () => (rng.uniform() * 2 - 1) * range),
    [n, d],
  );
}

describe('featureMaps registry', () => {
  it('lists the built-ins with their paper and equation', () => {
    for (const name of BUILT_INS) {
      expect(featureMaps.has(name)).toBe(true);
      expect(featureMaps.info(name)?.paper).toMatch(/et al\. 20\d\d/);
      expect(featureMaps.info(name)?.equation).toBeTruthy();
    }
  });

  it('a user registers a map without editing ours; duplicates and unknown names are refused', () => {
    featureMaps.register(
      'test-square',
      ({ headDim }) => ({
        outDim: headDim,
        apply: (x) => tf.square(x),
        buffers: () => ({}),
        dispose: () => {},
      }),
      { summary: 'x²' },
    );
    const map = makeFeatureMap('test-square', { headDim: 2 });
    expectClose(map.apply(tf.tensor1d([2, -3]), 'query'), [4, 9]);
    expect(() => featureMaps.register('test-square', () => map)).toThrow(RegistryError);
    expect(() => makeFeatureMap('elu1', { headDim: 2 })).toThrow(RegistryError);
    expect(() => makeFeatureMap('elu1', { headDim: 2 })).toThrow(
      /featureMap expected one of elu\+1, relu/,
    );
  });

  it('refuses bad options and inputs with typed errors', () => {
    expect(() => makeFeatureMap('relu', { headDim: 0 })).toThrow(ConfigError);
    expect(() => makeFeatureMap('relu', { headDim: 4, numFeatures: 8 })).toThrow(
      /featureMap 'relu': numFeatures expected none/,
    );
    expect(() => makeFeatureMap('softmax-kernel', { headDim: 4, numFeatures: 0 })).toThrow(
      ConfigError,
    );
    for (const name of BUILT_INS) {
      const map = makeFeatureMap(name, { headDim: 4, rng: new Rng(1) });
      expect(() => map.apply(tf.zeros([2, 3]), 'key')).toThrow(ShapeError);
      expect(() => map.apply(tf.zeros([2, 3]), 'key')).toThrow(
        /x expected a tensor with last axis 4, got shape \[2,3\]/,
      );
      map.dispose();
    }
  });
});

describe('deterministic maps', () => {
  const x = () => tf.tensor2d([[-2, -0.5, 0, 0.7, 3]]);

  it('elu+1 is exp(x) below 0 and x + 1 above (Katharopoulos et al. 2020)', () => {
    const map = makeFeatureMap('elu+1', { headDim: 5 });
    expect(map.outDim).toBe(5);
    expectClose(map.apply(x(), 'query'), [[Math.exp(-2), Math.exp(-0.5), 1, 1.7, 4]], {
      atol: 1e-6,
    });
  });

  it('relu keeps the positive part', () => {
    expectClose(makeFeatureMap('relu', { headDim: 5 }).apply(x(), 'key'), [[0, 0, 0, 0.7, 3]]);
  });

  it('taylor: φ(q)·φ(k) = 1 + s + s²/2 exactly, s = q·k/√d (Based)', () => {
    const d = 6;
    const map = makeFeatureMap('taylor', { headDim: d });
    expect(map.outDim).toBe(1 + d + d * d);
    const [q, k] = [vectors(5, d, 1, 1.5), vectors(5, d, 2, 1.5)];
    const [fq, fk] = [rows(map.apply(q, 'query')), rows(map.apply(k, 'key'))];
    const [qs, ks] = [rows(q), rows(k)];
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        const s = dot(qs[i]!, ks[j]!) / Math.sqrt(d);
        expectClose(dot(fq[i]!, fk[j]!), 1 + s + (s * s) / 2, { atol: 1e-5, rtol: 1e-5 });
      }
    }
    // Works on [batch, heads, time, d] and keeps the leading axes.
    expect(map.apply(tf.zeros([2, 3, 4, d]), 'query').shape).toEqual([2, 3, 4, 1 + d + d * d]);
  });
});

describe('softmax-kernel (Performer FAVOR+ positive orthogonal random features)', () => {
  const d = 4;

  it('E[φ(q)·φ(k)] ≈ exp(q·k/√d): many features estimate the softmax kernel within 5%', () => {
    const map = makeFeatureMap('softmax-kernel', {
      headDim: d,
      numFeatures: 8192,
      rng: new Rng(3),
    });
    expect(map.outDim).toBe(8192);
    const [q, k] = [vectors(6, d, 4, 1.2), vectors(6, d, 5, 1.2)];
    const [fq, fk] = [rows(map.apply(q, 'query')), rows(map.apply(k, 'key'))];
    const [qs, ks] = [rows(q), rows(k)];
    let worst = 0;
    for (let i = 0; i < 6; i++) {
      const exact = Math.exp(dot(qs[i]!, ks[i]!) / Math.sqrt(d));
      worst = Math.max(worst, Math.abs(dot(fq[i]!, fk[i]!) / exact - 1));
      expect(Math.min(...fq[i]!)).toBeGreaterThan(0); // positive features
    }
    expect(worst).toBeLessThan(0.05);
    map.dispose();
  });

  it('draws orthogonal blocks from the seeded Rng; redraw replaces the non-trainable buffer', () => {
    const a = makeFeatureMap('softmax-kernel', { headDim: d, numFeatures: 10, rng: new Rng(9) });
    const b = makeFeatureMap('softmax-kernel', { headDim: d, numFeatures: 10, rng: new Rng(9) });
    const w = a.buffers().projection!;
    expect(w.shape).toEqual([d, 10]);
    expect(w instanceof tf.Variable).toBe(false);
    expectClose(b.buffers().projection!, w, { atol: 0 });
    // Columns inside a block of d are orthogonal; every column is a full Gaussian draw.
    const cols = rows(tf.transpose(w));
    for (const [i, j] of [
      [0, 1],
      [1, 3],
      [4, 7],
      [5, 6],
    ]) {
      const cos =
        dot(cols[i]!, cols[j]!) / Math.sqrt(dot(cols[i]!, cols[i]!) * dot(cols[j]!, cols[j]!));
      expect(Math.abs(cos)).toBeLessThan(1e-5);
    }
    const before = tf.memory().numTensors;
    a.redraw!(new Rng(10));
    expect(tf.memory().numTensors).toBe(before);
    expect(a.buffers().projection).not.toBe(w);
    expect(w.isDisposed).toBe(true);
    expect(
      tf.max(tf.abs(tf.sub(a.buffers().projection!, b.buffers().projection!))).dataSync()[0],
    ).toBeGreaterThan(0.1);
    // Restoring the buffer restores the map.
    b.loadBuffers!(a.buffers());
    const x = vectors(3, d, 11);
    expectClose(b.apply(x, 'query'), a.apply(x, 'query'), { atol: 0 });
    expect(() => b.loadBuffers!({ projection: tf.zeros([d, 3]) })).toThrow(ShapeError);
    a.dispose();
    b.dispose();
  });
});

describe('feature maps: gradients and leaks', () => {
  for (const name of BUILT_INS) {
    it(`${name}: gradient matches finite differences; apply and dispose leak nothing`, async () => {
      let map: FeatureMap | undefined;
      await expectNoLeaks(() => {
        map = makeFeatureMap(name, {
          headDim: 3,
          numFeatures: name === 'softmax-kernel' ? 5 : undefined,
          rng: new Rng(2),
        });
        const x = vectors(2, 3, 12, 0.8);
        tf.dispose(map.apply(x, 'query'));
        finiteDifferenceCheck((y) => map!.apply(y, 'key'), [x], { epsilon: 1e-2 });
        x.dispose();
        map.dispose();
      });
    });
  }
});
