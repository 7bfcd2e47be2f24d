import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { SinusoidalPositional, sinusoidalEmbedding } from '@attnkit/positional';
import { type SinusoidalFixture, fixture, randn, range } from './helpers';

const golden = fixture<SinusoidalFixture>('sinusoidal.json');

describe('sinusoidalEmbedding', () => {
  it.each(golden.cases)('matches the reference (dim $dim, base $base)', (c) => {
    const pe = sinusoidalEmbedding(c.positions, c.dim, c.base);
    expect(pe.shape).toEqual([c.positions.length, c.dim]);
    expectClose(pe, c.values, { atol: 2e-5 });
    pe.dispose();
  });

  it('takes an int32 tensor of positions', () => {
    const p = range(0, 6);
    const a = sinusoidalEmbedding(p, 8);
    const b = sinusoidalEmbedding([0, 1, 2, 3, 4, 5], 8);
    expectClose(a, b);
    tf.dispose([p, a, b]);
  });

  it('rejects an odd dim', () => {
    expect(() => sinusoidalEmbedding([0], 7)).toThrow(ConfigError);
    expect(() => sinusoidalEmbedding([0], 7)).toThrow(
      /sinusoidal: dim expected an even integer, got 7/,
    );
  });
});

describe('SinusoidalPositional', () => {
  it('adds the embedding to x and builds from the registry', () => {
    const enc = build<SinusoidalPositional>({ type: 'sinusoidal', dim: 8 });
    expect(enc.kind).toBe('embed');
    expect(enc.numParams()).toBe(0);
    const x = randn([2, 6, 8]) as tf.Tensor3D;
    const p = range(4, 10);
    const y = enc.embed(x, p);
    const pe = sinusoidalEmbedding(p, 8);
    expectClose(tf.sub(y, x), tf.stack([pe, pe]));
    tf.dispose([x, p, y, pe]);
  });

  it('passes gradients through to x and does not leak', async () => {
    const enc = new SinusoidalPositional({ dim: 4 });
    const x = randn([1, 3, 4]) as tf.Tensor3D;
    const p = range(0, 3);
    await expectNoLeaks(() => {
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.square(enc.embed(v as tf.Tensor3D, p))))(x);
      const expected = tf.tidy(() => tf.mul(2, enc.embed(x, p)));
      expectClose(g, expected, { atol: 1e-5 });
      tf.dispose([g, expected]);
      enc.dispose();
    });
    tf.dispose([x, p]);
  });

  it('rejects wrong widths, wrong position counts and unknown options', () => {
    const enc = new SinusoidalPositional({ dim: 4 });
    const x = tf.zeros([1, 3, 6]) as tf.Tensor3D;
    const p = range(0, 2);
    expect(() => enc.embed(x, range(0, 3))).toThrow(ShapeError);
    const x4 = tf.zeros([1, 3, 4]) as tf.Tensor3D;
    expect(() => enc.embed(x4, p)).toThrow(/sinusoidal: positions expected 3 positions/);
    expect(() => build<Module>({ type: 'sinusoidal', dim: 4, bse: 3 })).toThrow(
      /unknown option 'bse'/,
    );
    expect(() => new SinusoidalPositional({ dim: 5 })).toThrow(
      /dim expected an even integer, got 5/,
    );
    tf.dispose([x, x4, p]);
  });
});
