import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import {
  blockGeometry,
  blockSparseAttention,
  blockSparseMask,
  scaledDotProductAttention,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

const rand = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;

/** A selection where slot 0 is the query's own block (so every query sees a key) and the
 * other slots are random key blocks, repeats of slot 0, or -1. */
function selection(
  b: number,
  h: number,
  tq: number,
  tk: number,
  size: number,
  kpb: number,
  seed: number,
) {
  const g = blockGeometry(tq, tk, size);
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const values: number[] = [];
  for (let i = 0; i < b * h * g.numQueryBlocks; i++) {
    const current = Math.min(g.firstBlock + (i % g.numQueryBlocks), g.numKeyBlocks - 1);
    values.push(current);
    for (let j = 1; j < kpb; j++) {
      const r = next();
      values.push(r < 0.2 ? -1 : r < 0.35 ? current : Math.floor(next() * g.numKeyBlocks));
    }
  }
  return tf.tensor4d(values, [b, h, g.numQueryBlocks, kpb], 'int32');
}

interface Case {
  heads: number;
  kvHeads: number;
  tq: number;
  tk: number;
  blockSize: number;
  kpb: number;
  causal: boolean;
}

function compare(c: Case, seed = 1) {
  const q = rand([2, c.heads, c.tq, 4], seed);
  const k = rand([2, c.kvHeads, c.tk, 4], seed + 1);
  const v = rand([2, c.kvHeads, c.tk, 3], seed + 2);
  const selected = selection(2, c.heads, c.tq, c.tk, c.blockSize, c.kpb, seed);
  const mask = blockSparseMask(selected, {
    blockSize: c.blockSize,
    tq: c.tq,
    tk: c.tk,
    causal: c.causal,
  });
  const probe = rand([2, c.heads, c.tq, 3], 50);
  const probeLse = rand([2, c.heads, c.tq, 1], 51);
  const sparse = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
    blockSparseAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
      blockSize: c.blockSize,
      selected,
      causal: c.causal,
      returnLogSumExp: true,
    });
  const dense = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
    scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
      mask,
      returnLogSumExp: true,
    });
  const loss = (r: { output: tf.Tensor; logSumExp?: tf.Tensor }) =>
    tf.add(
      tf.sum(tf.mul(r.output, probe)),
      tf.sum(tf.mul(tf.expandDims(r.logSumExp!, -1), probeLse)),
    );
  const a = sparse(q, k, v);
  const b = dense(q, k, v);
  expectClose(a.output, b.output, { atol: 1e-5, rtol: 0 });
  expectClose(a.logSumExp!, b.logSumExp!, { atol: 1e-5, rtol: 0 });
  const ga = tf.grads((x, y, z) => loss(sparse(x, y, z)))([q, k, v]);
  const gb = tf.grads((x, y, z) => loss(dense(x, y, z)))([q, k, v]);
  ga.forEach((g, i) => expectClose(g, gb[i]!, { atol: 1e-4, rtol: 0 }));
  return { selected, mask };
}

