import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { landmarkGroupedAttention, landmarkRetrievalAttention } from '@attnkit/memory';

interface Tensor {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  blockSize: number;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  probe: Tensor;
  output: Tensor;
  dq: number[];
  dk: number[];
  dv: number[];
}

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/landmark.json'), 'utf8'),
) as { cases: Case[] };
const t4 = (x: Tensor) => tf.tensor4d(x.data, x.shape as [number, number, number, number]);

type Op = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => tf.Tensor4D;

/** Output and the gradients of sum(output · probe) for q, k and v. */
function withGradients(op: Op, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, probe: tf.Tensor) {
  const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.sum(tf.mul(op(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D), probe));
  const [dq, dk, dv] = tf.grads(f)([q, k, v]);
  return { output: op(q, k, v), dq: dq!, dk: dk!, dv: dv! };
}

const random = (shape: [number, number, number, number], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor4D;

describe('landmarkGroupedAttention (grouped softmax, eq. 1-3)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and gradients equal the PyTorch reference',
    (_, c) => {
      tf.tidy(() => {
        const op: Op = (q, k, v) => landmarkGroupedAttention(q, k, v, c).output;
        const r = withGradients(op, t4(c.q), t4(c.k), t4(c.v), t4(c.probe));
        const tol = { atol: 1e-4, rtol: 1e-4 };
        expectClose(r.output, t4(c.output), tol);
        expectClose(r.dq, tf.tensor(c.dq, c.q.shape), tol);
        expectClose(r.dk, tf.tensor(c.dk, c.k.shape), tol);
        expectClose(r.dv, tf.tensor(c.dv, c.v.shape), tol);
      });
    },
  );

  it('with every token in one block (no landmark reached) it is causal softmax attention', () => {
    tf.tidy(() => {
      const [q, k, v] = [random([1, 2, 5, 4], 1), random([1, 2, 5, 4], 2), random([1, 2, 5, 4], 3)];
      const causal = tf.softmax(
        tf.add(
          tf.div(tf.matMul(q, k, false, true), 2),
          tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([5, 5]), -1, 0)), -1e9),
        ),
      );
      const out = landmarkGroupedAttention(q, k, v, { blockSize: 5 }).output;
      expect(maxAbsDiff(out, tf.matMul(causal, v))).toBeLessThan(1e-5);
    });
  });
});

