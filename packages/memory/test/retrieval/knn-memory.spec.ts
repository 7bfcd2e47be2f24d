import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, StateDictError, build, estimateConfig } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { scaledDotProductAttention } from '@attnkit/attention';
import {
  KnnStore,
  RetrievalMemoryAttention,
  RetrievalMemoryState,
  retrievedAttention,
} from '../../src';

interface Case {
  name: string;
  config: { type: string } & Record<string, unknown>;
  weights: Record<string, number[]>;
  memoryKeys: number[];
  memoryValues: number[];
  memoryShape: [number, number, number, number];
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/retrieval.json'), 'utf8'),
) as { cases: Case[] };

const make = (config: object) => build<RetrievalMemoryAttention>(config as { type: string });
const small = {
  type: 'knn-memory',
  dModel: 8,
  numHeads: 2,
  segmentLength: 3,
  topK: 2,
  capacity: 6,
};

/** A state whose memories hold the fixture's fixed content. */
function filledState(m: RetrievalMemoryAttention, c: Case): RetrievalMemoryState {
  const [b, h, n, d] = c.memoryShape;
  const state = m.initState(b);
  for (let row = 0; row < b * h; row++) {
    const slice = (a: number[]) => Float32Array.from(a.slice(row * n * d, (row + 1) * n * d));
    state.all[row]!.add(slice(c.memoryKeys), slice(c.memoryValues));
  }
  return state;
}

describe('knn-memory and retrieval-attention: golden values', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch script, with a fixed memory',
    (_name, c) => {
      const m = make(c.config);
      const d = c.shape[2];
      m.loadStateDict(
        Object.fromEntries(
          Object.entries(c.weights).map(([n, w]) => [
            n,
            n === 'gate' ? tf.tensor1d(w) : tf.tensor2d(w, [d, d]),
          ]),
        ),
      );
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      const state = filledState(m, c);
      expectClose(m.forward(x, { state }), tf.tensor3d(c.y, c.shape), { atol: 1e-4 });
      state.dispose();
      const fresh = filledState(m, c);
      const g = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(m.forward(input as tf.Tensor3D, { state: fresh }), probe)),
      )(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 1e-4 });
      fresh.dispose();
      m.dispose();
    },
  );
});

