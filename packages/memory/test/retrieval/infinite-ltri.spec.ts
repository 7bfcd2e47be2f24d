import { ConfigError, Rng, ShapeError } from '@attnkit/core';
import {
  InfiniteRetrievalCache,
  SpanIndex,
  attentionImportance,
  discoverSpans,
  selectImportant,
} from '../../src';

const rows = (rng: Rng, n: number, d: number, scale = 1) =>
  Float32Array.from({ length: n * d }, () => scale * rng.normal());

describe('Infinite Retrieval (Ye et al. 2025)', () => {
  it('scores tokens by summed query attention over a phrase window', () => {
    // 2 query rows over 5 tokens.
    const w = Float32Array.of(0, 1, 0, 0, 0, 0, 0, 0, 0, 1);
    expect(Array.from(attentionImportance(w, 5))).toEqual([0, 1, 0, 0, 1]);
    // Window 3: each token sums itself and its two neighbours.
    expect(Array.from(attentionImportance(w, 5, 3))).toEqual([1, 1, 1, 1, 1]);
    expect(() => attentionImportance(w, 3)).toThrow(ShapeError);
  });

  it('keeps the top tokens widened to their sentences, within the limit', () => {
    const importance = Float32Array.of(0.1, 0.9, 0.2, 0.3, 0.8, 0.05);
    expect(selectImportant(importance, 2)).toEqual([1, 4]);
    const spans = Int32Array.of(0, 0, 1, 1, 2, 2);
    expect(selectImportant(importance, 2, { spans })).toEqual([0, 1, 4, 5]);
    // Limit 3: the second sentence no longer fits, the next best (sentence 1) does not either.
    expect(selectImportant(importance, 3, { spans, limit: 3 })).toEqual([0, 1]);
    expect(() => selectImportant(importance, 0)).toThrow(ConfigError);
  });

  it('keeps a needle the question attends to across 20 chunks, with a bounded cache', () => {
    const rng = new Rng(1);
    const d = 8;
    const question = rows(rng, 2, d);
    const cache = new InfiniteRetrievalCache({ dim: d, capacity: 6, topK: 4 });
    const needleAt = 37;
    for (let c = 0; c < 20; c++) {
      const keys = rows(rng, 10, d, 0.5);
      const positions = Array.from({ length: 10 }, (_, i) => 10 * c + i);
      if (c === 3)
        keys.set(
          question.subarray(0, d).map((x) => 3 * x),
          (needleAt - 30) * d,
        );
      const kept = cache.step({ keys, values: rows(rng, 10, d), positions }, question);
      expect(kept.length).toBeLessThanOrEqual(6);
      if (c >= 3) expect(kept).toContain(needleAt);
    }
    expect(cache.store.size).toBeLessThanOrEqual(6);
  });

  it('refuses chunks whose widths do not match', () => {
    const cache = new InfiniteRetrievalCache({ dim: 4, capacity: 4, topK: 2 });
    const chunk = { keys: new Float32Array(8), values: new Float32Array(8), positions: [0, 1, 2] };
    expect(() => cache.step(chunk, new Float32Array(4))).toThrow(ShapeError);
    expect(() => new InfiniteRetrievalCache({ dim: 4, capacity: 0, topK: 2 })).toThrow(ConfigError);
  });
});

describe('Ltri-LLM (Tang et al. 2024)', () => {
  it('finds the triangles of a block-diagonal attention map by NMS', () => {
    // Causal attention concentrated inside the blocks [0,3), [3,7), [7,9).
    const n = 9;
    const blocks = [0, 0, 0, 1, 1, 1, 1, 2, 2];
    const a = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      const same = blocks.map((b, j): number =>
        j <= i && b === blocks[i] ? 1 : j <= i ? 0.01 : 0,
      );
      const total = same.reduce((s, x) => s + x, 0);
      same.forEach((x, j) => (a[i * n + j] = x / total));
    }
    expect(discoverSpans(a, n, { minLength: 2, maxLength: 4 })).toEqual([
      [0, 3],
      [3, 7],
      [7, 9],
    ]);
    expect(() => discoverSpans(a, n, { minLength: 5, maxLength: 4 })).toThrow(ConfigError);
  });

  it('retrieves the span whose keys the query matches, by voting rows', () => {
    const rng = new Rng(2);
    const d = 8;
    const index = new SpanIndex({ dim: d, maxSpans: 50, maxSpanLength: 4 });
    const target = rows(rng, 1, d);
    for (let s = 0; s < 30; s++) {
      const keys = rows(rng, 4, d, 0.3);
      if (s === 17)
        for (let i = 0; i < 4; i++)
          keys.set(
            target.map((x, j) => x + keys[i * d + j]!),
            i * d,
          );
      index.add({
        keys,
        values: rows(rng, 4, d),
        positions: [4 * s, 4 * s + 1, 4 * s + 2, 4 * s + 3],
      });
    }
    const queries = Float32Array.from([...target, ...target.map((x) => x + 0.1)]);
    const [best] = index.retrieve(queries, 1);
    expect(best!.positions).toEqual([68, 69, 70, 71]);
    const three = index.retrieve(queries, 3);
    expect(three.map((s) => s.positions[0])).toEqual(
      [...three.map((s) => s.positions[0]!)].sort((a, b) => a - b),
    );
  });

  it('holds at most maxSpans spans after 10× as many, oldest evicted; refuses bad spans', () => {
    const rng = new Rng(3);
    const index = new SpanIndex({ dim: 4, maxSpans: 5, maxSpanLength: 2 });
    for (let s = 0; s < 50; s++) {
      index.add({ keys: rows(rng, 2, 4), values: rows(rng, 2, 4), positions: [2 * s, 2 * s + 1] });
    }
    expect(index.size).toBe(5);
    const all = index.retrieve(rows(rng, 1, 4), 5);
    expect(all.map((s) => s.positions[0])).toEqual([90, 92, 94, 96, 98]);
    expect(() =>
      index.add({ keys: rows(rng, 3, 4), values: rows(rng, 3, 4), positions: [0, 1, 2] }),
    ).toThrow(ShapeError);
    expect(
      () => new SpanIndex({ dim: 4, maxSpans: 1000, maxSpanLength: 1000, maxBytes: 1e6 }),
    ).toThrow(/maxSpans expected at most/);
  });
});