describe('landmarkRetrievalAttention (top-k blocks by landmark, merged by log-sum-exp)', () => {
  const cases: [string, [number, number, number, number], number, number, number][] = [
    // name, q shape, tk, kv heads, blockSize
    ['full sequence', [2, 2, 13, 4], 13, 2, 3],
    ['end-aligned queries, GQA', [1, 4, 4, 3], 11, 2, 2],
    ['one query on a landmark', [1, 2, 1, 4], 9, 1, 2],
  ];
  it.each(cases)(
    '%s: with topK = every block it equals the grouped softmax (outputs and gradients)',
    (_, shape, tk, kvh, blockSize) => {
      tf.tidy(() => {
        const [b, , tq, d] = shape;
        const q = random(shape, 4);
        const k = random([b, kvh, tk, d], 5);
        const v = random([b, kvh, tk, d + 1], 6);
        const probe = tf.randomNormal([b, shape[1], tq, d + 1], 0, 1, 'float32', 7);
        const blocks = Math.ceil(tk / (blockSize + 1));
        const dense = withGradients(
          (a, c, e) => landmarkGroupedAttention(a, c, e, { blockSize }).output,
          q,
          k,
          v,
          probe,
        );
        for (const localBlocks of [0, 1]) {
          const topK = blocks - localBlocks;
          const sparse = withGradients(
            (a, c, e) =>
              landmarkRetrievalAttention(a, c, e, { blockSize, topK, localBlocks }).output,
            q,
            k,
            v,
            probe,
          );
          for (const key of ['output', 'dq', 'dk', 'dv'] as const) {
            expect(maxAbsDiff(sparse[key], dense[key])).toBeLessThanOrEqual(1e-4);
          }
        }
      });
    },
  );

  it('retrieves the block whose landmark key matches the query, and attends only it', () => {
    tf.tidy(() => {
      // 4 blocks of 2 tokens + landmark (period 3) and a query in block 4; landmark of block 2
      // is the query's direction, the others are orthogonal to it.
      const d = 4;
      const tk = 13;
      const keys = Array.from({ length: tk }, (_, t) =>
        Array.from({ length: d }, (_, i) =>
          t % 3 === 2 ? (t === 8 ? [8, 0, 0, 0] : [0, 0, 0, 8])[i]! : 0.1 * Math.sin(t + i),
        ),
      );
      const k = tf.tensor4d(keys.flat(), [1, 1, tk, d]);
      const v = random([1, 1, tk, 2], 9);
      const q = tf.tensor4d([1, 0, 0, 0], [1, 1, 1, d]);
      const r = landmarkRetrievalAttention(q, k, v, { blockSize: 2, topK: 1 });
      expect(Array.from(r.selected.dataSync())).toEqual([2]);
      // Equal to grouped attention over the keys with the other blocks' landmarks removed.
      const keep = [6, 7, 8, 12].map((i) => i);
      const index = tf.tensor1d(keep, 'int32');
      const sub = (x: tf.Tensor4D) => tf.gather(x, index, 2) as tf.Tensor4D;
      // Positions 6..8 are block 2 and 12 the query's own block: re-laid out as blocks 0 and 1.
      const dense = landmarkGroupedAttention(q, sub(k), sub(v), { blockSize: 2 }).output;
      expect(maxAbsDiff(r.output, dense)).toBeLessThan(1e-5);
    });
  });

  it('always reads the localBlocks before its own block, the retrieved ones after them', () => {
    tf.tidy(() => {
      const q = random([1, 1, 1, 2], 15);
      const k = random([1, 1, 13, 2], 16); // query at 12: block 4, blocks 0-3 before it
      const r = landmarkRetrievalAttention(q, k, k, { blockSize: 2, topK: 1, localBlocks: 2 });
      const [a, b, c] = Array.from(r.selected.dataSync());
      expect([a, b].sort()).toEqual([2, 3]);
      expect([0, 1]).toContain(c);
    });
  });

  it('keeps a query in the first block to its own block, and pads topK with -1', () => {
    tf.tidy(() => {
      const q = random([1, 1, 7, 2], 10);
      const k = random([1, 1, 7, 2], 11);
      const r = landmarkRetrievalAttention(q, k, k, { blockSize: 2, topK: 3 });
      const sel = r.selected.arraySync()[0]![0]!;
      expect(sel[0]).toEqual([-1, -1, -1]); // position 0: block 0
      expect(sel[3]).toEqual([0, -1, -1]); // position 3: block 1 sees block 0
      expect(sel[6]![0]).toBeGreaterThanOrEqual(0); // block 2 sees blocks 0 and 1
      expect(sel[6]!.filter((s) => s >= 0).sort()).toEqual([0, 1]);
    });
  });

  it('refuses bad input with typed one-line errors', () => {
    tf.tidy(() => {
      const q = random([1, 1, 7, 2], 12);
      const expectError = (run: () => unknown, type: typeof ShapeError, text: RegExp) => {
        try {
          run();
        } catch (e) {
          expect(e).toBeInstanceOf(type);
          expect((e as Error).message).toMatch(text);
          expect((e as Error).message).not.toMatch(/\n/);
          return;
        }
        throw new Error('no error');
      };
      // 7 keys, period 3: the last query (block 2) can retrieve blocks 0 and 1 only.
      expectError(
        () => landmarkRetrievalAttention(q, q, q, { blockSize: 2, topK: 3, strict: true }),
        ShapeError,
        /topK.*at most 2.*3/,
      );
      expectError(
        () =>
          landmarkRetrievalAttention(q, q, q, {
            blockSize: 2,
            topK: 2,
            localBlocks: 1,
            strict: true,
          }),
        ShapeError,
        /topK expected at most 2 blocks .* got topK \+ localBlocks = 3/,
      );
      expectError(
        () => landmarkRetrievalAttention(q, q, q, { blockSize: 2, topK: 1, localBlocks: -1 }),
        ConfigError,
        /localBlocks/,
      );
      expectError(
        () => landmarkGroupedAttention(q, q, q, { blockSize: 0 }),
        ConfigError,
        /blockSize/,
      );
      expectError(
        () => landmarkRetrievalAttention(q, q, q, { blockSize: -1, topK: 1 }),
        ConfigError,
        /blockSize/,
      );
      expectError(
        () => landmarkGroupedAttention(q, q, q, { blockSize: 2, keyOffset: 4 }),
        ShapeError,
        /keyOffset.*multiple of blockSize \+ 1 = 3/,
      );
      expectError(
        () => landmarkGroupedAttention(random([1, 1, 8, 2], 1), q, q, { blockSize: 2 }),
        ShapeError,
        /q.*tk=7/,
      );
      expectError(
        () => landmarkRetrievalAttention(q, q, q, { blockSize: 2, topK: 0 }),
        ConfigError,
        /topK/,
      );
    });
  });

  it('leaks nothing over forward and backward of both forms', async () => {
    const q = random([1, 2, 6, 4], 13);
    const k = random([1, 1, 9, 4], 14);
    await expectNoLeaks(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.add(
          tf.sum(
            landmarkGroupedAttention(a as tf.Tensor4D, b as tf.Tensor4D, b as tf.Tensor4D, {
              blockSize: 2,
            }).output,
          ),
          tf.sum(
            landmarkRetrievalAttention(a as tf.Tensor4D, b as tf.Tensor4D, b as tf.Tensor4D, {
              blockSize: 2,
              topK: 1,
            }).output,
          ),
        );
      tf.dispose(tf.grads(f)([q, k]));
      const r = landmarkRetrievalAttention(q, k, k, { blockSize: 2, topK: 2 });
      tf.dispose([r.output, r.selected]);
    });
    tf.dispose([q, k]);
  });
});
