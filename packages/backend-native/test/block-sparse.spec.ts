// The block-sparse attention kernel (csrc/block_sparse.cc) against the composite and the dense
// reference: on native, @attnkit/attention's blockSparseAttention runs the kernel and its
// gradient kernel; on cpu the same call runs the composite, and scaledDotProductAttention with
// blockSparseMask is the dense reference. Outputs, log-sum-exp and the gradients of q, k and v
// agree (float32, max abs error <= 1e-4) over odd sizes, one block, a ragged last block, GQA,
// causal on and off, queries not aligned to blocks, repeated and empty slots, empty rows.
// Bad input gives typed one-line errors, never a crash; nothing leaks.
import * as tf from '@tensorflow/tfjs-core';
import {
  blockGeometry,
  blockSparseAttention,
  blockSparseMask,
  scaledDotProductAttention,
} from '@attnkit/attention';
import { ConfigError, ShapeError } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { loadAddon } from '../src/addon';
import { BLOCK_SPARSE_ATTENTION, BLOCK_SPARSE_ATTENTION_GRAD } from '../src/index';
import { rand, useNativeBackend } from './helpers';

interface Case {
  /** [batch, heads, kvHeads, tq, tk, d, dv]. */
  shape: [number, number, number, number, number, number, number];
  blockSize: number;
  kPerBlock: number;
  causal: boolean;
  queryOffset?: number;
  /** Slot 0 is the query's own block, so every query sees a key (the dense reference's case). */
  own?: boolean;
  /** Every slot -1 in this flat row of `selected`. */
  emptyRow?: number;
  scale?: number;
}

const CASES: Array<[string, Case]> = [
  [
    'one block, size 1',
    { shape: [1, 1, 1, 1, 1, 1, 1], blockSize: 1, kPerBlock: 1, causal: true, own: true },
  ],
  [
    'one block larger than t',
    { shape: [1, 2, 2, 5, 5, 3, 2], blockSize: 8, kPerBlock: 1, causal: false, own: true },
  ],
  [
    'odd sizes, ragged last block, causal',
    { shape: [2, 3, 3, 11, 11, 5, 3], blockSize: 4, kPerBlock: 2, causal: true, own: true },
  ],
  [
    'GQA, repeats and empty slots, bidirectional',
    {
      shape: [1, 4, 2, 13, 13, 4, 6],
      blockSize: 3,
      kPerBlock: 3,
      causal: false,
      own: true,
      scale: 0.7,
    },
  ],
  [
    'GQA 3:1, causal',
    { shape: [2, 3, 1, 10, 10, 3, 2], blockSize: 2, kPerBlock: 4, causal: true, own: true },
  ],
  [
    'block size 1',
    { shape: [1, 2, 1, 6, 6, 2, 3], blockSize: 1, kPerBlock: 3, causal: true, own: true },
  ],
  [
    'tq < tk, end-aligned off a block boundary',
    { shape: [1, 2, 2, 5, 12, 3, 3], blockSize: 4, kPerBlock: 2, causal: true, own: true },
  ],
  [
    'queryOffset inside a block',
    {
      shape: [2, 1, 1, 6, 10, 4, 2],
      blockSize: 4,
      kPerBlock: 2,
      causal: true,
      queryOffset: 2,
      own: true,
    },
  ],
  [
    'random slots: queries that see no key',
    { shape: [2, 2, 1, 9, 9, 3, 4], blockSize: 2, kPerBlock: 2, causal: true },
  ],
  [
    'an empty row',
    {
      shape: [1, 2, 2, 8, 8, 3, 3],
      blockSize: 3,
      kPerBlock: 2,
      causal: false,
      own: true,
      emptyRow: 1,
    },
  ],
];

/** Deterministic key-block lists: random indices, repeats and -1 (and the own block first). */
function selection(c: Case): tf.Tensor4D {
  const [b, h, , tq, tk] = c.shape;
  const g = blockGeometry(tq, tk, c.blockSize, c.queryOffset);
  let s = 12345 + tq * 31 + tk;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const values: number[] = [];
  const rows = b * h * g.numQueryBlocks;
  for (let r = 0; r < rows; r++) {
    const own = Math.min(g.firstBlock + (r % g.numQueryBlocks), g.numKeyBlocks - 1);
    for (let j = 0; j < c.kPerBlock; j++) {
      const x = next();
      let value = x < 0.2 ? -1 : Math.floor(next() * g.numKeyBlocks);
      if (j > 0 && x > 0.85) value = values[values.length - 1]!; // a repeat
      if (c.own && j === 0) value = own;
      if (r === c.emptyRow) value = -1;
      values.push(value);
    }
  }
  return tf.tensor4d(values, [b, h, g.numQueryBlocks, c.kPerBlock], 'int32');
}

