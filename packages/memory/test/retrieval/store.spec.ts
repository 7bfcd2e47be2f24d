import { ConfigError, Rng, ShapeError } from '@attnkit/core';
import { ExactIndex, IvfIndex, KnnStore } from '../../src/retrieval';

const rows = (rng: Rng, n: number, d: number) =>
  Float32Array.from({ length: n * d }, () => rng.normal());

/** Exact top-k by brute force: sort every entry by score, ties to the lower slot. */
function bruteTopK(store: KnnStore, q: Float32Array, k: number): number[] {
  const d = store.dim;
  const scores = Array.from({ length: store.size }, (_, s) =>
    q.reduce((acc, x, j) => acc + x * store.keys[s * d + j]!, 0),
  );
  return scores
    .map((score, slot) => ({ score, slot }))
    .sort((a, b) => b.score - a.score || a.slot - b.slot)
    .slice(0, k)
    .map((e) => e.slot);
}

describe('KnnStore', () => {
  it('finds the exact top-k by inner product, best first', () => {
    const rng = new Rng(1);
    const store = new KnnStore({ dim: 4, capacity: 50 });
    store.add(rows(rng, 37, 4), rows(rng, 37, 4));
    for (let i = 0; i < 5; i++) {
      const q = rows(rng, 1, 4);
      const { slots, scores } = store.search(q, 6);
      expect(Array.from(slots)).toEqual(bruteTopK(store, q, 6));
      for (let j = 1; j < scores.length; j++)
        expect(scores[j - 1]!).toBeGreaterThanOrEqual(scores[j]!);
    }
    expect(store.search(rows(rng, 1, 4), 100).slots.length).toBe(37);
  });

  it('evicts the oldest entries first (FIFO) and stays within capacity', () => {
    const store = new KnnStore({ dim: 1, capacity: 4 });
    const add = (...xs: number[]) => store.add(Float32Array.from(xs), Float32Array.from(xs));
    add(1, 2, 3);
    expect(add(4, 5).evicted).toBe(1);
    const held = () => Array.from(store.order(), (s) => store.keys[s]!);
    expect(held()).toEqual([2, 3, 4, 5]);
    store.search(Float32Array.of(-1), 1); // FIFO: a search changes nothing
    add(6);
    expect(held()).toEqual([3, 4, 5, 6]);
  });

  it('with lru, evicts the entry least recently returned by a search', () => {
    const store = new KnnStore({ dim: 1, capacity: 3, eviction: 'lru' });
    const add = (...xs: number[]) => store.add(Float32Array.from(xs), Float32Array.from(xs));
    add(1, 2, 3);
    store.search(Float32Array.of(-1), 1); // retrieves 1 (largest -1·x): now most recent
    add(4);
    expect(Array.from(store.order(), (s) => store.keys[s]!)).toEqual([3, 1, 4]);
  });

  it('holds at most capacity entries after 10× capacity writes, with bounded bytes', () => {
    const store = new KnnStore({ dim: 2, capacity: 64 });
    // Entry i is (i, 0): 640 writes in 20 batches of 32.
    for (let i = 0; i < 20; i++) {
      const keys = Float32Array.from({ length: 64 }, (_, j) => (j % 2 ? 0 : 32 * i + j / 2));
      store.add(keys, keys);
      expect(store.size).toBe(Math.min(64, 32 * (i + 1)));
    }
    expect(store.bytes).toBe(KnnStore.bytesFor(64, 2));
    // The newest 64 writes are what it holds, oldest first.
    const held = Array.from(store.order(), (s) => store.keys[2 * s]!);
    expect(held).toEqual(Array.from({ length: 64 }, (_, i) => 576 + i));
  });

  it('keeps values with their keys and clones independently', () => {
    const store = new KnnStore({ dim: 2, valueDim: 3, capacity: 8 });
    store.add(Float32Array.of(1, 0, 0, 1), Float32Array.of(1, 2, 3, 4, 5, 6));
    const { slots } = store.search(Float32Array.of(0, 1), 1);
    const [k, v] = [new Float32Array(2), new Float32Array(3)];
    store.gather(slots, k, v);
    expect(Array.from(v)).toEqual([4, 5, 6]);
    const copy = store.clone();
    store.add(Float32Array.of(9, 9), Float32Array.of(0, 0, 0));
    expect(copy.size).toBe(2);
  });

  it('refuses a store of size 0, k <= 0, mismatched widths and a capacity over maxBytes', () => {
    expect(() => new KnnStore({ dim: 4, capacity: 0 })).toThrow(ConfigError);
    expect(() => new KnnStore({ dim: 4, capacity: 0 })).toThrow(
      'KnnStore: options.capacity expected an integer >= 1, got 0',
    );
    const store = new KnnStore({ dim: 4, capacity: 4 });
    store.add(new Float32Array(4), new Float32Array(4));
    expect(() => store.search(new Float32Array(4), 0)).toThrow(ConfigError);
    expect(() => store.search(new Float32Array(3), 1)).toThrow(ShapeError);
    expect(() => store.add(new Float32Array(8), new Float32Array(4))).toThrow(ShapeError);
    expect(() => new KnnStore({ dim: 4, capacity: 1000, maxBytes: 1000 })).toThrow(
      /options.capacity expected at most/,
    );
  });
});

