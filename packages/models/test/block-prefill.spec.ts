import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import {
  BlockKVStore,
  blockKey,
  generateBlocks,
  prefillBlocks,
  type DecoderLM,
} from '@attnkit/models';
import { tinyLm } from './helpers';
import { describeWithBlocks } from './blocks-ready';

// Block-Attention for RAG (Sun et al. 2024): passages encoded once at 0, moved, reused.

/** Logits of one full forward with the block mask: every row [time][vocab]. */
function fullLogits(model: DecoderLM, blocks: number[][], extra: number[] = []): number[][] {
  const ids = [...blocks.flat(), ...extra];
  const last = blocks.length - 1;
  const segments = blocks.flatMap((b, i) => b.map(() => i)).concat(extra.map(() => last));
  return tf.tidy(() => {
    const logits = model.forward(tf.tensor2d([ids], [1, ids.length], 'int32'), {
      segmentIds: tf.tensor2d([segments], [1, ids.length], 'int32'),
      blockAttention: true,
    });
    return (logits.arraySync() as number[][][])[0]!;
  });
}

const diff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));

describeWithBlocks('prefillBlocks (Block-Attention)', () => {
  let model: DecoderLM;
  beforeAll(() => {
    model = tinyLm({ maxLength: 24 }, 5);
  });
  afterAll(() => model.dispose());

  const a = [1, 2, 3, 4];
  const b = [5, 6, 7];
  const query = [8, 9];

  it('equals a full forward with the block mask, then decodes cached == full (<= 1e-4)', async () => {
    const blocks = [a, b, query];
    const { state, logits, reused, length } = await prefillBlocks(model, blocks);
    expect(reused).toEqual([false, false]);
    expect(length).toBe(9);
    const full = fullLogits(model, blocks, [10, 3, 4]);
    expect(diff(logits, full[8]!)).toBeLessThanOrEqual(1e-4);
    // Without the block mask the query sees the same tokens but the passages see each other.
    const plain = tf.tidy(() => {
      const ids = tf.tensor2d([blocks.flat()], [1, 9], 'int32');
      return (model.forward(ids).arraySync() as number[][][])[0]![8]!;
    });
    expect(diff(logits, plain)).toBeGreaterThan(1e-3);
    for (const [i, token] of [10, 3, 4].entries()) {
      const step = tf.tidy(() => {
        const out = model.forward(tf.tensor2d([[token]], [1, 1], 'int32'), { state });
        return (out.arraySync() as number[][][])[0]![0]!;
      });
      expect(diff(step, full[9 + i]!)).toBeLessThanOrEqual(1e-4);
    }
    state.dispose();
  });

  it('with a bias encoding (ALiBi) the keys keep their values and only move positions', async () => {
    const alibi = tinyLm({ maxLength: 24, positional: { type: 'alibi', numHeads: 2 } }, 7);
    const store = new BlockKVStore({ maxBytes: 1 << 20 });
    (await prefillBlocks(alibi, [a, b, query], { store })).state.dispose();
    const swapped = [b, a, query];
    const reused = await prefillBlocks(alibi, swapped, { store });
    expect(reused.reused).toEqual([true, true]);
    expect(diff(reused.logits, fullLogits(alibi, swapped)[8]!)).toBeLessThanOrEqual(1e-4);
    reused.state.dispose();
    store.dispose();
    alibi.dispose();
  });

  it('reuses stored blocks at new offsets: same logits as encoding them fresh', async () => {
    const store = new BlockKVStore({ maxBytes: 1 << 20 });
    const first = await prefillBlocks(model, [a, b, query], { store });
    expect(first.reused).toEqual([false, false]);
    first.state.dispose();
    // The same passages in the other order: both hits, each moved to a different offset.
    const swapped = [b, a, [9, 8]];
    const again = await prefillBlocks(model, swapped, { store });
    expect(again.reused).toEqual([true, true]);
    expect(store.hits).toBe(2);
    const fresh = await prefillBlocks(model, swapped);
    expect(diff(again.logits, fresh.logits)).toBeLessThanOrEqual(1e-5);
    expect(diff(again.logits, fullLogits(model, swapped)[8]!)).toBeLessThanOrEqual(1e-4);
    [again, fresh].forEach((p) => p.state.dispose());
    store.dispose();
    expect(store.bytes).toBe(0);
  });

  it('bounds the store in bytes, least recently used first, and misses on new weights', async () => {
    const probe = new BlockKVStore({ maxBytes: 1 << 20 });
    (await prefillBlocks(model, [a, query], { store: probe })).state.dispose();
    const perToken = probe.bytes / a.length; // 2 layers × (keys + values)
    probe.dispose();
    // Room for 7 tokens of passages: a (4) and b (3), not a third block as well.
    const store = new BlockKVStore({ maxBytes: perToken * 7 });
    (await prefillBlocks(model, [a, b, query], { store })).state.dispose();
    expect(store.size).toBe(2);
    expect(store.bytes).toBe(perToken * 7);
    (await prefillBlocks(model, [[2, 2], query], { store })).state.dispose();
    expect(store.bytes).toBeLessThanOrEqual(store.maxBytes);
    // a was least recently used: evicted; b stayed.
    const check = await prefillBlocks(model, [b, a, query], { store });
    expect(check.reused).toEqual([true, false]);
    check.state.dispose();
    // A block alone over the bound is used, not stored.
    const tiny = new BlockKVStore({ maxBytes: perToken });
    const over = await prefillBlocks(model, [a, query], { store: tiny });
    expect(tiny.size).toBe(0);
    over.state.dispose();
    // Another model (other weights) with the same ids is a miss, not stale keys.
    const other = tinyLm({ maxLength: 24 }, 6);
    const miss = await prefillBlocks(other, [b, query], { store });
    expect(miss.reused).toEqual([false]);
    miss.state.dispose();
    other.dispose();
    store.dispose();
    expect(blockKey([1, 2])).not.toBe(blockKey([2, 1]));
  });

  it('leaks nothing (with and without a store) and generates from the cache', async () => {
    const store = new BlockKVStore({ maxBytes: 1 << 20 });
    await expectNoLeaks(async () => {
      (await prefillBlocks(model, [a, b, query], { store })).state.dispose();
      (await prefillBlocks(model, [b, a, query])).state.dispose();
      await generateBlocks(model, [a, b, query], { maxTokens: 3, temperature: 0, store });
      store.clear();
    });
    // Greedy generation follows the full forward's argmax.
    const tokens = await generateBlocks(model, [a, b, query], { maxTokens: 3, temperature: 0 });
    const full = fullLogits(model, [a, b, query], tokens.slice(0, 2));
    const argmax = (row: number[]) => row.indexOf(Math.max(...row));
    expect(tokens).toEqual([argmax(full[8]!), argmax(full[9]!), argmax(full[10]!)]);
    store.dispose();
  });

  it('refuses bad input with typed errors before computing', async () => {
    const store = new BlockKVStore({ maxBytes: 1024 });
    // The model runs in eval mode and gets its training flag back, also after a failure.
    model.train();
    (await prefillBlocks(model, [a, query])).state.dispose();
    await expect(generateBlocks(model, [a, [99]], { maxTokens: 1 })).rejects.toThrow(ConfigError);
    expect(model.training).toBe(true);
    model.eval();
    const long = Array.from({ length: 25 }, () => 1);
    await expect(prefillBlocks(model, [])).rejects.toThrow(ConfigError);
    await expect(prefillBlocks(model, [a, [], query])).rejects.toThrow(/blocks\[1\]/);
    await expect(prefillBlocks(model, [long, query])).rejects.toThrow(/blocks\[0\].*maxLength=24/);
    await expect(prefillBlocks(model, [a, a, a, a, a, a, a])).rejects.toThrow(/in all/);
    await expect(prefillBlocks(model, [[1, 99]])).rejects.toThrow(/token/);
    await expect(prefillBlocks(model, [a], { store: {} as BlockKVStore })).rejects.toThrow(
      /options.store/,
    );
    expect(() => new BlockKVStore({ maxBytes: 0 })).toThrow(ConfigError);
    const embed = tinyLm({ positional: { type: 'sinusoidal' } });
    await expect(prefillBlocks(embed, [a, query])).rejects.toThrow(/model.positional/);
    embed.dispose();
    const windowed = tinyLm({
      block: {
        mixer: { type: 'sliding-window', numHeads: 2, window: 4 },
        feedForward: { type: 'swiglu', hiddenDim: 16 },
        norm: { type: 'rms-norm' },
      },
    });
    await expect(prefillBlocks(windowed, [a, query])).rejects.toThrow(/layers\[0\]/);
    windowed.dispose();
    store.dispose();
  });
});

describe('packages/models/README.md, Block-Attention prefill', () => {
  it('runs the example as written: the second query reuses both passages', async () => {
    const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
    const readme = require('node:path').join(__dirname, '../README.md');
    const lines = (await runDocExample(readme, 2, require)) as string[];
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => l.split(' '));
    expect(first![0]).toBe('false,false');
    expect(second![0]).toBe('true,true');
    expect(Number(first![2])).toBeGreaterThan(0);
    expect(second![2]).toBe(first![2]);
  });
});
