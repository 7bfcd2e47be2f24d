import { ConfigError, ShapeError, checkInt } from '@attnkit/core';
import { KnnStore } from './store';
import { TopK, dotRow } from './topk';

const BLOCK = 'InfiniteRetrieval';

/**
 * Infinite Retrieval's token importance (Ye et al. 2025, "Infinite Retrieval: Attention
 * Enhanced LLMs in Long-Context Processing", sec. 3.2-3.3): the attention the question's
 * queries pay to each context token, summed over queries (and heads), then summed over a
 * window of `phraseWindow` neighbours (their 1-D convolution with a kernel of ones, which
 * scores phrases rather than single tokens). `weights` is [rows, n] row-major: one row per
 * (head, query). Returns [n].
 */
export function attentionImportance(
  weights: Float32Array,
  n: number,
  phraseWindow = 1,
): Float32Array {
  checkInt(BLOCK, 'phraseWindow', phraseWindow, 1);
  if (n <= 0 || weights.length % n !== 0) {
    throw new ShapeError(BLOCK, 'weights', `rows of n=${n} tokens`, `${weights.length} floats`);
  }
  const column = new Float64Array(n);
  for (let r = 0; r < weights.length / n; r++) {
    for (let j = 0; j < n; j++) column[j]! += weights[r * n + j]!;
  }
  const half = Math.floor((phraseWindow - 1) / 2);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = j - half; i < j - half + phraseWindow; i++) if (i >= 0 && i < n) s += column[i]!;
    out[j] = s;
  }
  return out;
}

/**
 * The tokens to keep (ascending indices): the `topK` most important, each widened to its
 * whole span (sentence) when `spans` [n] gives a span id per token (InfiniRetri keeps the
 * sentences that hold the top tokens, sec. 3.3), at most `limit` tokens: spans are taken in
 * the order of their best token and one that no longer fits is skipped (our choice).
 */
export function selectImportant(
  importance: Float32Array,
  topK: number,
  options: { spans?: Int32Array; limit?: number } = {},
): number[] {
  const n = importance.length;
  checkInt(BLOCK, 'topK', topK, 1);
  const { spans, limit = Infinity } = options;
  if (spans && spans.length !== n) {
    throw new ShapeError(BLOCK, 'options.spans', `${n} span ids`, `${spans.length}`);
  }
  const top = new TopK(Math.min(topK, n));
  importance.forEach((s, j) => top.push(j, s));
  const members = new Map<number, number[]>();
  if (spans) spans.forEach((id, j) => members.set(id, [...(members.get(id) ?? []), j]));
  const kept = new Set<number>();
  for (const j of top.result().ids) {
    const group = spans ? members.get(spans[j]!)! : [j];
    if (group.every((i) => kept.has(i))) continue;
    const fresh = group.filter((i) => !kept.has(i));
    if (kept.size + fresh.length > limit) continue;
    for (const i of fresh) kept.add(i);
  }
  return [...kept].sort((a, b) => a - b);
}

export interface InfiniteRetrievalOptions {
  /** Width of a key (the question's queries have it too). */
  dim: number;
  valueDim?: number;
  /** Most tokens kept between chunks. */
  capacity: number;
  /** Tokens selected per chunk before widening to their spans. */
  topK: number;
  /** Window of the phrase-level importance (default 1: single tokens). */
  phraseWindow?: number;
}

/**
 * InfiniRetri's cache over an unbounded input (Ye et al. 2025, sec. 3, Algorithm 1): the input
 * arrives in chunks; each chunk is read together with the tokens kept so far, the question's
 * queries attend to all of them (softmax of q·k/√d, one head of the caller's choice or
 * several rows), and only the tokens (or sentences) they attend most survive to the next
 * chunk, at most `capacity`. The paper keeps token ids and recomputes their states; we keep
 * the keys and values themselves, with their positions, in a KnnStore (our choice: no
 * re-encoding, so it works on any layer's keys). `step` returns the kept positions.
 */
export class InfiniteRetrievalCache {
  readonly store: KnnStore;
  readonly topK: number;
  readonly phraseWindow: number;
  private kept: number[] = [];
  private keptSpans: number[] = [];

  constructor(options: InfiniteRetrievalOptions) {
    this.store = new KnnStore({ ...options, eviction: 'fifo' });
    this.topK = checkInt(BLOCK, 'options.topK', options.topK, 1);
    this.phraseWindow = checkInt(BLOCK, 'options.phraseWindow', options.phraseWindow ?? 1, 1);
  }

  /** Positions of the kept tokens, ascending. */
  get positions(): readonly number[] {
    return this.kept;
  }

  /**
   * Reads one chunk: keys [n, dim], values [n, valueDim], their absolute positions and
   * optional span ids (sentence numbers, unique over the whole input; give them for every
   * chunk or for none), and the question's queries [q, dim]; keeps the most attended tokens.
   */
  step(
    chunk: { keys: Float32Array; values: Float32Array; positions: number[]; spans?: number[] },
    queries: Float32Array,
  ): readonly number[] {
    const { dim, valueDim, size } = this.store;
    const n = chunk.positions.length;
    if (chunk.keys.length !== n * dim || chunk.values.length !== n * valueDim) {
      const want = `${n} keys of ${dim} and values of ${valueDim} floats (one per position)`;
      throw new ShapeError(BLOCK, 'chunk', want, `${chunk.keys.length} and ${chunk.values.length}`);
    }
    if (queries.length === 0 || queries.length % dim !== 0) {
      throw new ShapeError(BLOCK, 'queries', `rows of dim=${dim}`, `${queries.length} floats`);
    }
    if (chunk.spans && chunk.spans.length !== n) {
      throw new ConfigError(BLOCK, 'chunk.spans', `${n} span ids`, `${chunk.spans.length}`);
    }
    // Candidates: what was kept, in position order, then the chunk.
    const total = size + n;
    const keys = new Float32Array(total * dim);
    const values = new Float32Array(total * valueDim);
    keys.set(this.store.keys);
    keys.set(chunk.keys, size * dim);
    values.set(this.store.values);
    values.set(chunk.values, size * valueDim);
    const positions = [...this.kept, ...chunk.positions];
    // Span ids: kept tokens keep theirs; without spans a token is its own span (its position).
    const spans = Int32Array.from([...this.keptSpans, ...(chunk.spans ?? chunk.positions)]);
    const rows = queries.length / dim;
    const weights = new Float32Array(rows * total);
    const scale = 1 / Math.sqrt(dim);
    for (let r = 0; r < rows; r++) {
      const q = queries.subarray(r * dim, (r + 1) * dim);
      let max = -Infinity;
      for (let j = 0; j < total; j++) {
        const l = dotRow(q, keys, j, dim) * scale;
        weights[r * total + j] = l;
        if (l > max) max = l;
      }
      let sum = 0;
      for (let j = 0; j < total; j++)
        sum += weights[r * total + j] = Math.exp(weights[r * total + j]! - max);
      for (let j = 0; j < total; j++) weights[r * total + j]! /= sum;
    }
    const importance = attentionImportance(weights, total, this.phraseWindow);
    const keep = selectImportant(importance, this.topK, { spans, limit: this.store.capacity });
    this.store.clear();
    const pick = <T extends Float32Array>(src: T, w: number) => {
      const out = new Float32Array(keep.length * w);
      keep.forEach((j, i) => out.set(src.subarray(j * w, (j + 1) * w), i * w));
      return out;
    };
    this.store.add(pick(keys, dim), pick(values, valueDim));
    this.kept = keep.map((j) => positions[j]!);
    this.keptSpans = keep.map((j) => spans[j]!);
    return this.kept;
  }
}