function inputs(c: Case): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const [b, h, kvh, tq, tk, d, dv] = c.shape;
  return [
    rand([b, h, tq, d], 1) as tf.Tensor4D,
    rand([b, kvh, tk, d], 2) as tf.Tensor4D,
    rand([b, kvh, tk, dv], 3) as tf.Tensor4D,
  ];
}

type Form = 'op' | 'dense';

/** Output, logSumExp and the gradients of q, k, v of a weighted sum of both, as flat arrays. */
function run(c: Case, form: Form = 'op'): Float32Array[] {
  return tf.tidy(() => {
    const [b, h, , tq, , , dv] = c.shape;
    const x = inputs(c);
    const selected = selection(c);
    const w = [rand([b, h, tq, dv], 7), rand([b, h, tq], 8)];
    const forward = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => {
      if (form === 'op') {
        const r = blockSparseAttention(q, k, v, {
          blockSize: c.blockSize,
          selected,
          causal: c.causal,
          queryOffset: c.queryOffset,
          returnLogSumExp: true,
          ...(c.scale !== undefined ? { scale: c.scale } : {}),
        });
        return { output: r.output, lse: r.logSumExp! };
      }
      const mask = blockSparseMask(selected, {
        blockSize: c.blockSize,
        tq,
        tk: c.shape[4],
        causal: c.causal,
        queryOffset: c.queryOffset,
      });
      const r = scaledDotProductAttention(q, k, v, {
        mask,
        returnLogSumExp: true,
        ...(c.scale !== undefined ? { scale: c.scale } : {}),
      });
      return { output: r.output, lse: r.logSumExp! };
    };
    const loss = (...t: tf.Tensor[]) => {
      const { output, lse } = forward(
        t[0] as tf.Tensor4D,
        t[1] as tf.Tensor4D,
        t[2] as tf.Tensor4D,
      );
      // -Infinity (no visible key) has no gradient: weigh only the finite entries.
      const finite = tf.where(tf.isFinite(lse), lse, tf.zerosLike(lse));
      return tf.add(tf.sum(tf.mul(output, w[0]!)), tf.sum(tf.mul(finite, w[1]!))) as tf.Scalar;
    };
    const { output, lse } = forward(...x);
    return [output, lse, ...tf.grads(loss)(x)].map((t) => t.dataSync() as Float32Array);
  });
}

async function on<T>(backend: string, f: () => T | Promise<T>): Promise<T> {
  const initial = tf.getBackend();
  await tf.setBackend(backend);
  // No 'install tfjs-node' banner when cpu is first used here (ATTNKIT_TEST_BACKEND=native).
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  try {
    return await f();
  } finally {
    await tf.setBackend(initial);
  }
}

async function kernelsOf(f: () => void): Promise<string[]> {
  return on('native', async () => (await tf.profile(() => tf.tidy(f))).kernels.map((k) => k.name));
}

/** Equal within 1e-4, -Infinity where the other is -Infinity. */
function expectAgree(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const infinite = (a: Float32Array) => Array.from(a, (x) => x === -Infinity);
  expect(infinite(got)).toEqual(infinite(want));
  const finite = (a: Float32Array) => a.map((x) => (x === -Infinity ? 0 : x));
  expect(maxAbsDiff(finite(got), finite(want))).toBeLessThanOrEqual(1e-4);
}

describe('block-sparse attention kernel on native', () => {
  it.each(CASES)('matches the composite, outputs and gradients: %s', async (_name, c) => {
    const composite = await on('cpu', () => run(c));
    const kernel = await on('native', () => run(c));
    expect(kernel.length).toBe(5);
    composite.forEach((want, i) => expectAgree(kernel[i]!, want));
    const ran = await kernelsOf(() => run(c));
    expect(ran).toContain(BLOCK_SPARSE_ATTENTION);
    expect(ran).toContain(BLOCK_SPARSE_ATTENTION_GRAD);
  });

  it.each(CASES.filter(([, c]) => c.own && c.emptyRow === undefined))(
    'matches the dense reference (sdpa with blockSparseMask): %s',
    async (_name, c) => {
      const dense = await on('cpu', () => run(c, 'dense'));
      const kernel = await on('native', () => run(c));
      dense.forEach((want, i) => expectAgree(kernel[i]!, want));
    },
  );

  it('gives a query that sees no key output 0, logSumExp -Infinity and zero gradients', async () => {
    const c = CASES.find(([name]) => name === 'an empty row')![1];
    const [output, lse, dq] = await on('native', () => run(c));
    // Flat row 1 of selected is (batch 0, head 0, query block 1): queries 3..5 of head 0.
    const [, , , tq, , d, dv] = c.shape;
    for (let i = 3; i < 6; i++) {
      expect(lse![i]).toBe(-Infinity);
      expect(Array.from(output!.subarray(i * dv, (i + 1) * dv))).toEqual(new Array(dv).fill(0));
      expect(Array.from(dq!.subarray(i * d, (i + 1) * d))).toEqual(new Array(d).fill(0));
    }
    expect(lse![tq]).not.toBe(-Infinity); // head 1 is untouched
  });

  it('leaks no tensors, forward and backward', async () => {
    const c = CASES[2]![1];
    await on('native', () => run(c)); // warm-up: tfjs' one-time allocations
    await on('native', () => expectNoLeaks(() => run(c)));
  });
});