describe('blockSparseAttention == sdpa with blockSparseMask', () => {
  const cases: [string, Case][] = [
    [
      'causal, ragged last block, repeats and -1 slots',
      { heads: 2, kvHeads: 2, tq: 10, tk: 10, blockSize: 4, kpb: 3, causal: true },
    ],
    ['not causal', { heads: 2, kvHeads: 2, tq: 9, tk: 9, blockSize: 3, kpb: 2, causal: false }],
    ['GQA, causal', { heads: 4, kvHeads: 2, tq: 8, tk: 8, blockSize: 2, kpb: 3, causal: true }],
    [
      'decoding, tq < tk, end-aligned mid-block',
      { heads: 2, kvHeads: 1, tq: 3, tk: 11, blockSize: 4, kpb: 2, causal: true },
    ],
    ['one query', { heads: 2, kvHeads: 2, tq: 1, tk: 7, blockSize: 3, kpb: 2, causal: true }],
    ['one key block', { heads: 2, kvHeads: 1, tq: 5, tk: 5, blockSize: 8, kpb: 2, causal: true }],
  ];
  for (const [name, c] of cases) {
    it(`${name}: outputs, lse and gradients`, () => {
      compare(c);
    });
  }

  it('the dense mask counts a repeated block once, skips -1 and masks the future', () => {
    // tq = tk = 6, blocks of 2; query block 2 selects [2, 2, -1], block 1 selects [0, 1, 1].
    const selected = tf.tensor4d([0, -1, -1, 0, 1, 1, 2, 2, -1], [1, 1, 3, 3], 'int32');
    const mask = blockSparseMask(selected, { blockSize: 2, tq: 6, tk: 6, causal: true });
    expect(tf.cast(mask, 'int32').arraySync()[0]![0]).toEqual([
      [1, 0, 0, 0, 0, 0],
      [1, 1, 0, 0, 0, 0],
      [1, 1, 1, 0, 0, 0],
      [1, 1, 1, 1, 0, 0],
      [0, 0, 0, 0, 1, 0],
      [0, 0, 0, 0, 1, 1],
    ]);
  });

  it('a query block with no visible key gives output 0 and lse -Infinity, finite gradients', () => {
    const q = rand([1, 1, 4, 4], 7);
    const k = rand([1, 1, 4, 4], 8);
    const v = rand([1, 1, 4, 4], 9);
    const selected = tf.tensor4d([-1, -1, 0, 1], [1, 1, 2, 2], 'int32');
    const r = blockSparseAttention(q, k, v, { blockSize: 2, selected, returnLogSumExp: true });
    expect(
      r.output
        .dataSync()
        .slice(0, 8)
        .every((x) => x === 0),
    ).toBe(true);
    expect(Array.from(r.logSumExp!.dataSync().slice(0, 2))).toEqual([-Infinity, -Infinity]);
    expect(r.logSumExp!.dataSync().slice(2).every(Number.isFinite)).toBe(true);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        blockSparseAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
          blockSize: 2,
          selected,
        }).output,
      ),
    )([q, k, v]);
    for (const g of grads) expect(g.dataSync().every(Number.isFinite)).toBe(true);
  });

  it('queryOffset places queries like sdpa queryPositions', () => {
    const q = rand([1, 2, 3, 4], 11);
    const k = rand([1, 2, 9, 4], 12);
    const v = rand([1, 2, 9, 2], 13);
    // Queries at positions 2, 3, 4 with blocks of 3: query blocks 0 and 1.
    const selected = tf.tensor4d([0, -1, 1, 0, 0, 2, 1, 0], [1, 2, 2, 2], 'int32');
    const options = { blockSize: 3, tq: 3, tk: 9, causal: true, queryOffset: 2 };
    const sparse = blockSparseAttention(q, k, v, { ...options, selected });
    const dense = scaledDotProductAttention(q, k, v, {
      mask: blockSparseMask(selected, options),
      queryPositions: [2, 3, 4],
    });
    expectClose(sparse.output, dense.output, { atol: 1e-5, rtol: 0 });
  });

  it('computes less: at tq = tk = 256, blocks of 16, 2 per query block, 1/8 of the logits', async () => {
    const q = rand([1, 1, 256, 8], 21);
    const k = rand([1, 1, 256, 8], 22);
    const v = rand([1, 1, 256, 8], 23);
    const nqb = 16;
    const sel = Array.from({ length: nqb * 2 }, (_, i) =>
      i % 2 === 0 ? Math.floor(i / 2) : Math.max(0, Math.floor(i / 2) - 1),
    );
    const selected = tf.tensor4d(sel, [1, 1, nqb, 2], 'int32');
    // tf.profile reuses its result object: read each profile before the next.
    const measure = async (f: () => tf.Tensor) => {
      const before = tf.memory().numBytes; // peakBytes counts the tensors already alive
      const info = await tf.profile(f);
      const sizes = info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((shape) => shape.reduce((p, d) => p * d, 1)),
      );
      return { peakBytes: info.peakBytes - before, largest: Math.max(...sizes) };
    };
    const sparse = await measure(
      () => blockSparseAttention(q, k, v, { blockSize: 16, selected, causal: true }).output,
    );
    // A zero bias keeps dense attention on the composite path (a fused kernel never builds the
    // [tq, tk] logits, so it would not be the dense reference this compares with).
    const zero = tf.zeros([1, 1, 1, 1]);
    const dense = await measure(
      () => scaledDotProductAttention(q, k, v, { causal: true, bias: zero }).output,
    );
    zero.dispose();
    // Dense builds [256, 256] logits; sparse [16 query blocks, 16, 2 · 16]: 1/8 of them.
    expect(dense.largest).toBeGreaterThanOrEqual(256 * 256);
    expect(sparse.largest).toBeLessThanOrEqual(16 * 16 * 32);
    // The peak also holds O(t·d) copies (padding, gathered blocks), so less than 1/8 falls.
    expect(sparse.peakBytes).toBeLessThan(dense.peakBytes / 2.5);
  });

  it('refuses bad inputs with typed one-line errors', () => {
    const q = rand([1, 2, 6, 4], 31);
    const k = rand([1, 2, 6, 4], 32);
    const good = tf.zeros([1, 2, 2, 1], 'int32') as tf.Tensor4D;
    const call =
      (selected: tf.Tensor, extra: object = {}) =>
      () =>
        blockSparseAttention(q, k, k, {
          blockSize: 3,
          selected: selected as tf.Tensor4D,
          ...extra,
        });
    expect(call(good)).not.toThrow();
    expect(call(tf.zeros([1, 2, 2, 1]))).toThrow(
      /blockSparseAttention: selected expected int32 \[1,2,2,kPerBlock\]/,
    );
    expect(call(tf.zeros([1, 2, 3, 1], 'int32'))).toThrow(ShapeError);
    expect(call(tf.zeros([1, 2, 2], 'int32'))).toThrow(ShapeError);
    expect(call(tf.fill([1, 2, 2, 1], 2, 'int32'))).toThrow(
      /selected expected key-block indices in -1\.\.1/,
    );
    expect(call(tf.fill([1, 2, 2, 1], -2, 'int32'))).toThrow(ConfigError);
    expect(call(good, { blockSize: 0 })).toThrow(/blockSize expected an integer >= 1/);
    expect(call(good, { queryOffset: -1 })).toThrow(ConfigError);
    expect(call(good, { scale: -1 })).toThrow(ConfigError);
    expect(() =>
      blockSparseAttention(q, rand([1, 3, 6, 4], 1), k, { blockSize: 3, selected: good }),
    ).toThrow(ShapeError);
    expect(() => blockSparseMask(good, { blockSize: 3, tq: 6, tk: 0 })).toThrow(ConfigError);
  });

  it('leaks nothing over forward and backward', async () => {
    const q = rand([1, 2, 5, 4], 41);
    const k = rand([1, 1, 5, 4], 42);
    const selected = selection(1, 2, 5, 5, 2, 2, 3);
    await expectNoLeaks(() => {
      const r = blockSparseAttention(q, k, k, {
        blockSize: 2,
        selected,
        causal: true,
        returnLogSumExp: true,
      });
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          blockSparseAttention(a as tf.Tensor4D, b as tf.Tensor4D, b as tf.Tensor4D, {
            blockSize: 2,
            selected,
          }).output,
        ),
      )([q, k]);
      blockSparseMask(selected, { blockSize: 2, tq: 5, tk: 5, causal: true }).dispose();
      tf.dispose([r.output, r.logSumExp!, ...g]);
    });
  });
});
