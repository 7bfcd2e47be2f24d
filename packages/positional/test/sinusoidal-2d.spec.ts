import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import {
  Sinusoidal2dPositional,
  sinusoidal2dEmbedding,
  sinusoidalEmbedding,
} from '@attnkit/positional';
import { type SinusoidalFixture, fixture, randn, range } from './helpers';

const golden = fixture<SinusoidalFixture>('sinusoidal.json').grid2d;

describe('sinusoidal2dEmbedding', () => {
  it('matches the MAE-style reference on a 3x4 grid', () => {
    const n = golden.height * golden.width;
    const pe = sinusoidal2dEmbedding(range(0, n), golden.width, golden.dim);
    expectClose(pe, golden.values, { atol: 2e-5 });
    pe.dispose();
  });

  it('encodes rows in the first half of the channels and columns in the second', () => {
    const pe = sinusoidal2dEmbedding([0, 1, 4, 5], 4, 8).arraySync();
    // same row (0 and 1): first half equal; same column (0 and 4): second half equal
    expectClose(pe[0]!.slice(0, 4), pe[1]!.slice(0, 4), { atol: 0 });
    expectClose(pe[0]!.slice(4), pe[2]!.slice(4), { atol: 0 });
    expect(pe[0]!.slice(4)).not.toEqual(pe[1]!.slice(4));
  });

  it('differs from the 1-D embedding of the flat index', () => {
    const a = sinusoidal2dEmbedding([5], 4, 8);
    const b = sinusoidalEmbedding([5], 8);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeGreaterThan(0.1);
    tf.dispose([a, b]);
  });
});

describe('Sinusoidal2dPositional', () => {
  it('infers a square grid, or the width from gridHeight', () => {
    const square = build<Sinusoidal2dPositional>({ type: 'sinusoidal-2d', dim: 8 });
    expect(square.gridWidthFor(16)).toBe(4);
    const tall = new Sinusoidal2dPositional({ dim: 8, gridHeight: 2 });
    expect(tall.gridWidthFor(6)).toBe(3);
    expect(() => square.gridWidthFor(6)).toThrow(/a square number/);
    expect(() => tall.gridWidthFor(5)).toThrow(ShapeError);
  });

  it('adds the embedding, passes gradients and does not leak', async () => {
    const enc = new Sinusoidal2dPositional({ dim: 8, gridHeight: 3, gridWidth: 4 });
    expect(enc.kind).toBe('embed');
    const x = randn([2, 12, 8]) as tf.Tensor3D;
    const p = range(0, 12);
    await expectNoLeaks(() => {
      const y = enc.embed(x, p);
      const pe = sinusoidal2dEmbedding(p, 4, 8);
      const delta = tf.sub(y, x);
      const expected = tf.stack([pe, pe]);
      expectClose(delta, expected, { atol: 1e-6 });
      const g = tf.grad((v: tf.Tensor) => tf.sum(enc.embed(v as tf.Tensor3D, p)))(x);
      expect(g.shape).toEqual(x.shape);
      expect(tf.tidy(() => tf.sum(tf.abs(tf.sub(g, 1))).dataSync()[0])).toBe(0);
      tf.dispose([y, pe, delta, expected, g]);
    });
    tf.dispose([x, p]);
  });

  it('rejects dims that are not multiples of 4 and positions outside the grid', () => {
    expect(() => new Sinusoidal2dPositional({ dim: 6 })).toThrow(ConfigError);
    expect(() => new Sinusoidal2dPositional({ dim: 6 })).toThrow(
      'sinusoidal-2d: dim expected a positive multiple of 4, got 6',
    );
    const enc = new Sinusoidal2dPositional({ dim: 4, gridHeight: 2, gridWidth: 2 });
    const x = tf.zeros([1, 2, 4]) as tf.Tensor3D;
    const p = tf.tensor1d([3, 4], 'int32');
    expect(() => enc.embed(x, p)).toThrow(/values < gridHeight\*gridWidth=4, got max 4/);
    tf.dispose([x, p]);
  });
});
