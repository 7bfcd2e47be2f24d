import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, RegistryError, ShapeError } from '@attnkit/core';
import {
  blockSparseAttention,
  keySelectors,
  selectKeyBlocks,
  type KeySelector,
} from '@attnkit/attention';
import { expectNoLeaks } from '@attnkit/core/testing';

const rand = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;

/** Mean of rows [a, b) of a [t, d] matrix. */
const meanRows = (m: number[][], a: number, b: number) =>
  m[0]!.map((_, c) => m.slice(a, b).reduce((s, row) => s + row[c]!, 0) / (b - a));

/**
 * MoBA's gate computed row by row in plain JS, as the paper states it: scores ⟨mean q, mean k⟩,
 * causal blocks after the query block excluded and its own block first, then the best others.
 */
function referenceTopKMean(
  q: number[][],
  k: number[][],
  size: number,
  topK: number,
  causal: boolean,
): number[][] {
  const [tq, tk] = [q.length, k.length];
  const offset = tk - tq;
  const first = Math.floor(offset / size);
  const nqb = Math.floor((offset + tq - 1) / size) - first + 1;
  const nkb = Math.ceil(tk / size);
  const out: number[][] = [];
  for (let i = 0; i < nqb; i++) {
    const block = first + i;
    const qm = meanRows(
      q,
      Math.max(0, block * size - offset),
      Math.min(tq, (block + 1) * size - offset),
    );
    const candidates = Array.from({ length: nkb }, (_, j) => j).filter(
      (j) => !causal || j <= block,
    );
    const score = (j: number) =>
      meanRows(k, j * size, Math.min(tk, (j + 1) * size)).reduce((s, x, c) => s + x * qm[c]!, 0);
    const ranked = candidates
      .filter((j) => !causal || j !== block)
      .sort((a, b) => score(b) - score(a));
    const chosen = (causal && block < nkb ? [block, ...ranked] : ranked).slice(0, topK);
    out.push([...chosen, ...Array(topK - chosen.length).fill(-1)]);
  }
  return out;
}

const asSets = (rows: number[][]) => rows.map((r) => [...r].sort((a, b) => a - b));

describe('key selectors', () => {
  it('registers block-topk-mean and sliding-blocks with their papers', () => {
    expect(keySelectors.names()).toEqual(
      expect.arrayContaining(['block-topk-mean', 'sliding-blocks']),
    );
    expect(keySelectors.info('block-topk-mean')?.paper).toMatch(/MoBA/);
    expect(keySelectors.info('sliding-blocks')?.summary).toBeTruthy();
  });

  for (const [name, tq, tk, causal] of [
    ['causal prefill, ragged last block', 11, 11, true],
    ['not causal', 9, 9, false],
    ['causal decoding, tq < tk', 3, 13, true],
  ] as const) {
    it(`block-topk-mean matches the gate computed row by row (${name}, GQA)`, () => {
      const q = rand([1, 2, tq, 3], 1);
      const k = rand([1, 1, tk, 3], 2);
      const selected = selectKeyBlocks('block-topk-mean', q, k, { blockSize: 3, topK: 2, causal });
      const got = selected.arraySync()[0]!;
      expect(selected.dtype).toBe('int32');
      const kRows = k.arraySync()[0]![0]!;
      for (let h = 0; h < 2; h++) {
        const expected = referenceTopKMean(q.arraySync()[0]![h]!, kRows, 3, 2, causal);
        expect(asSets(got[h]!)).toEqual(asSets(expected));
      }
    });
  }

  it('block-topk-mean pads with -1 when fewer blocks exist than topK', () => {
    const q = rand([1, 1, 4, 2], 3);
    const selected = selectKeyBlocks('block-topk-mean', q, q, {
      blockSize: 2,
      topK: 3,
      causal: true,
    });
    // Query block 0 may see block 0 only; block 1 sees blocks 0 and 1.
    expect(asSets(selected.arraySync()[0]![0]!)).toEqual([
      [-1, -1, 0],
      [-1, 0, 1],
    ]);
  });

  it('sliding-blocks selects the current block and the topK - 1 before it', () => {
    const q = rand([2, 2, 3, 2], 4);
    const k = rand([2, 1, 10, 2], 5);
    // Queries at positions 7..9, blocks of 2: query blocks 3 and 4.
    const selected = selectKeyBlocks('sliding-blocks', q, k, { blockSize: 2, topK: 3 });
    expect(selected.shape).toEqual([2, 2, 2, 3]);
    expect(selected.arraySync()[1]![1]).toEqual([
      [3, 2, 1],
      [4, 3, 2],
    ]);
    const start = selectKeyBlocks('sliding-blocks', k, k, { blockSize: 4, topK: 2 });
    expect(start.arraySync()[0]![0]).toEqual([
      [0, -1],
      [1, 0],
      [2, 1],
    ]);
  });

  it('feeds blockSparseAttention, which stays differentiable in q, k and v', () => {
    const q = rand([1, 2, 8, 4], 6);
    const k = rand([1, 2, 8, 4], 7);
    const v = rand([1, 2, 8, 4], 8);
    const options = { blockSize: 2, topK: 2, causal: true };
    const selected = selectKeyBlocks('block-topk-mean', q, k, options);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.square(
          blockSparseAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
            ...options,
            selected,
          }).output,
        ),
      ),
    )([q, k, v]);
    for (const g of grads) expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });

  it('a user registers a selector without editing ours; unknown names list the known ones', () => {
    const firstBlock: KeySelector = (q, _k, { topK }) =>
      tf.zeros([q.shape[0], q.shape[1], 1, topK], 'int32') as tf.Tensor4D;
    keySelectors.register('test-first-block', firstBlock, { summary: 'block 0 only' });
    const q = rand([1, 1, 2, 2], 9);
    expect(selectKeyBlocks('test-first-block', q, q, { blockSize: 2, topK: 1 }).shape).toEqual([
      1, 1, 1, 1,
    ]);
    expect(() => keySelectors.register('test-first-block', firstBlock)).toThrow(RegistryError);
    expect(() => selectKeyBlocks('top-k-mean', q, q, { blockSize: 2, topK: 1 })).toThrow(
      /keySelector: selector expected one of block-topk-mean, sliding-blocks/,
    );
  });

  it('refuses bad inputs with typed one-line errors', () => {
    const q = rand([1, 2, 4, 2], 10);
    for (const name of ['block-topk-mean', 'sliding-blocks']) {
      expect(() => selectKeyBlocks(name, q, q, { blockSize: 0, topK: 1 })).toThrow(ConfigError);
      expect(() => selectKeyBlocks(name, q, q, { blockSize: 2, topK: 0 })).toThrow(
        /topK expected an integer >= 1/,
      );
      expect(() =>
        selectKeyBlocks(name, q, rand([1, 2, 4, 3], 1), { blockSize: 2, topK: 1 }),
      ).toThrow(ShapeError);
    }
  });

  it('leaks nothing', async () => {
    const q = rand([1, 2, 5, 2], 11);
    const k = rand([1, 1, 5, 2], 12);
    await expectNoLeaks(() => {
      for (const causal of [true, false]) {
        selectKeyBlocks('block-topk-mean', q, k, { blockSize: 2, topK: 4, causal }).dispose();
        selectKeyBlocks('sliding-blocks', q, k, { blockSize: 2, topK: 2, causal }).dispose();
      }
    });
  });
});
