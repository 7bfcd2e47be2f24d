import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError } from '@attnkit/core';
import { hyperAttention, lshOrder, scaledDotProductAttention } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

interface Case {
  name: string;
  blockSize: number;
  samples: number[];
  shape: [number, number, number, number];
  projection: number[];
  bits: number;
  q: number[];
  k: number[];
  v: number[];
  probe: number[];
  output: number[];
  logSumExp: number[];
  gradQ: number[];
  gradK: number[];
  gradV: number[];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/hyper-attention.json'), 'utf8'),
) as { cases: Case[] };

const normal = <T extends tf.Tensor = tf.Tensor4D>(shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as T;

/** T tokens near C cluster directions (queries and keys alike), values by cluster plus noise. */
function clustered(t: number, d: number, seed: number) {
  const rng = new Rng(seed);
  const clusters = 8;
  const draw = () => Array.from({ length: d }, () => rng.normal());
  const centres = Array.from({ length: clusters }, draw);
  const means = Array.from({ length: clusters }, draw);
  const tokens = (from: number[][], noise: number) => {
    const out: number[] = [];
    for (let i = 0; i < t; i++) {
      const c = from[(i * 5) % clusters]!;
      for (let j = 0; j < d; j++) out.push(c[j]! + noise * rng.normal());
    }
    return tf.tensor4d(out, [1, 1, t, d]);
  };
  return { q: tokens(centres, 0.3), k: tokens(centres, 0.3), v: tokens(means, 0.5) };
}

const relativeError = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('hyperAttention (Han et al. 2023)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output, log-sum-exp and q/k/v gradients match the dense PyTorch estimator',
    (_name, c) => {
      const [q, k, v, probe] = [c.q, c.k, c.v, c.probe].map((x) => tf.tensor4d(x, c.shape));
      const projection = tf.tensor2d(c.projection, [c.shape[3], c.bits]);
      const options = { blockSize: c.blockSize, projection, samples: c.samples };
      const r = hyperAttention(q!, k!, v!, options);
      expectClose(r.output, tf.tensor4d(c.output, c.shape), { atol: 3e-5, rtol: 1e-4 });
      expectClose(r.logSumExp, tf.tensor3d(c.logSumExp, c.shape.slice(0, 3) as never), {
        atol: 3e-5,
        rtol: 1e-4,
      });
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, w: tf.Tensor) =>
        tf.sum(
          tf.mul(
            hyperAttention(a as tf.Tensor4D, b as tf.Tensor4D, w as tf.Tensor4D, options).output,
            probe!,
          ),
        ),
      )([q!, k!, v!]);
      [c.gradQ, c.gradK, c.gradV].forEach((g, i) =>
        expectClose(grads[i]!, tf.tensor4d(g, c.shape), { atol: 3e-5, rtol: 1e-4 }),
      );
    },
  );

  it('sortLSH orders buckets by Gray code: neighbouring buckets differ in one bit', () => {
    // Every sign pattern of 4 bits once, shuffled; the identity projection hashes by sign.
    const rng = new Rng(4);
    const patterns = Array.from({ length: 16 }, (_, n) => n).sort(() => rng.uniform() - 0.5);
    const x = tf.tensor4d(
      patterns.flatMap((n) => [0, 1, 2, 3].map((i) => ((n >> i) & 1 ? 1 : -1))),
      [1, 1, 16, 4],
    );
    const { order, rank } = lshOrder(x, tf.eye(4) as tf.Tensor2D);
    const sorted = Array.from(order.dataSync()).map((i) => patterns[i]!);
    for (let i = 1; i < 16; i++) {
      const diff = sorted[i]! ^ sorted[i - 1]!;
      expect(diff & (diff - 1)).toBe(0); // one bit
      expect(diff).not.toBe(0);
    }
    const ranks = rank.dataSync();
    Array.from(order.dataSync()).forEach((token, position) => expect(ranks[token]).toBe(position));
  });

  it('is exact softmax attention when blockSize >= T, samples or not (outputs and gradients)', () => {
    const [q, k, v] = [1, 2, 3].map((s) => normal([2, 2, 10, 4], s));
    const projection = normal<tf.Tensor2D>([4, 3], 5);
    const exact = (a: tf.Tensor, b: tf.Tensor, w: tf.Tensor) =>
      scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, w as tf.Tensor4D, {
        causal: false,
      }).output;
    for (const [blockSize, samples] of [
      [10, []],
      [16, [0, 4, 4, 9]],
    ] as const) {
      const hyper = (a: tf.Tensor, b: tf.Tensor, w: tf.Tensor) =>
        hyperAttention(a as tf.Tensor4D, b as tf.Tensor4D, w as tf.Tensor4D, {
          blockSize,
          projection,
          samples,
        }).output;
      expect(maxAbsDiff(hyper(q!, k!, v!), exact(q!, k!, v!))).toBeLessThanOrEqual(1e-5);
      const loss = (f: typeof exact) => (a: tf.Tensor, b: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.square(f(a, b, w)));
      const ga = tf.grads(loss(hyper))([q!, k!, v!]);
      const gb = tf.grads(loss(exact))([q!, k!, v!]);
      ga.forEach((g, i) => expect(maxAbsDiff(g, gb[i]!)).toBeLessThanOrEqual(1e-4));
    }
  });

  it('approximates softmax attention (T = 256, clustered keys): the error falls as blocks and samples grow', () => {
    const t = 256;
    const d = 16;
    const { q, k, v } = clustered(t, d, 1);
    const projection = tf.tensor2d(
      Array.from({ length: d * 7 }, (_, i) => new Rng(50 + i).normal()),
      [d, 7],
    );
    const exact = scaledDotProductAttention(q, k, v, { causal: false }).output;
    const error = (blockSize: number, m: number, seed: number) => {
      const rng = new Rng(seed);
      const samples = Array.from({ length: m }, () => Math.floor(rng.uniform() * t));
      return relativeError(
        hyperAttention(q, k, v, { blockSize, projection, samples }).output,
        exact,
      );
    };
    // Blocks only: relative Frobenius error, each block size under its bound and below the last.
    const byBlock = [16, 64, 128].map((b) => error(b, 0, 0));
    expect(byBlock[0]).toBeLessThan(0.6);
    expect(byBlock[1]).toBeLessThan(0.3);
    expect(byBlock[2]).toBeLessThan(0.2);
    expect(byBlock[1]).toBeLessThan(byBlock[0]!);
    expect(byBlock[2]).toBeLessThan(byBlock[1]!);
    expect(error(t, 0, 0)).toBeLessThan(1e-5);
    // Blocks of 32 plus m uniform samples (mean over two draws): more samples, less error.
    const bySample = [0, 64, 256].map((m) => (error(32, m, 1) + error(32, m, 2)) / 2);
    expect(bySample[1]).toBeLessThan(bySample[0]!);
    expect(bySample[2]).toBeLessThan(bySample[1]!);
    expect(bySample[2]).toBeLessThan(0.1);
  });

  it('never builds a [T, T] matrix: peak memory grows linearly in T, unlike exact attention', async () => {
    const peak = async (t: number, exact: boolean) => {
      const [q, k, v] = [1, 2, 3].map((s) => normal([1, 1, t, 8], s));
      const projection = normal<tf.Tensor2D>([8, 7], 4);
      const samples = Array.from({ length: 16 }, (_, i) => (i * 97) % t);
      const info = await tf.profile(() => {
        // Exact attention as plain ops (a backend's fused kernel would hide the [T, T] map).
        const r = exact
          ? [tf.matMul(tf.softmax(tf.matMul(q!, k!, false, true)), v!)]
          : Object.values(hyperAttention(q!, k!, v!, { blockSize: 16, projection, samples }));
        tf.dispose(r);
      });
      tf.dispose([q!, k!, v!, projection]);
      return info.peakBytes;
    };
    const [small, large, exact] = [
      await peak(256, false),
      await peak(512, false),
      await peak(512, true),
    ];
    expect(large / small).toBeLessThan(2.5); // a [T, T] term would make it near 4
    expect(large).toBeLessThan(exact / 2);
  });

  it('refuses bad arguments with typed errors and leaks nothing', async () => {
    const [q, k, v] = [1, 2, 3].map((s) => normal([1, 2, 6, 4], s));
    const projection = normal<tf.Tensor2D>([4, 3], 5);
    const ok = { blockSize: 2, projection, samples: [1, 5] };
    expect(() => hyperAttention(q!, normal([1, 2, 5, 4], 6), v!, ok)).toThrow(ShapeError);
    expect(() => hyperAttention(q!, k!, normal([1, 2, 5, 4], 6), ok)).toThrow(ShapeError);
    expect(() => hyperAttention(q!, k!, v!, { ...ok, blockSize: 0 })).toThrow(ConfigError);
    expect(() => hyperAttention(q!, k!, v!, { ...ok, samples: [6] })).toThrow(/samples.*\[0, 6\)/);
    const wide = normal<tf.Tensor2D>([3, 3], 7);
    expect(() => hyperAttention(q!, k!, v!, { ...ok, projection: wide })).toThrow(/projection/);
    await expectNoLeaks(() => {
      const loss = (a: tf.Tensor) => tf.sum(hyperAttention(a as tf.Tensor4D, k!, v!, ok).output);
      const r = hyperAttention(q!, k!, v!, ok);
      tf.dispose([r.output, r.logSumExp, tf.grad(loss)(q!)]);
    });
  });
});