describe('IvfIndex', () => {
  /** Keys around 8 random centres, as attention keys cluster. */
  function clustered(rng: Rng, n: number, d: number): Float32Array {
    const centres = rows(rng, 8, d);
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rng.uniform() * 8);
      for (let j = 0; j < d; j++) out[i * d + j] = 2 * centres[c * d + j]! + 0.5 * rng.normal();
    }
    return out;
  }

  it('with nprobe = nlist equals the exact search', () => {
    const rng = new Rng(3);
    const ivf = new IvfIndex(new KnnStore({ dim: 8, capacity: 256 }), { nlist: 8, nprobe: 8 });
    const exact = new ExactIndex(new KnnStore({ dim: 8, capacity: 256 }));
    for (let i = 0; i < 6; i++) {
      const [k, v] = [clustered(rng, 40, 8), rows(rng, 40, 8)];
      ivf.add(k, v);
      exact.add(k, v);
    }
    expect(ivf.trained).toBe(true);
    for (let i = 0; i < 10; i++) {
      const q = rows(rng, 1, 8);
      expect(Array.from(ivf.search(q, 5).slots)).toEqual(Array.from(exact.search(q, 5).slots));
    }
  });

  it('measures recall@10 against the exact search with 2 of 16 lists probed', () => {
    const rng = new Rng(4);
    const ivf = new IvfIndex(new KnnStore({ dim: 16, capacity: 2048 }), { nlist: 16, nprobe: 2 });
    ivf.add(clustered(rng, 2048, 16), rows(rng, 2048, 16));
    let hits = 0;
    const queries = 50;
    for (let i = 0; i < queries; i++) {
      const q = clustered(rng, 1, 16);
      const truth = new Set(ivf.store.search(q, 10).slots);
      hits += Array.from(ivf.search(q, 10).slots).filter((s) => truth.has(s)).length;
    }
    const recall = hits / (10 * queries);
    // Logged so a change of the index shows in the test output.
    console.log(`IVF recall@10 (nlist 16, nprobe 2, 2048 clustered keys): ${recall.toFixed(3)}`);
    expect(recall).toBeGreaterThan(0.75);
    expect(recall).toBeLessThanOrEqual(1);
  });

  it('keeps its lists right through eviction, and a clone searches alike', () => {
    const rng = new Rng(5);
    const ivf = new IvfIndex(new KnnStore({ dim: 4, capacity: 32 }), { nlist: 4, nprobe: 4 });
    for (let i = 0; i < 10; i++) ivf.add(rows(rng, 10, 4), rows(rng, 10, 4));
    expect(ivf.store.size).toBe(32);
    const copy = ivf.clone();
    for (let i = 0; i < 5; i++) {
      const q = rows(rng, 1, 4);
      const want = Array.from(ivf.store.search(q, 7).slots);
      expect(Array.from(ivf.search(q, 7).slots)).toEqual(want);
      expect(Array.from(copy.search(q, 7).slots)).toEqual(want);
    }
  });

  it('refuses nprobe > nlist and nlist over capacity', () => {
    const store = new KnnStore({ dim: 4, capacity: 8 });
    expect(() => new IvfIndex(store, { nlist: 4, nprobe: 5 })).toThrow(ConfigError);
    expect(() => new IvfIndex(store, { nlist: 9, nprobe: 1 })).toThrow(ConfigError);
  });
});
