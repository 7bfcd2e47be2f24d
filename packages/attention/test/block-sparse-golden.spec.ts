import * as tf from '@tensorflow/tfjs-core';
import {
  blockSparseAttention,
  blockSparseMask,
  mergeAttention,
  scaledDotProductAttention,
  selectKeyBlocks,
} from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/block_sparse_reference.py (PyTorch, dense masked attention).
interface Case {
  name: string;
  blockSize: number;
  causal: boolean;
  qShape: number[];
  kShape: number[];
  vShape: number[];
  selected: number[];
  selectedShape: number[];
  split: number;
  parts: { output: number[]; lse: (number | null)[] }[];
  merged: { output: number[]; lse: (number | null)[] };
  gate: number[][];
  [key: string]: unknown;
}
const cases: Case[] = require('./fixtures/block-sparse.json');
const tol = { atol: 3e-5, rtol: 1e-4 };
/** JSON has no infinities: the script writes -Infinity (a row with no visible key) as null. */
const lseOf = (values: (number | null)[]) => values.map((x) => (x === null ? -Infinity : x));

describe('block-sparse attention and merging against PyTorch', () => {
  for (const c of cases) {
    const t = (key: string, shape: number[]) => tf.tensor(c[key] as number[], shape);
    const setup = () => {
      const [q, k, v] = [t('q', c.qShape), t('k', c.kShape), t('v', c.vShape)] as tf.Tensor4D[];
      const selected = tf.tensor(c.selected, c.selectedShape, 'int32') as tf.Tensor as tf.Tensor4D;
      const [b, h, tq] = c.qShape as [number, number, number];
      const lseShape = [b, h, tq];
      return { q: q!, k: k!, v: v!, selected, lseShape, outShape: [b, h, tq, c.vShape[3]!] };
    };

    it(`${c.name}: blockSparseAttention output, lse and gradients`, () => {
      const { q, k, v, selected, lseShape, outShape } = setup();
      const probe = t('probe', outShape);
      const probeLse = t('probeLse', lseShape);
      const run = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
        blockSparseAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
          blockSize: c.blockSize,
          selected,
          causal: c.causal,
          returnLogSumExp: true,
        });
      const r = run(q, k, v);
      expectClose(r.output, t('output', outShape), tol);
      expectClose(r.logSumExp!, tf.tensor(lseOf(c.lse as number[]), lseShape), tol);
      const grads = tf.grads((a, b, d) => {
        const o = run(a, b, d);
        return tf.add(tf.sum(tf.mul(o.output, probe)), tf.sum(tf.mul(o.logSumExp!, probeLse)));
      })([q, k, v]);
      expectClose(grads[0]!, t('grad_q', c.qShape), tol);
      expectClose(grads[1]!, t('grad_k', c.kShape), tol);
      expectClose(grads[2]!, t('grad_v', c.vShape), tol);
    });

    it(`${c.name}: sdpa over each key set returns its lse, and merging them gives the whole`, () => {
      const { q, k, v, selected, lseShape, outShape } = setup();
      const [tq, tk] = [c.qShape[2]!, c.kShape[2]!];
      const mask = blockSparseMask(selected, { blockSize: c.blockSize, tq, tk, causal: c.causal });
      const early = tf.reshape(tf.less(tf.range(0, tk, 1, 'int32'), c.split), [1, 1, 1, tk]);
      const partMasks = [tf.logicalAnd(mask, early), tf.logicalAnd(mask, tf.logicalNot(early))];
      const parts = partMasks.map((m, i) => {
        const r = scaledDotProductAttention(q, k, v, { mask: m, returnLogSumExp: true });
        expectClose(r.logSumExp!, tf.tensor(lseOf(c.parts[i]!.lse), lseShape), tol);
        return { output: r.output, logSumExp: r.logSumExp! };
      });
      // A part's rows that see no key hold sdpa's uniform fallback, PyTorch's 0: lse -Inf
      // makes merging ignore them either way.
      const merged = mergeAttention(parts);
      expectClose(merged.output, tf.tensor(c.merged.output, outShape), tol);
      expectClose(merged.logSumExp, tf.tensor(lseOf(c.merged.lse), lseShape), tol);
      expectClose(merged.output, t('output', outShape), tol);
      // The fixture's own parts merge the same way.
      const fromFixture = mergeAttention(
        c.parts.map((p) => ({
          output: tf.tensor(p.output, outShape) as tf.Tensor as tf.Tensor4D,
          logSumExp: tf.tensor(lseOf(p.lse), lseShape) as tf.Tensor as tf.Tensor3D,
        })),
      );
      expectClose(fromFixture.output, t('output', outShape), tol);
    });

    it(`${c.name}: block-topk-mean picks MoBA's gate`, () => {
      const { q, k } = setup();
      const selected = selectKeyBlocks('block-topk-mean', q, k, {
        blockSize: c.blockSize,
        topK: 2,
        causal: c.causal,
      });
      const rows = (selected.arraySync() as number[][][][])
        .flat(2)
        .map((r) => [...r].sort((a, b) => a - b));
      const expected = c.gate.map((r) => [...r].sort((a, b) => a - b));
      expect(rows).toEqual(expected);
    });
  }
});