const f32 = (n: number) => new Float32Array(n);

/** 'Name: message' of what f throws: the addon's errors come from another realm than jest's. */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
  return 'nothing';
}

describe('block-sparse attention kernel on bad input', () => {
  useNativeBackend();

  it('the op refuses bad shapes and selections with typed errors, leaking nothing', async () => {
    const q = tf.ones([1, 2, 8, 3]) as tf.Tensor4D;
    const k = tf.ones([1, 1, 8, 3]) as tf.Tensor4D;
    const sel = (values: number[], shape: number[] = [1, 2, 2, 1]) =>
      tf.tensor(values, shape as [number, number, number, number], 'int32') as tf.Tensor4D;
    const cases: Array<[() => unknown, typeof ShapeError | typeof ConfigError]> = [
      [
        () => blockSparseAttention(q, k, k, { blockSize: 4, selected: sel([0, 2, 0, 1]) }),
        ConfigError,
      ],
      [
        () => blockSparseAttention(q, k, k, { blockSize: 4, selected: sel([0, -2, 0, 1]) }),
        ConfigError,
      ],
      [
        () => blockSparseAttention(q, k, k, { blockSize: 4, selected: sel([0, 1], [1, 2, 1, 1]) }),
        ShapeError,
      ],
      [
        () => blockSparseAttention(q, k, k, { blockSize: 0, selected: sel([0, 1, 0, 1]) }),
        ConfigError,
      ],
      [
        () =>
          blockSparseAttention(q, tf.ones([1, 2, 7, 3]) as tf.Tensor4D, k, {
            blockSize: 4,
            selected: sel([0, 1, 0, 1]),
          }),
        ShapeError,
      ],
    ];
    for (const [call, type] of cases) {
      await expectNoLeaks(() => expect(() => tf.tidy(() => void call())).toThrow(type));
    }
    tf.dispose([q, k]);
  });

  it('the kernels refuse bad inputs and attributes called directly', () => {
    const x = (shape: number[]) => tf.zeros(shape);
    const good = () => ({
      q: x([1, 2, 5, 3]),
      k: x([1, 1, 6, 3]),
      v: x([1, 1, 6, 2]),
      selected: tf.tensor4d([0, 1, -1, 0], [1, 2, 2, 1], 'int32'),
    });
    // queryOffset 1, block 4: queries at 1..5 cover blocks 0 and 1.
    const attrs = { blockSize: 4, causal: true, scale: 1, queryOffset: 1 };
    const call = (inputs: object, a: object = attrs) =>
      tf.tidy(
        () => void tf.engine().runKernel(BLOCK_SPARSE_ATTENTION, inputs as never, a as never),
      );
    expect(() => call(good())).not.toThrow();
    expect(() => call({ ...good(), q: x([2, 5, 3]) })).toThrow(TypeError);
    expect(() => call({ ...good(), k: x([1, 1, 6, 4]) })).toThrow(TypeError);
    expect(() => call({ ...good(), v: x([1, 1, 5, 2]) })).toThrow(TypeError);
    expect(() => call({ ...good(), k: x([1, 3, 6, 3]), v: x([1, 3, 6, 2]) })).toThrow(TypeError);
    expect(() => call({ ...good(), selected: tf.zeros([1, 2, 2, 1]) })).toThrow(TypeError);
    expect(() => call({ ...good(), selected: tf.zeros([1, 2, 3, 1], 'int32') })).toThrow(TypeError);
    expect(() => call({ ...good(), selected: tf.zeros([1, 2, 2, 0], 'int32') })).toThrow(TypeError);
    expect(() => call({ ...good(), selected: undefined })).toThrow(TypeError);
    expect(() => call({ ...good(), q: tf.zeros([1, 2, 5, 3], 'int32') })).toThrow(TypeError);
    for (const blockSize of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => call(good(), { ...attrs, blockSize })).toThrow(RangeError);
    }
    for (const scale of [0, -1, NaN, Infinity]) {
      expect(() => call(good(), { ...attrs, scale })).toThrow(RangeError);
    }
    expect(() => call(good(), { ...attrs, queryOffset: -1 })).toThrow(RangeError);
    expect(() => call(good(), { ...attrs, causal: 1 })).toThrow(RangeError);
    // An index outside the keys is an error (from the addon), never a read.
    const outside = { ...good(), selected: tf.tensor4d([0, 2, -1, 0], [1, 2, 2, 1], 'int32') };
    expect(() => call(outside)).toThrow(/key block 2 at flat index 1/);
    expect(() =>
      call({ ...good(), selected: tf.tensor4d([0, 1, -3, 0], [1, 2, 2, 1], 'int32') }),
    ).toThrow(/key block -3/);
  });

  it('the addon checks every array and every index against the dims before touching them', () => {
    const addon = loadAddon();
    const fwd = addon.blockSparseForward as unknown as (...a: unknown[]) => void;
    const back = addon.blockSparseBackward as unknown as (...a: unknown[]) => void;
    const range = /^RangeError: /;
    // b 1, h 2, kvh 1, tq 5, tk 6, d 3, dv 2, block 4, kpb 1, offset 1, causal: nqb 2, nkb 2.
    const d = [1, 2, 1, 5, 6, 3, 2, 4, 1, 1, 1];
    const dims = (dd = d) => Int32Array.from(dd);
    const sel = () => Int32Array.from([0, 1, -1, 1]);
    // q k v | out lse; the backward adds out lse dout dlse | dq dk dv.
    const sizes = [30, 18, 12];
    const outs = [20, 10];
    const forward = (s = sizes, o = outs, dd = d, selected = sel(), scale = 1) =>
      thrown(() => fwd(...s.map(f32), selected, ...o.map(f32), dims(dd), scale));
    expect(forward()).toBe('nothing');
    for (let i = 0; i < 3; i++)
      expect(forward(sizes.map((n, j) => (j === i ? n - 1 : n)))).toMatch(range);
    for (let i = 0; i < 2; i++)
      expect(
        forward(
          sizes,
          outs.map((n, j) => (j === i ? n - 1 : n)),
        ),
      ).toMatch(range);
    expect(forward(sizes, outs, d, Int32Array.from([0, 1, -1]))).toMatch(range);
    expect(forward(sizes, outs, d, Int32Array.from([0, 2, -1, 1]))).toMatch(/key block 2/);
    expect(forward(sizes, outs, d, Int32Array.from([0, 1, -2, 1]))).toMatch(/key block -2/);
    expect(forward(sizes, outs, [1, 2, 1, 5, 6, 3, 2, 0, 1, 1, 1])).toMatch(range);
    expect(forward(sizes, outs, [1, 3, 2, 5, 6, 3, 2, 4, 1, 1, 1])).toMatch(range);
    expect(forward(sizes, outs, [1, 2, 1, -5, 6, 3, 2, 4, 1, 1, 1])).toMatch(range);
    expect(forward(sizes, outs, [1, 2, 1, 5, 6, 3, 2, 4, 1, 1, 2])).toMatch(range);
    expect(forward(sizes, outs, d.slice(0, 10))).toMatch(range);
    expect(forward(sizes, outs, [2 ** 31 - 1, 2 ** 31 - 1, 1, 5, 6, 3, 2, 4, 1, 1, 1])).toMatch(
      range,
    );
    expect(forward(sizes, outs, d, sel(), NaN)).toMatch(range);
    expect(forward(sizes, outs, d, sel(), 0)).toMatch(range);
    expect(thrown(() => fwd(f32(1), f32(1)))).toMatch(/^TypeError: .*expected 8 arguments/);
    expect(thrown(() => fwd(...sizes.map(f32), f32(4), ...outs.map(f32), dims(), 1))).toMatch(
      /^TypeError: .*Int32Array/,
    );
    const backSizes = [30, 18, 12, 4, 20, 10, 20, 10, 30, 18, 12];
    const backward = (s: number[], selected = sel()) =>
      thrown(() => back(...s.slice(0, 3).map(f32), selected, ...s.slice(4).map(f32), dims(), 1));
    expect(backward(backSizes)).toBe('nothing');
    for (let i = 0; i < backSizes.length; i++) {
      if (i === 3) continue;
      expect(backward(backSizes.map((n, j) => (j === i ? n - 1 : n)))).toMatch(range);
    }
    expect(backward(backSizes, Int32Array.from([0, 1, 5, 1]))).toMatch(/key block 5/);
  });
});