describe('knn-memory', () => {
  it('trains on an input of one segment (T <= segmentLength): finite input gradient', () => {
    const m = make(small);
    try {
      for (const t of [2, 3]) {
        tf.tidy(() => {
          const x = tf.randomNormal([1, t, 8], 0, 1, 'float32', t);
          const g = tf.grad((y: tf.Tensor) => tf.sum(m.forward(y as tf.Tensor3D)))(x);
          expect(g.shape).toEqual([1, t, 8]);
          expect(tf.all(tf.isFinite(g)).dataSync()[0]).toBe(1);
          expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
        });
      }
    } finally {
      m.dispose();
    }
  });

  it('retrieving every entry equals dense attention over the memory', () => {
    tf.engine().startScope();
    const store = new KnnStore({ dim: 4, capacity: 16 });
    const keys = tf.randomNormal([11, 4], 0, 1, 'float32', 1);
    const values = tf.randomNormal([11, 4], 0, 1, 'float32', 2);
    store.add(keys.dataSync() as Float32Array, values.dataSync() as Float32Array);
    const q = tf.randomNormal([1, 1, 3, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const qd = q.dataSync() as Float32Array;
    const [rk, rv] = [new Float32Array(3 * 11 * 4), new Float32Array(3 * 11 * 4)];
    for (let i = 0; i < 3; i++) {
      store.gather(store.search(qd.subarray(4 * i, 4 * i + 4), 11).slots, rk, rv, 11 * i);
    }
    const part = retrievedAttention(
      q,
      tf.tensor5d(rk, [1, 1, 3, 11, 4]),
      tf.tensor5d(rv, [1, 1, 3, 11, 4]),
    );
    const dense = scaledDotProductAttention(
      q,
      tf.reshape(keys, [1, 1, 11, 4]) as tf.Tensor4D,
      tf.reshape(values, [1, 1, 11, 4]) as tf.Tensor4D,
      { returnLogSumExp: true },
    );
    expectClose(part.output, dense.output, { atol: 1e-4 });
    expectClose(part.logSumExp, dense.logSumExp!, { atol: 1e-4 });
    tf.engine().endScope();
  });

  it('keeps its memory bounded: 10× capacity tokens decoded leave capacity entries per head', () => {
    const m = make({ ...small, capacity: 4, segmentLength: 2 });
    const state = m.initState(1);
    const x = tf.randomNormal([1, 40, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    for (let i = 0; i < 40; i += 5) {
      tf.tidy(() => {
        m.forward(tf.slice(x, [0, i, 0], [1, 5, 8]) as tf.Tensor3D, { state });
      });
    }
    expect(state.length).toBe(40);
    for (const memory of state.all) expect(memory.store.size).toBe(4);
    // The XL cache: the last segment (2 tokens) and the current one's (0 after 40 tokens).
    const local = Object.values(state.tensors());
    expect(local.map((t) => t.shape[2])).toEqual([2, 2]);
    const localBytes = local.reduce((n, t) => n + 4 * t.size, 0);
    expect(state.bytes).toBe(2 * KnnStore.bytesFor(4, 4) + localBytes);
    state.dispose();
    m.dispose();
  });

  it('with lru, a saved and restored state decodes on identically (memory included)', async () => {
    for (const config of [
      { ...small, eviction: 'lru' },
      { ...small, type: 'retrieval-attention', nlist: 2, nprobe: 1 },
    ]) {
      const m = make(config);
      const x = tf.randomNormal([2, 14, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const [head, tail] = tf.split(x, [10, 4], 1) as tf.Tensor3D[];
      const state = m.initState(2);
      m.forward(head!, { state }).dispose();
      expect(state.all[0]!.store.size).toBe(6);
      const copy = m.initState(2);
      copy.restore(await state.save());
      expect(Object.keys(state.tensors()).sort()).toEqual(['keys', 'values']);
      expect(copy.bytes).toBe(state.bytes);
      expectClose(m.forward(tail!, { state: copy }), m.forward(tail!, { state }), { atol: 1e-6 });
      [state, copy, m].forEach((s) => s.dispose());
    }
  });

  it('refuses to restore memories of another width with a typed error', async () => {
    const [a, b] = [make(small), make({ ...small, dModel: 16 })];
    const state = a.initState(1);
    a.forward(tf.randomNormal([1, 4, 8], 0, 1, 'float32', 7) as tf.Tensor3D, { state }).dispose();
    const other = b.initState(1);
    const saved = await state.save();
    expect(() => other.restore(saved)).toThrow(StateDictError);
    expect(() => other.restore(saved)).toThrow(
      /bytes.memory.keys expected float32 \[batch, 2, 3, 8\]/,
    );
    [state, other, a, b].forEach((x) => x.dispose());
  });

  it('leaks no tensor over forward, decoding, save/restore and dispose', async () => {
    const m = make(small);
    const x = tf.randomNormal([1, 8, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
    await expectNoLeaks(async () => {
      m.forward(x).dispose();
      const state = m.initState(1);
      for (let i = 0; i < 8; i++) {
        tf.tidy(() => {
          m.forward(tf.slice(x, [0, i, 0], [1, 1, 8]) as tf.Tensor3D, { state });
        });
      }
      const copy = m.initState(1);
      copy.restore(await state.save());
      copy.reorder([0, 0]);
      state.dispose();
      copy.dispose();
    });
    m.dispose();
  });

  it('refuses bad configs and inputs with typed one-line errors', () => {
    expect(() => make({ ...small, capacity: 0 })).toThrow(ConfigError);
    expect(() => make({ ...small, capacity: 0 })).toThrow(/capacity/);
    expect(() => make({ ...small, topK: 0 })).toThrow(/topK/);
    expect(() => make({ ...small, segmentLength: 0 })).toThrow(/segmentLength/);
    expect(() => make({ ...small, index: 'ivf' })).toThrow(/nlist/);
    expect(() => make({ ...small, index: 'ivf', nlist: 4, nprobe: 5 })).toThrow(/nprobe/);
    expect(() => make({ ...small, index: 'ivf', nlist: 7, nprobe: 1 })).toThrow(/nlist/);
    const tiny = make({ ...small, maxMemoryBytes: 100 });
    expect(() => tiny.initState(2)).toThrow(ConfigError);
    expect(() => tiny.initState(2)).toThrow(/^knn-memory: capacity expected memories of at most/);
    tiny.dispose();
    const m = make(small);
    expect(() => m.forward(tf.zeros([1, 3, 9]) as tf.Tensor3D)).toThrow(ShapeError);
    const two = m.initState(2);
    expect(() => m.forward(tf.zeros([1, 3, 8]) as tf.Tensor3D, { state: two })).toThrow(
      /knn-memory: x expected batch 2 \(the state's\)/,
    );
    two.dispose();
    expect(() => m.forward(tf.zeros([1, 0, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    const gap = { positions: tf.tensor1d([0, 2, 3], 'int32') };
    expect(() => m.forward(tf.zeros([1, 3, 8]) as tf.Tensor3D, gap)).toThrow(
      'knn-memory: context.positions expected consecutive positions (continuing the cache at 0), got 0 then 2',
    );
    m.dispose();
  });

  it('estimates its parameters without building', () => {
    for (const config of [small, { ...small, type: 'retrieval-attention', nlist: 2, nprobe: 1 }]) {
      const m = make(config);
      expect(estimateConfig(config as { type: string })?.parameters).toBe(m.numParams());
      m.dispose();
    }
  });
});
